"""Agreement, distribution shift and the largest disagreements of two models' outputs
on the same rows."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from nb2svc.compare.model import (
    CompareReport,
    Disagreement,
    FieldAgreement,
    FieldShift,
    Tolerance,
)

#: Quantile bins of A's values for a numeric field's PSI (fewer when values repeat).
PSI_BINS = 10
#: The share an empty bin counts as, so PSI stays finite.
PSI_FLOOR = 1e-4


def fields_of(output: Any) -> dict[str, Any]:
    """A row's output as named fields: a JSON object's members, else one ``value``."""
    if isinstance(output, Mapping):
        return {str(k): v for k, v in output.items()}
    return {"value": output}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _close(a: Any, b: Any, tolerance: Tolerance) -> bool:
    if _is_number(a) and _is_number(b):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return bool(abs(a - b) <= tolerance.atol + tolerance.rtol * abs(a))
    return bool(a == b)


def _floats(values: Sequence[Any]) -> list[float]:
    return [float(v) if _is_number(v) else math.nan for v in values]


def _kind(values: Sequence[Any]) -> Literal["numeric", "categorical"]:
    present = [v for v in values if v is not None]
    return "numeric" if present and all(map(_is_number, present)) else "categorical"


def _psi(expected: Any, actual: Any) -> float:
    e = np.maximum(np.asarray(expected, dtype=float), PSI_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_shift(name: str, a: np.ndarray, b: np.ndarray) -> FieldShift:
    from scipy.stats import ks_2samp

    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return FieldShift(name, "numeric", 0.0, None, None, None, None)
    edges = np.unique(np.quantile(a, np.linspace(0, 1, PSI_BINS + 1)))
    inner = edges[1:-1]
    share_a = np.bincount(
        np.searchsorted(inner, a, side="right"), minlength=len(edges) - 1 or 1
    )
    share_b = np.bincount(
        np.searchsorted(inner, b, side="right"), minlength=len(share_a)
    )
    psi = _psi(share_a / len(a), share_b / len(b))
    ks = ks_2samp(a, b)
    return FieldShift(
        name,
        "numeric",
        psi,
        float(ks.statistic),
        float(ks.pvalue),
        float(a.mean()),
        float(b.mean()),
    )


def _categorical_shift(name: str, a: list[str], b: list[str]) -> FieldShift:
    count_a, count_b = Counter(a), Counter(b)
    labels = sorted(set(count_a) | set(count_b))
    shares = tuple(
        (label, count_a[label] / len(a), count_b[label] / len(b)) for label in labels
    )
    psi = _psi([s[1] for s in shares], [s[2] for s in shares])
    return FieldShift(name, "categorical", psi, None, None, None, None, shares)


def _agreement(
    name: str,
    kind: Literal["numeric", "categorical"],
    a: list[Any],
    b: list[Any],
    tolerance: Tolerance,
) -> FieldAgreement:
    exact = sum(1 for x, y in zip(a, b, strict=True) if x == y)
    within = sum(1 for x, y in zip(a, b, strict=True) if _close(x, y, tolerance))
    if kind != "numeric":
        return FieldAgreement(name, kind, len(a), exact, within, None, None)
    diffs = [
        abs(x - y) for x, y in zip(a, b, strict=True) if _is_number(x) and _is_number(y)
    ]
    finite = [d for d in diffs if math.isfinite(d)]
    return FieldAgreement(
        name,
        kind,
        len(a),
        exact,
        within,
        max(finite) if finite else None,
        sum(finite) / len(finite) if finite else None,
    )


def compare_outputs(
    inputs: Sequence[Any],
    outputs_a: Sequence[Any],
    outputs_b: Sequence[Any],
    *,
    names: tuple[str, str, str],
    tolerance: Tolerance,
    top: int = 10,
    max_disagreement: float = 0.0,
) -> CompareReport:
    """``names``: (A, B, data file) as the report shows them."""
    rows_a = [fields_of(o) for o in outputs_a]
    rows_b = [fields_of(o) for o in outputs_b]
    fields = sorted({k for row in (*rows_a, *rows_b) for k in row})
    agreement: list[FieldAgreement] = []
    shift: list[FieldShift] = []
    kinds: dict[str, Literal["numeric", "categorical"]] = {}
    values: dict[str, tuple[list[float], list[float]]] = {}
    for name in fields:
        a = [row.get(name) for row in rows_a]
        b = [row.get(name) for row in rows_b]
        kind = kinds[name] = _kind(a + b)
        agreement.append(_agreement(name, kind, a, b, tolerance))
        if kind == "numeric":
            values[name] = (_floats(a), _floats(b))
            shift.append(
                _numeric_shift(
                    name, np.asarray(values[name][0]), np.asarray(values[name][1])
                )
            )
        else:
            shift.append(
                _categorical_shift(name, list(map(_label, a)), list(map(_label, b)))
            )
    found = _disagreements(
        inputs, outputs_a, outputs_b, (rows_a, rows_b), fields, kinds, tolerance
    )
    largest = sorted(found, key=lambda d: (-d.score, d.row))[:top]
    return CompareReport(
        names[0],
        names[1],
        names[2],
        len(inputs),
        tolerance,
        max_disagreement,
        tuple(agreement),
        tuple(shift),
        tuple(largest),
        len(found),
        values,
    )


def _disagreements(
    inputs: Sequence[Any],
    outputs_a: Sequence[Any],
    outputs_b: Sequence[Any],
    rows: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    fields: list[str],
    kinds: dict[str, Literal["numeric", "categorical"]],
    tolerance: Tolerance,
) -> list[Disagreement]:
    """Every row where a field differs beyond the tolerance, with its score: the
    largest numeric difference, or infinity for a changed label."""
    found: list[Disagreement] = []
    for index, (ra, rb) in enumerate(zip(*rows, strict=True)):
        differing = tuple(
            f for f in fields if not _close(ra.get(f), rb.get(f), tolerance)
        )
        if not differing:
            continue
        score = 0.0
        for f in differing:
            x: Any = ra.get(f)
            y: Any = rb.get(f)
            numeric = kinds[f] == "numeric" and _is_number(x) and _is_number(y)
            score = max(score, abs(float(x) - float(y)) if numeric else math.inf)
        found.append(
            Disagreement(
                index + 1,
                inputs[index],
                outputs_a[index],
                outputs_b[index],
                differing,
                score,
            )
        )
    return found
