"""Turn numpy/pandas values into plain JSON values.

nb2svc runs this same code in the notebook's kernel to capture the notebook's outputs,
so the service and the golden fixtures agree on every conversion. Non-finite floats
(NaN, Infinity) become None, as JSON has no literal for them.

Big outputs take a fast way where every value is already plain: a list (or a list of
lists, of tuples or of dicts) of str, int, bool, None and finite floats, a dict of them,
a numeric numpy array. What it returns equals what the item-by-item way returns.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from itertools import chain
from typing import Any

_SCALARS = (str, bool, int, type(None))
_PLAIN = frozenset(_SCALARS)
_NUMBERS = frozenset((float, int))


def _plain(values: Any) -> bool:
    """Whether every value is str, bool, int, None or a finite float, by exact type
    (a subclass, say numpy's float64, takes the item-by-item way)."""
    if type(values) is not list:
        values = list(values)  # read twice below
    found = set(map(type, values))
    if found <= _PLAIN:
        return True
    if float not in found:
        return False
    if found <= _NUMBERS:
        numbers: Any = values
    elif found <= _PLAIN | {float}:
        numbers = (value for value in values if type(value) is float)
    else:
        return False
    try:
        return all(map(math.isfinite, numbers))
    except OverflowError:  # an int beyond a float's range
        return False


def _fast(value: Any) -> Any:
    """``value`` (a list, tuple or dict) copied, if every value in it is plain, one
    level of lists, tuples or dicts deep at most; None otherwise."""
    if type(value) is dict:
        if set(map(type, value)) <= {str} and _plain(value.values()):
            return dict(value)
        return None
    found = set(map(type, value))
    if found <= _PLAIN | {float}:
        return list(value) if _plain(value) else None
    if found <= {list, tuple}:
        return [list(v) for v in value] if _plain(chain.from_iterable(value)) else None
    if found == {dict}:
        keys = set(map(type, chain.from_iterable(value)))
        values = chain.from_iterable(map(dict.values, value))
        if keys <= {str} and _plain(values):
            return [dict(v) for v in value]
    return None


def _numeric_array(value: Any, np: Any) -> Any:
    """A numeric numpy array's values as lists, or None (non-finite, other dtypes)."""
    kind = value.dtype.kind
    if kind in "iub" or (kind == "f" and bool(np.isfinite(value).all())):
        return value.tolist()
    return None


def to_jsonable(value: Any) -> Any:
    """A JSON-ready copy of ``value`` (dicts, lists, str, int, float, bool, None)."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if type(value) in (list, tuple, dict):
        fast = _fast(value)
        if fast is not None:
            return fast
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [to_jsonable(v) for v in items]
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(value, pd.DataFrame):
            return [
                {str(k): to_jsonable(v) for k, v in row.items()}
                for row in value.to_dict(orient="records")
            ]
        if isinstance(value, pd.Series | pd.Index):
            return to_jsonable(value.tolist())
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
        if value is pd.NA or value is pd.NaT:
            return None
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray):
            fast = _numeric_array(value, np)
            return fast if fast is not None else to_jsonable(value.tolist())
        if isinstance(value, np.generic):
            return to_jsonable(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot turn a {type(value).__name__} into JSON")
