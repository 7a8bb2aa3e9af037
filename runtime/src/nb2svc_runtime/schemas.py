"""Helpers of a generated ``schemas.py``: integer types, and the request-to-input step.

``to_raw`` turns a validated request body into the form the notebook's preprocess
received: a DataFrame of the notebook's dtypes (``frame_builder``), a plain dict
(``record_builder``), a numpy array (``array_builder``) or the body itself
(``identity``). Each builder resolves what it can once, so a request pays only for
its own values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeAlias, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
)
from pydantic_core import InitErrorDetails, core_schema


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


class Shape:
    """An array request's shape: per dimension, its length, or None for any number
    (at least one). ``Annotated[list[list[float]], Shape(None, 4)]`` takes rows of 4
    numbers; a row of 3 is a 422 naming the length (``List should have at least 4
    items``), and the OpenAPI schema carries ``minItems``/``maxItems``.

    The lengths go into pydantic-core's list schemas, so they are checked in Rust,
    with the values, in the same pass.
    """

    def __init__(self, *dims: int | None) -> None:
        if not dims or any(d is not None and d < 1 for d in dims):
            raise ValueError(f"a shape is one length or None per dimension: {dims}")
        self.dims = dims

    def __repr__(self) -> str:
        return f"Shape({', '.join(map(repr, self.dims))})"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        level: Any = schema
        for dim in self.dims:
            if level.get("type") != "list":
                raise TypeError(f"{self!r} has more dimensions than {source!r}")
            level["min_length"] = 1 if dim is None else dim
            if dim is not None:
                level["max_length"] = dim
            level = level["items_schema"]
        return schema


def fixed_length(request: Any) -> int | None:
    """The one length of a 1-D array request (``Annotated[list[float], Shape(4)]``)."""
    if get_origin(request) is not Annotated:
        return None
    for meta in get_args(request)[1:]:
        if isinstance(meta, Shape) and len(meta.dims) == 1:
            return meta.dims[0]
    return None


def _without_row(exc: ValidationError) -> ValidationError:
    """The errors of ``[record]`` as errors of the bare ``record`` (or, for an error
    type pydantic cannot rebuild, as they are)."""
    try:
        return ValidationError.from_exception_data(
            exc.title,
            [
                InitErrorDetails(
                    type=error["type"],
                    loc=error["loc"][1:],
                    input=error["input"],
                    ctx=error.get("ctx", {}),
                )
                for error in exc.errors(include_url=False)
            ],
        )
    except (KeyError, TypeError, ValueError):
        return exc


class TableRows:
    """A table's request: a list of rows (at least one), or one bare record (a JSON
    object), taken as a one-row table: ``{"amount": 3.2, ...}`` is ``[{"amount":
    3.2, ...}]`` and gets the same answer. OpenAPI shows both forms (``anyOf``)."""

    def __repr__(self) -> str:
        return "TableRows()"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        rows: Any = handler(source)
        if rows.get("type") != "list":
            raise TypeError(f"TableRows annotates a list of rows, not {source!r}")
        rows["min_length"] = 1

        def validate(
            value: Any, inner: core_schema.ValidatorFunctionWrapHandler
        ) -> Any:
            if not isinstance(value, dict):
                return inner(value)
            try:
                return inner([value])
            except ValidationError as exc:
                raise _without_row(exc) from None

        return core_schema.no_info_wrap_validator_function(
            validate,
            rows,
            json_schema_input_schema=core_schema.union_schema(
                [rows, rows["items_schema"]]
            ),
        )


def row_model(annotation: Any) -> type[BaseModel] | None:
    """The row model in a request annotation: ``Row``, ``list[Row]``,
    ``Annotated[list[Row], ...]`` or a union of them; None when there is none."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = row_model(arg)
        if found is not None:
            return found
    return None


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

    row = row_model(request)
    if row is None:
        raise TypeError(f"a table request is a list of rows, not {request!r}")
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
