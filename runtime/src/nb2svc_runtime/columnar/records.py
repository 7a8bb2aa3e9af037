"""JSON records decoded straight into typed rows: the table's columns in one pass.

A body of records (``[{"a": 1.5, "b": "x"}, ...]``) is decoded by msgspec against a
struct made from the request's row model: every record must hold exactly the table's
columns, a float column's values numbers, an integer column's integers, a flag's
booleans, a text's strings (any other column takes any JSON value, which pydantic then
checks by column). That is the type check ``tables.check_column`` would otherwise make
value by value; the finer rules (finite floats, integer bounds) still run on the
columns. A body that does not decode so (a missing or unknown key, a value of another
type, not a list of objects) gives None: the general way decodes it and words its
errors as pydantic does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ..tables import Column, TableSchema

_TYPES: dict[str, Any] = {"float": float, "int": int, "bool": bool, "str": str}


class RecordsDecoder:
    """Decodes JSON records of one table schema into its columns."""

    def __init__(self, schema: TableSchema) -> None:
        assert schema.columns, "a table of no columns has no records to decode"
        fields = [f"f{index}" for index in range(len(schema.columns))]
        row: Any = msgspec.defstruct(
            "Row",
            [
                (field, _TYPES.get(column.kind, Any))
                for field, column in zip(fields, schema.columns, strict=True)
            ],
            rename=dict(zip(fields, schema.labels, strict=True)),
            forbid_unknown_fields=True,
        )
        self.labels = list(schema.labels)
        #: the columns whose values the decoder typed (no type scan needed)
        self.typed = {c.label for c in schema.columns if c.kind in _TYPES}
        self._decoder = msgspec.json.Decoder(list[row])

    @classmethod
    def of(cls, schema: TableSchema) -> RecordsDecoder | None:
        """The schema's decoder; None for a table of no columns, or of a column
        msgspec cannot name (a quote, a backslash or a control character in its
        label): the general way takes those."""
        if not schema.columns:
            return None
        try:
            return cls(schema)
        except ValueError:
            return None

    def decode(self, raw: bytes) -> tuple[list[str], list[Sequence[Any]], int] | None:
        """The column labels, each column's values and the rows; None when the body
        is not such records (then the general way decodes it)."""
        try:
            rows = self._decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        if not rows:
            return None
        columns: list[Sequence[Any]] = list(
            zip(*map(msgspec.structs.astuple, rows), strict=True)
        )
        return self.labels, columns, len(rows)


class ArraysDecoder:
    """Decodes a JSON array of equal-length arrays of one element type (an array
    input's batch) into its columns, through one 2-D numpy array."""

    def __init__(self, element: Column) -> None:
        python = _TYPES[element.kind]
        self._dtype = {"float": "float64", "int": "int64", "bool": "bool"}[element.kind]
        self._decoder = msgspec.json.Decoder(list[list[python]])  # type: ignore[valid-type]

    def decode(self, raw: bytes) -> tuple[list[Any], list[Sequence[Any]], int] | None:
        """The element positions, each position's values and the rows; None for
        anything else (ragged, empty, another type, an integer past 64 bits)."""
        import numpy as np

        try:
            rows = self._decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        if not rows or not rows[0]:
            return None
        try:
            matrix = np.array(rows, dtype=self._dtype)
        except (ValueError, OverflowError):  # ragged rows; an integer past int64
            return None
        if matrix.ndim != 2:
            return None
        return list(range(matrix.shape[1])), list(matrix.T), len(rows)
