"""pandas' private DataFrame._from_arrays against its public constructor, per request.

Decides design section 4.3: the public constructor, given the labels, the index and
copy=False, is used unless it costs more than 20 µs per one-row request.

    python runtime/benchmarks/frames.py
"""

from __future__ import annotations

import timeit
from typing import Any

import numpy as np
import pandas as pd

DTYPES = {
    "amount": "float64",
    "count": "int64",
    "flag": "bool",
    "merchant": "category",
    "country": "str",
    "when": "datetime64[ns]",
    "score": "Int64",
}
VALUES: dict[str, Any] = {
    "amount": 12.5,
    "count": 3,
    "flag": True,
    "merchant": "grocery",
    "country": "FR",
    "when": "2026-01-02T03:04:05",
    "score": None,
}
NUMPY = {"float64", "int64", "bool"}


def arrays(rows: int) -> list[Any]:
    out = []
    for name, dtype in DTYPES.items():
        values = [VALUES[name]] * rows
        resolved = pd.api.types.pandas_dtype(dtype)
        out.append(
            np.array(values, dtype=resolved)
            if dtype in NUMPY
            else pd.array(values, dtype=resolved)
        )
    return out


LABELS = pd.Index(list(DTYPES))


def private(cols: list[Any], rows: int) -> pd.DataFrame:
    return pd.DataFrame._from_arrays(  # the candidate for removal
        cols, columns=LABELS, index=pd.RangeIndex(rows), verify_integrity=True
    )


def public(cols: list[Any], rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        dict(zip(LABELS, cols, strict=True)),
        index=pd.RangeIndex(rows),
        columns=LABELS,
        copy=False,
    )


def main() -> None:
    for rows in (1, 1000):
        cols = arrays(rows)
        pd.testing.assert_frame_equal(private(cols, rows), public(cols, rows))
        for name, build in (("_from_arrays", private), ("public", public)):
            number = 2000 if rows == 1 else 500
            best = min(
                timeit.repeat(
                    lambda b=build, c=cols, n=rows: b(c, n), number=number, repeat=5
                )
            )
            print(f"{rows:>5} rows  {name:<13} {best / number * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
