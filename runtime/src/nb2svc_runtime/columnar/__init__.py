"""Columnar request and response bodies: pandas' split JSON and Arrow IPC streams.

A columnar body is a table: one column per input, one row per input row. It is what
``/predict`` takes for a DataFrame input (the table) and what ``/predict/batch`` takes
for record and array inputs (one input per row). The answer is JSON unless the
``Accept`` header prefers split JSON or Arrow; then it is a table too, one row per
input row (an output's fields as columns, or one ``prediction`` column).

Bodies pass the same guards as JSON (size, deadline, rows) and are validated column
by column (``tables``) with the errors a JSON request of the same rows gets, their
``loc`` ``["body", row, column]``. Decoding, validation, scoring and encoding run in
the app's worker threads.
"""

from .codecs import (
    ARROW_EXTRA,
    ARROW_STREAM,
    PREDICTION_COLUMN,
    SPLIT_JSON,
    answer_format,
    arrow_available,
    body_format,
    decode_arrow,
    decode_records,
    decode_split,
    encode,
    output_table,
    split_table,
)
from .lane import RECORDS_BY_COLUMN_BYTES, Columnar, _Job, _Rows
from .openapi import document

__all__ = [
    "ARROW_EXTRA",
    "ARROW_STREAM",
    "PREDICTION_COLUMN",
    "RECORDS_BY_COLUMN_BYTES",
    "SPLIT_JSON",
    "Columnar",
    "_Job",
    "_Rows",
    "answer_format",
    "arrow_available",
    "body_format",
    "decode_arrow",
    "decode_records",
    "decode_split",
    "document",
    "encode",
    "output_table",
    "split_table",
]
