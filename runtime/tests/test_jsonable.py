"""to_jsonable's fast way answers what the item-by-item way answers, value for value.

The reference below is the item-by-item conversion to_jsonable made before it had a
fast way (the rules the golden fixtures were captured with); hypothesis draws the
nested lists, tuples and dicts of plain values, numpy scalars, NaN and infinities that
the fast way must either copy exactly or leave to that way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nb2svc_runtime.jsonable import to_jsonable


def reference(value: Any) -> Any:
    if isinstance(value, str | bool | int | type(None)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): reference(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [reference(v) for v in value]
    if isinstance(value, np.ndarray):
        return [reference(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return reference(value.item())
    raise TypeError(type(value).__name__)


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 is not 1.0 nor True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**1023, max_value=2**1100),  # beyond a float's range
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.floats(allow_nan=True).map(np.float64),
    st.integers(-(2**31), 2**31).map(np.int64),
    st.booleans().map(np.bool_),
)
keys = st.one_of(st.text(max_size=4), st.integers(-3, 3))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.lists(inner, max_size=6).map(tuple),
        st.dictionaries(keys, inner, max_size=5),
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_any_nesting_converts_as_item_by_item(value: Any) -> None:
    assert same(to_jsonable(value), reference(value))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(scalars, min_size=2, max_size=2), max_size=30))
def test_rows_of_values_convert_as_item_by_item(rows: list[list[Any]]) -> None:
    assert same(to_jsonable(rows), reference(rows))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from("abc"), scalars), max_size=20))
def test_records_convert_as_item_by_item(records: list[dict[str, Any]]) -> None:
    assert same(to_jsonable(records), reference(records))


@pytest.mark.parametrize(
    "array",
    [
        np.array([[0.25, 1.5], [2.0, -3.0]]),
        np.array([[0.25, np.nan], [np.inf, -3.0]]),
        np.array([1, 2, 3], dtype=np.int8),
        np.array([2**64 - 1], dtype=np.uint64),
        np.array([True, False]),
        np.array([0.5, 1.5], dtype=np.float32),
        np.array(["a", "b"]),
        np.array([1, "a", None, 2.5], dtype=object),
        np.zeros((2, 0)),
    ],
)
def test_arrays_convert_as_item_by_item(array: Any) -> None:
    assert same(to_jsonable(array), reference(array))


def test_copies_are_new_containers() -> None:
    rows = [[1.0, 2.0], [3.0, 4.0]]
    answer = to_jsonable(rows)
    answer[0][0] = 9.0
    assert rows == [[1.0, 2.0], [3.0, 4.0]]


def test_pandas_values_still_convert() -> None:
    series = pd.Series([0.5, np.nan, 2.0])
    assert to_jsonable(series) == [0.5, None, 2.0]
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, np.inf]})
    assert to_jsonable(frame) == [{"a": 1, "b": 0.5}, {"a": 2, "b": None}]
    assert to_jsonable(pd.Timestamp("2026-01-02")) == "2026-01-02T00:00:00"
    with pytest.raises(TypeError, match="complex"):
        to_jsonable([1j])
