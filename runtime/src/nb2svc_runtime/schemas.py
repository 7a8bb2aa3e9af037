"""Helpers of a generated ``schemas.py``: integer types, and the request-to-input step.

``to_raw`` turns a validated request body into the form the notebook's preprocess
received: a DataFrame of the notebook's dtypes (``frame_builder``), a plain dict
(``record_builder``), a numpy array (``array_builder``) or the body itself
(``identity``). Each builder resolves what it can once, so a request pays only for
its own values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeAlias, get_args

from pydantic import BaseModel, BeforeValidator, Field


def _integral(value: Any) -> Any:
    """2.0 is an integer in JSON Schema, so it is one here too (requests are strict)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Integer: TypeAlias = Annotated[int, BeforeValidator(_integral)]
#: Integer columns become int64, and JSON integers are exact only up to 2**53 - 1
#: (I-JSON, RFC 7493): outside that range a value is refused with a 422.
JsonSafeInteger: TypeAlias = Annotated[
    int, Field(ge=-(2**53 - 1), le=2**53 - 1), BeforeValidator(_integral)
]

_NUMPY_DTYPES = frozenset(
    {"bool", "float32", "float64", "int8", "int16", "int32", "int64"}
)


def frame_builder(
    request: Any, dtypes: Mapping[str, str]
) -> Callable[[Sequence[BaseModel]], Any]:
    """``to_raw`` for a table: rows (models of ``request``'s item type) become a
    DataFrame with ``dtypes``' columns, in the model's field order.

    A numeric column's values go straight into numpy; pandas parses the others'
    (dates in any form it reads, categories, nullable integers, strings). The frame
    is built from its column arrays with the labels and the index given, so pandas
    infers neither (runtime/benchmarks/frames.py measures that against
    ``DataFrame(rows).astype(dtypes)``).
    """
    import numpy as np
    import pandas as pd

    row: type[BaseModel] = get_args(request)[0]
    fields = [
        (name, name if field.alias is None else field.alias)
        for name, field in row.model_fields.items()
    ]
    columns = [
        (
            attribute,
            pd.api.types.pandas_dtype(dtypes[label]),
            dtypes[label] in _NUMPY_DTYPES,
        )
        for attribute, label in fields
    ]
    labels = pd.Index([label for _, label in fields])

    def to_raw(body: Sequence[BaseModel]) -> Any:
        arrays: dict[Any, Any] = {}
        for (attribute, dtype, numeric), label in zip(columns, labels, strict=True):
            values = [getattr(item, attribute) for item in body]
            arrays[label] = (
                np.array(values, dtype=dtype)
                if numeric
                else pd.array(values, dtype=dtype)
            )
        return pd.DataFrame(
            arrays, index=pd.RangeIndex(len(body)), columns=labels, copy=False
        )

    return to_raw


def record_builder() -> Callable[[BaseModel], dict[str, Any]]:
    """``to_raw`` for a record: the model as a dict keyed by the notebook's names."""

    def to_raw(body: BaseModel) -> dict[str, Any]:
        return body.model_dump(by_alias=True)

    return to_raw


def array_builder(dtype: str) -> Callable[[Any], Any]:
    """``to_raw`` for an array: the notebook's example was a numpy array of ``dtype``."""
    import numpy as np

    resolved = np.dtype(dtype)

    def to_raw(body: Any) -> Any:
        return np.asarray(body, dtype=resolved)

    return to_raw


def identity(body: Any) -> Any:
    """``to_raw`` for strings and JSON: the body as it is."""
    return body
