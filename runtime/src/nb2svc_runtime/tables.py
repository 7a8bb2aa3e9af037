"""Tables validated column by column: the request schema's rules, vectorised.

A table arrives as columns (a columnar request body, a chunk of a file): one
sequence of values per input column. Each column is checked at once with numpy
(types, NaN and infinities, the integer range, nulls); only a column that fails is
handed to pydantic, with the same annotation and strictness the row model has, to
locate its bad rows and word the errors exactly as a JSON request's. The result is
the same values a JSON request of the same rows validates to, so the input the
notebook gets (a DataFrame, records, a matrix) equals the one built from JSON.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types
from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

Kind = Literal["float", "int", "bool", "str", "other"]
#: An error: (row, column label, msg, type), pydantic's wording, never the value.
CellError = tuple[int, str, str, str]


@dataclass(frozen=True)
class Column:
    """One input column: its label, how it is checked, and pydantic's adapter for it."""

    label: str
    kind: Kind
    required: bool
    default: Any
    low: int | None
    high: int | None
    adapter: TypeAdapter[list[Any]]

    @classmethod
    def of(cls, label: str, annotation: Any, required: bool = True) -> Column:
        kind, low, high = _fast_kind(annotation)
        adapter = TypeAdapter(list[annotation], config=ConfigDict(allow_inf_nan=False))
        return cls(label, kind, required, None, low, high, adapter)


def _fast_kind(annotation: Any) -> tuple[Kind, int | None, int | None]:
    """The numpy check a column gets; "other" (pydantic alone) for anything else.

    An integer may carry only bounds and the runtime's 2.0-is-an-integer validator;
    a nullable column, a constrained string or a date is left to pydantic.
    """
    if annotation is float:
        return "float", None, None
    if annotation is bool:
        return "bool", None, None
    if annotation is str:
        return "str", None, None
    base: Any = annotation
    metadata: tuple[Any, ...] = ()
    if get_origin(annotation) is Annotated:
        base, *rest = get_args(annotation)
        metadata = tuple(rest)
    if base is not int:
        return "other", None, None
    low: int | None = None
    high: int | None = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge) and isinstance(item.ge, int):
            low = item.ge
        elif isinstance(item, annotated_types.Le) and isinstance(item.le, int):
            high = item.le
        elif not isinstance(item, BeforeValidator):
            return "other", None, None
    return "int", low, high


def array_element(annotation: Any) -> Any:
    """The element annotation of a flat numeric array request (``list[float]``), or None."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is not list:
        return None
    (element,) = get_args(annotation) or (None,)
    kind, _, _ = _fast_kind(element)
    return element if kind in ("float", "int", "bool") else None


class TableSchema:
    """The columns of a row model, by their labels (the notebook's names)."""

    def __init__(
        self, columns: Sequence[Column], *, by_name: Mapping[str, str]
    ) -> None:
        self.columns = list(columns)
        self.labels = [column.label for column in self.columns]
        #: every name a column may be sent under (label, and the model's field name)
        self.by_name = dict(by_name)

    @classmethod
    def from_model(cls, model: type[BaseModel]) -> TableSchema:
        columns, by_name = [], {}
        for name, field in model.model_fields.items():
            label = name if field.alias is None else field.alias
            column = Column.of(label, field.rebuild_annotation(), field.is_required())
            if not column.required:
                column = Column(
                    label,
                    column.kind,
                    False,
                    field.get_default(call_default_factory=True),
                    column.low,
                    column.high,
                    column.adapter,
                )
            columns.append(column)
            by_name[label] = label
            if model.model_config.get("populate_by_name"):
                by_name.setdefault(name, label)
        return cls(columns, by_name=by_name)

    def match(
        self, names: Sequence[str]
    ) -> tuple[list[str | None], list[dict[str, Any]]]:
        """Each sent column's label (None: not an input), and the column errors:
        duplicates, unknown and missing columns, each named in its ``loc``."""
        errors: list[dict[str, Any]] = []
        labels: list[str | None] = []
        seen: set[str] = set()
        for name in names:
            label = self.by_name.get(name) if isinstance(name, str) else None
            if label is None:
                errors.append(
                    _column_error(
                        name, "Extra inputs are not permitted", "extra_forbidden"
                    )
                )
            elif label in seen:
                errors.append(
                    _column_error(
                        name, "Column given more than once", "duplicate_column"
                    )
                )
                label = None
            else:
                seen.add(label)
            labels.append(label)
        for column in self.columns:
            if column.required and column.label not in seen:
                errors.append(_column_error(column.label, "Field required", "missing"))
        return labels, errors


def _column_error(name: Any, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["columns", str(name)], "msg": msg, "type": kind}


def check_column(
    column: Column,
    values: Any,
    rows: int,
    *,
    strict: bool = True,
    typed: bool = False,
) -> tuple[Any, list[CellError]]:
    """A column's valid values (a numpy array or a list) or its errors.

    ``values`` is a sequence of Python values or a pyarrow (chunked) array. ``strict``
    as a JSON request (2.5 is not a string); not strict for text (CSV cells).
    ``typed``: a decoder already made every value the column's Python type (a float
    column's floats), so only the finer checks are left.
    """
    if strict:
        checked = _fast(column, values, typed)
        if checked is not None:
            return checked, []
    if hasattr(values, "to_pylist"):
        values = values.to_pylist()
    try:
        return column.adapter.validate_python(list(values), strict=strict), []
    except PydanticValidationError as exc:
        errors = exc.errors(
            include_url=False, include_context=False, include_input=False
        )
        return None, [
            (int(error["loc"][0]), column.label, error["msg"], error["type"])
            for error in errors
        ]


_PYTHON_TYPES: dict[str, type] = {"float": float, "int": int, "bool": bool, "str": str}


def _fast(column: Column, values: Any, typed: bool = False) -> Any:
    """The column as numpy/Python values if every value passes the numpy checks."""
    import numpy as np

    kind = column.kind
    if kind == "other":
        return None
    if hasattr(values, "to_numpy"):  # Arrow: its type says what the values are
        return _fast_arrow(column, values)
    present = {_PYTHON_TYPES[kind]} if typed else set(map(type, values))
    if kind == "str":
        return values if present <= {str} else None
    if kind == "bool":
        return np.array(values, dtype=np.bool_) if present <= {bool} else None
    if kind == "float":
        if not present <= {float, int}:
            return None
        try:
            array = np.array(values, dtype=np.float64)
        except OverflowError:
            return None
        return array if np.isfinite(array).all() else None
    if not present <= {int}:  # 2.0 as an integer: pydantic decides
        return None
    try:
        array = np.array(values, dtype=np.int64)
    except OverflowError:
        return None
    return array if _in_range(column, array) else None


def _fast_arrow(column: Column, values: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    if values.null_count:
        return None
    kind, arrow_type = column.kind, values.type
    if kind == "str":
        strings = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
        return values.to_pylist() if strings else None
    if kind == "bool":
        if not pa.types.is_boolean(arrow_type):
            return None
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.bool_)
    if kind == "float":
        if not (pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type)):
            return None
        array = np.asarray(values.to_numpy(), dtype=np.float64)
        return array if np.isfinite(array).all() else None
    if not pa.types.is_integer(arrow_type):
        return None
    raw = values.to_numpy()
    if len(raw) and raw.dtype == np.uint64 and raw.max() > np.iinfo(np.int64).max:
        return None
    array = np.asarray(raw, dtype=np.int64)
    return array if _in_range(column, array) else None


