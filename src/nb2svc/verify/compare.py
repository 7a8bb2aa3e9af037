"""Structure-aware comparison of the notebook's outputs with the service's.

Both sides are JSON values (the notebook's outputs pass through the same
``to_jsonable`` the service uses). Strings, integers, booleans and null must match
exactly and keep their JSON type; floats match within a relative and an absolute
tolerance, and NaN equals NaN (and null, which is what JSON makes of NaN). Objects
must have the same keys (their order does not matter), arrays the same length.

Where the notebook's native output was a numpy array, a pandas frame or series, the
notebook side also describes it (``shape`` and ``dtype``), and the service's JSON is
checked against that shape and dtype first, so a difference reads
``examples[0]: notebook ndarray shape (3,) vs service shape (2,)`` rather than as a
list of unrelated numbers.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9
#: At most this many numeric pairs are kept per comparison for the report's plot.
MAX_POINTS = 2000

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ARRAYS = ("ndarray", "DataFrame", "Series")


@dataclass(frozen=True)
class Tolerance:
    """Floats match when ``|a - b| <= max(rtol * max(|a|, |b|), atol)``."""

    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL

    def close(self, expected: float, actual: float) -> bool:
        if math.isnan(expected) or math.isnan(actual):
            return math.isnan(expected) and math.isnan(actual)
        return math.isclose(expected, actual, rel_tol=self.rtol, abs_tol=self.atol)


@dataclass(frozen=True)
class Difference:
    """One place where two values differ, e.g. ``examples[1].score``."""

    path: str
    detail: str  # "notebook 0.41735 vs service 0.41802 (rel 1.6e-3)"
    abs_error: float | None = None
    rel_error: float | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}"


@dataclass(frozen=True)
class Point:
    """A pair of numbers at the same path, for the notebook-vs-service plot."""

    path: str
    expected: float
    actual: float
    ok: bool


@dataclass
class Comparison:
    differences: list[Difference] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    max_abs: float = 0.0
    max_rel: float = 0.0

    @property
    def equal(self) -> bool:
        return not self.differences

    def merge(self, other: Comparison) -> None:
        self.differences += other.differences
        self.points += other.points[: max(0, MAX_POINTS - len(self.points))]
        self.max_abs = max(self.max_abs, other.max_abs)
        self.max_rel = max(self.max_rel, other.max_rel)


def child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def show(value: Any, limit: int = 60) -> str:
    """A short, unambiguous rendering of a JSON value for messages."""
    if isinstance(value, float):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=True)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sci(value: float) -> str:
    """1.6e-3 rather than 1.6e-03."""
    return re.sub(
        r"e([+-])0*(\d)", lambda m: f"e{m[1].strip('+')}{m[2]}", f"{value:.1e}"
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _rel(expected: float, actual: float) -> float:
    scale = max(abs(expected), abs(actual))
    return abs(expected - actual) / scale if scale else 0.0


def compare_values(
    expected: Any,
    actual: Any,
    tolerance: Tolerance,
    path: str = "$",
    *,
    shape: Any = None,
    labels: tuple[str, str] = ("notebook", "service"),
) -> Comparison:
    """Every difference between ``expected`` (left) and ``actual`` (right).

    ``shape`` is the notebook's description of its native value at ``path`` (see
    ``nb2svc.verify.notebook``): numpy/pandas shapes and dtypes are checked from it.
    """
    result = Comparison()
    _walk(expected, actual, path, shape, tolerance, labels, result)
    return result


def _walk(
    exp: Any,
    act: Any,
    path: str,
    shape: Any,
    tol: Tolerance,
    labels: tuple[str, str],
    out: Comparison,
) -> None:
    if _native_problem(exp, act, path, shape, labels, out):
        return
    if _is_nan(exp) and _is_nan(act):
        return
    if isinstance(exp, float) and isinstance(act, float):
        _numbers(exp, act, path, tol, labels, out)
    elif isinstance(exp, dict) and isinstance(act, dict):
        _objects(exp, act, path, shape, tol, labels, out)
    elif isinstance(exp, list) and isinstance(act, list):
        _arrays(exp, act, path, shape, tol, labels, out)
    else:
        _scalars(exp, act, path, labels, out)


def _native_problem(
    exp: Any,
    act: Any,
    path: str,
    shape: Any,
    labels: tuple[str, str],
    out: Comparison,
) -> bool:
    """A numpy/pandas array or a numpy scalar whose shape or dtype the service's
    answer does not have (recorded in ``out``)."""
    left, right = labels
    if isinstance(shape, dict) and shape.get("type") in _ARRAYS:
        problem = _array_problem(shape, act)
        if problem:
            out.differences.append(
                Difference(path, f"{left} {_describe(shape)} vs {right} {problem}")
            )
            return True
    elif isinstance(shape, dict) and "dtype" in shape:  # a numpy scalar
        problem = _leaf_problem(str(shape["dtype"]), act)
        if problem:
            out.differences.append(
                Difference(
                    path, f"{left} {shape['dtype']} {show(exp)} vs {right} {problem}"
                )
            )
            return True
    return False


def _arrays(
    exp: list[Any],
    act: list[Any],
    path: str,
    shape: Any,
    tol: Tolerance,
    labels: tuple[str, str],
    out: Comparison,
) -> None:
    left, right = labels
    if len(exp) != len(act):
        out.differences.append(
            Difference(path, f"{left} {len(exp)} items vs {right} {len(act)} items")
        )
        return
    items = shape.get("items") if isinstance(shape, dict) else None
    if isinstance(shape, dict) and shape.get("type") in _ARRAYS:
        items = [_element_shape(shape)] * len(exp)
    for index, (e, a) in enumerate(zip(exp, act, strict=True)):
        sub = items[index] if isinstance(items, list) and index < len(items) else None
        _walk(e, a, child_path(path, index), sub, tol, labels, out)


def _scalars(
    exp: Any, act: Any, path: str, labels: tuple[str, str], out: Comparison
) -> None:
    left, right = labels
    if _kind(exp) != _kind(act):
        out.differences.append(
            Difference(
                path,
                f"{left} {_kind(exp)} {show(exp)} vs {right} {_kind(act)} {show(act)}",
            )
        )
    elif exp != act:
        out.differences.append(
            Difference(path, f"{left} {show(exp)} vs {right} {show(act)}")
        )


def _is_nan(value: Any) -> bool:
    """NaN, or null: JSON has no NaN, so ``to_jsonable`` turns NaN into null."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _numbers(
    exp: float,
    act: float,
    path: str,
    tol: Tolerance,
    labels: tuple[str, str],
    out: Comparison,
) -> None:
    ok = tol.close(exp, act)
    finite = math.isfinite(exp) and math.isfinite(act)
    if finite:
        abs_err, rel_err = abs(exp - act), _rel(exp, act)
    else:  # infinities: equal or not, there is no finite error to speak of
        abs_err = rel_err = 0.0 if ok else math.inf
    if len(out.points) < MAX_POINTS and finite:
        out.points.append(Point(path, exp, act, ok))
    out.max_abs = max(out.max_abs, abs_err)
    out.max_rel = max(out.max_rel, rel_err)
    if not ok:
        left, right = labels
        out.differences.append(
            Difference(
                path,
                f"{left} {show(exp)} vs {right} {show(act)} (rel {sci(rel_err)})",
                abs_err,
                rel_err,
            )
        )


