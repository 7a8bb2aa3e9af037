"""Turn numpy/pandas values into plain JSON values.

nb2svc runs this same code in the notebook's kernel to capture the notebook's outputs,
so the service and the golden fixtures agree on every conversion. Non-finite floats
(NaN, Infinity) become None, as JSON has no literal for them.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

_SCALARS = (str, bool, int, type(None))


def to_jsonable(value: Any) -> Any:
    """A JSON-ready copy of ``value`` (dicts, lists, str, int, float, bool, None)."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
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
            return [to_jsonable(v) for v in value.tolist()]
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
        if value is pd.NA or value is pd.NaT:
            return None
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray):
            return [to_jsonable(v) for v in value.tolist()]
        if isinstance(value, np.generic):
            return to_jsonable(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot turn a {type(value).__name__} into JSON")