def _in_range(column: Column, array: Any) -> bool:
    if not len(array):
        return True
    if column.low is not None and array.min() < column.low:
        return False
    return not (column.high is not None and array.max() > column.high)


def check_table(
    schema: TableSchema,
    labels: Sequence[str | None],
    columns: Sequence[Any],
    rows: int,
    *,
    strict: bool = True,
    typed: Collection[str] = (),
) -> tuple[dict[str, Any], list[CellError]]:
    """Every input column's valid values by label, and every cell's error by row.

    ``labels`` come from :meth:`TableSchema.match` (no unknown or missing required
    column left); an optional column not sent gets its default in every row.
    ``typed``: the labels of the columns a decoder already typed (``check_column``).
    """
    sent = {
        label: values
        for label, values in zip(labels, columns, strict=True)
        if label is not None
    }
    valid: dict[str, Any] = {}
    errors: list[CellError] = []
    for column in schema.columns:
        if column.label not in sent:
            valid[column.label] = [column.default] * rows
            continue
        values, found = check_column(
            column,
            sent[column.label],
            rows,
            strict=strict,
            typed=column.label in typed,
        )
        valid[column.label] = values
        errors += found
    order = {label: i for i, label in enumerate(schema.labels)}
    errors.sort(key=lambda error: (error[0], order[error[1]]))
    return valid, errors


def python_values(values: Any) -> list[Any]:
    """A valid column as Python values (what a JSON request validates to)."""
    tolist = getattr(values, "tolist", None)
    return tolist() if tolist is not None else list(values)


FramePlan = list[tuple[str, Any, bool]]


def frame_plan(labels: Sequence[str], dtypes: Mapping[str, str]) -> FramePlan:
    """Each column's label, pandas dtype and whether numpy holds it, resolved once."""
    import pandas as pd

    from .schemas import _NUMPY_DTYPES  # the numeric dtypes frame_builder fills

    return [
        (
            label,
            pd.api.types.pandas_dtype(dtypes[label]),
            dtypes[label] in _NUMPY_DTYPES,
        )
        for label in labels
    ]


def build_frame(plan: FramePlan, valid: Mapping[str, Any], rows: int) -> Any:
    """The DataFrame ``schemas.frame_builder`` builds from the same rows' JSON: the
    numeric columns' arrays as they are, the others through ``pd.array``."""
    import numpy as np
    import pandas as pd

    labels = pd.Index([label for label, _, _ in plan])
    index = pd.RangeIndex(rows)
    dtypes = {dtype for _, dtype, _ in plan}
    if plan and len(dtypes) == 1 and all(numeric for _, _, numeric in plan):
        # One numeric dtype: one 2-D block, where pandas would keep a block per
        # column (the same values and dtypes; cheaper to build and to read).
        (dtype,) = dtypes
        matrix = np.column_stack(
            [np.asarray(valid[label], dtype=dtype) for label in labels]
        )
        return pd.DataFrame(matrix, index=index, columns=labels, copy=False)
    arrays: dict[str, Any] = {}
    for label, dtype, numeric in plan:
        values = valid[label]
        arrays[label] = (
            np.asarray(values, dtype=dtype)
            if numeric
            else pd.array(python_values(values), dtype=dtype)
        )
    return pd.DataFrame(arrays, index=index, columns=labels, copy=False)