def _objects(
    exp: dict[str, Any],
    act: dict[str, Any],
    path: str,
    shape: Any,
    tol: Tolerance,
    labels: tuple[str, str],
    out: Comparison,
) -> None:
    right = labels[1]
    missing = [k for k in exp if k not in act]
    extra = [k for k in act if k not in exp]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{right} lacks {', '.join(map(show, missing))}")
        if extra:
            parts.append(f"{right} adds {', '.join(map(show, extra))}")
        out.differences.append(Difference(path, f"keys differ: {'; '.join(parts)}"))
    items = shape.get("items") if isinstance(shape, dict) else None
    for key, value in exp.items():
        if key in act:
            sub = items.get(key) if isinstance(items, dict) else None
            _walk(value, act[key], child_path(path, key), sub, tol, labels, out)


# --- numpy / pandas shapes -------------------------------------------------------


def _describe(shape: dict[str, Any]) -> str:
    dims = tuple(shape.get("shape", ()))
    kind = shape["type"]
    if kind == "DataFrame":
        return f"DataFrame shape {dims}"
    return f"{kind} {shape.get('dtype', '?')} shape {dims}"


def _element_shape(shape: dict[str, Any]) -> Any:
    """The shape of one element (row) of an array-like, for the recursion."""
    if shape["type"] == "DataFrame":
        dtypes = dict(zip(shape["columns"], shape["dtypes"], strict=False))
        return {"type": "dict", "items": {c: {"dtype": t} for c, t in dtypes.items()}}
    dims = list(shape.get("shape", ()))
    if len(dims) > 1:
        return {"type": shape["type"], "shape": dims[1:], "dtype": shape.get("dtype")}
    return {"dtype": shape.get("dtype")}


def _json_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of a rectangular nested JSON list; None when it is ragged."""
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    inner = [_json_shape(v) for v in value]
    if any(s is None or s != inner[0] for s in inner):
        return None
    first = inner[0]
    assert first is not None
    return (len(value), *first)


def _array_problem(shape: dict[str, Any], act: Any) -> str | None:
    """How the service's JSON fails the notebook's array/frame shape, or None."""
    dims = tuple(shape.get("shape", ()))
    if shape["type"] == "DataFrame":
        if not isinstance(act, list) or not all(isinstance(r, dict) for r in act):
            return f"{_kind(act)} {show(act)}, not a list of records"
        columns = list(shape.get("columns", ()))
        got_cols = sorted({str(k) for row in act for k in row})
        if len(act) != dims[0] or got_cols != sorted(columns):
            return f"{len(act)} records with columns {got_cols} (notebook {columns})"
        return None
    got = _json_shape(act)
    if got is None:
        return f"a ragged array {show(act)}"
    if got != dims:
        return f"shape {got}"
    dtype = str(shape.get("dtype", "object"))
    leaves = _leaves(act)
    for leaf in leaves:
        problem = _leaf_problem(dtype, leaf)
        if problem:
            return f"values of another dtype ({problem})"
    return None


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _leaf_problem(dtype: str, value: Any) -> str | None:
    """A JSON value that a numpy dtype could not have produced, described."""
    if dtype.startswith(("float", "complex")):
        ok = value is None or isinstance(value, float)
    elif dtype.startswith(("int", "uint", "Int", "UInt")):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif dtype in ("bool", "boolean"):
        ok = isinstance(value, bool)
    else:  # object, str, category, datetime...: no fixed JSON type
        ok = True
    return None if ok else f"{_kind(value)} {show(value)}"
