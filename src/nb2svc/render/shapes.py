"""The shape of an array input: which lengths its examples and the model fix.

A request of another length is then refused by the schema (``Shape`` of
``nb2svc_runtime.schemas``) with a 422 naming the length, before the model runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: Per dimension: its fixed length, or None (any length, at least one).
ArrayShape = tuple[int | None, ...]


def _depth(type_expr: str) -> int:
    """``list[list[float]]`` -> 2: how many list levels a request type has."""
    depth = 0
    while type_expr.startswith("list[") and type_expr.endswith("]"):
        type_expr, depth = type_expr[5:-1], depth + 1
    return depth


_NUMBERS = frozenset({"int", "float", "bool"})


def _innermost(type_expr: str) -> str:
    """``list[list[float]]`` -> ``float``."""
    while type_expr.startswith("list[") and type_expr.endswith("]"):
        type_expr = type_expr[5:-1]
    return type_expr


def _lengths(values: list[Any], depth: int) -> list[set[int]]:
    """The lengths every list at each level has, across all ``values``."""
    found: list[set[int]] = [set() for _ in range(depth)]
    level = values
    for d in range(depth):
        lists = [v for v in level if isinstance(v, list)]
        found[d] = {len(v) for v in lists}
        level = [item for v in lists for item in v]
    return found


def array_shape(
    inputs: Sequence[Any], type_expr: str, n_features: int | None = None
) -> ArrayShape | None:
    """The request shape of an array input, from the examples and the model.

    Only arrays of numbers have a shape. A 1-D example is one sample: its length is
    fixed. A 2-D or deeper example is rows of samples: the first (row) dimension
    takes any number of rows (at least one), the inner ones are fixed. A dimension whose examples disagree on its
    length takes any length. Where the model's ``n_features_in_`` is known it
    decides: an example whose samples have that many values keeps its shape; an
    example that is one sample in all (an 8x8 image for a 64-feature model) is fixed
    in every dimension; otherwise the notebook's code makes the features from an
    input of its own length, and no length is fixed.
    """
    depth = _depth(type_expr)
    if depth == 0 or not inputs or _innermost(type_expr) not in _NUMBERS:
        return None  # lists of texts or records: their lengths are data
    lengths = _lengths(list(inputs), depth)
    fixed = tuple(next(iter(found)) if len(found) == 1 else None for found in lengths)
    shape = fixed if depth == 1 else (None, *fixed[1:])
    sample = shape if depth == 1 else shape[1:]
    if n_features is None or _values(sample) == n_features:
        return shape
    if depth > 1 and _values(fixed) == n_features:
        return fixed  # one sample in all: every dimension fixed
    return (None,) * depth


def _values(dims: Sequence[int | None]) -> int | None:
    """How many values ``dims`` hold, if every one is fixed."""
    return None if None in dims else math.prod(d for d in dims if d is not None)


def describe_shape(shape: ArrayShape) -> str:
    """``(None, 4)`` -> "one or more rows, each of exactly 4 numbers" (README)."""

    def sized(dims: Sequence[int | None]) -> str:
        if len(dims) == 1:
            d = dims[0]
            return "one or more numbers" if d is None else f"exactly {d} numbers"
        head = "one or more lists" if dims[0] is None else f"exactly {dims[0]} lists"
        return f"{head}, each of {sized(dims[1:])}"

    if len(shape) > 1 and shape[0] is None:
        return f"one or more rows, each of {sized(shape[1:])}"
    return sized(shape)


def shaped_annotation(annotation: str, shape: ArrayShape | None) -> str:
    """``Annotated[list[float], Shape(2)]``: the lengths written as Python literals."""
    if shape is None:
        return annotation
    dims = ", ".join(repr(d) for d in shape)
    return f"Annotated[{annotation}, Shape({dims})]"
