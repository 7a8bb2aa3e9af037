"""The columnar media types in the OpenAPI document: request bodies and answers."""

from __future__ import annotations

from typing import Any

from ..schemas import row_model
from .codecs import ARROW_EXTRA, ARROW_STREAM, SPLIT_JSON, output_table, split_table
from .lane import Columnar


def document(
    columnar: Columnar,
    batch: bool,
    openapi_extra: dict[str, Any],
    responses: dict[int | str, Any],
    known: dict[str, Any],
) -> None:
    """Add the columnar media types to a route's OpenAPI request body and answer."""
    example = columnar.predictor.schemas.example_request
    if columnar.answers(batch):
        _document_answer(columnar, batch, responses, known)
    if not columnar.takes_table(batch):
        return
    rows = [example] if batch else example
    labels = columnar.schema.labels if columnar.schema is not None else None
    body = openapi_extra["requestBody"]["content"]
    body[SPLIT_JSON] = {
        "schema": _split_schema(columnar, known),
        "examples": {
            "notebook": {
                "summary": "The notebook's example, as a split table",
                "value": split_table(rows, labels),
            }
        },
    }
    described = (
        f"columns {', '.join(labels)}"
        if labels is not None
        else "one column per element"
    )
    body[ARROW_STREAM] = {
        "schema": {
            "type": "string",
            "format": "binary",
            "description": f"An Arrow IPC stream, one row per input row: {described} "
            f"(needs the service's '{ARROW_EXTRA}' extra).",
        }
    }


def _document_answer(
    columnar: Columnar,
    batch: bool,
    responses: dict[int | str, Any],
    known: dict[str, Any],
) -> None:
    """The 200 answer as split JSON and Arrow, where it is a table; and the 406."""
    answer = columnar.predictor.schemas.example_response
    outputs = [answer] if batch else answer
    if not isinstance(outputs, list):
        return
    names, columns = output_table(outputs)
    content = responses[200].setdefault("content", {})
    content[SPLIT_JSON] = {
        "schema": _split_schema(None, known),
        "example": {
            "columns": names,
            "data": [list(row) for row in zip(*columns, strict=True)],
        },
    }
    content[ARROW_STREAM] = {
        "schema": {
            "type": "string",
            "format": "binary",
            "description": "An Arrow IPC stream: one row per input row, "
            f"columns {', '.join(names)}.",
        }
    }
    responses[406] = {
        "description": "Arrow was asked for but pyarrow is not installed, "
        "or the predictions do not fit an Arrow table",
    }


def _split_schema(columnar: Columnar | None, known: dict[str, Any]) -> dict[str, Any]:
    """The split body's JSON Schema. A table's columns are documented in the model's
    order with each cell's schema (another order of the same columns is accepted too);
    an array's rows with the element's schema. ``None``: an answer (any table)."""
    columns: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    row: dict[str, Any] = {"type": "array", "items": {}}
    data: dict[str, Any] = {"type": "array", "items": row}
    required = ["columns", "data"]
    if columnar is not None and columnar.schema is not None:
        cells = _cell_schemas(columnar, known)
        labels = columnar.schema.labels
        width = len(labels)
        if cells is not None:
            columns = {"type": "array", "prefixItems": [{"const": x} for x in labels]}
            row = {"type": "array", "prefixItems": [cells[x] for x in labels]}
            for schema in (columns, row):
                schema.update(items=False, minItems=width, maxItems=width)
            data["items"] = row
        else:  # optional columns: which are sent decides the row
            columns["items"]["enum"] = list(labels)
            columns["uniqueItems"] = True
        if not columnar.table_batch:
            data["minItems"] = 1  # a DataFrame needs a row
    elif columnar is not None and columnar.element is not None:
        item = columnar.predictor.one.json_schema(
            ref_template="#/components/schemas/{model}"
        )
        known.update(item.pop("$defs", {}))
        data["items"] = item
        columns = {"type": "array", "description": "ignored for arrays"}
        required = ["data"]
    return {
        "type": "object",
        "description": "pandas' split orientation (DataFrame.to_json(orient='split'));"
        " 'index' is ignored.",
        "properties": {"columns": columns, "data": data, "index": {"type": "array"}},
        "required": required,
        "additionalProperties": False,
    }


def _cell_schemas(columnar: Columnar, known: dict[str, Any]) -> dict[str, Any] | None:
    """Each column's value schema, from the row model's JSON Schema; None when a
    column may be left out (then rows are as long as the columns sent)."""
    from pydantic import TypeAdapter

    assert columnar.schema is not None
    if not all(column.required for column in columnar.schema.columns):
        return None
    model = row_model(columnar.predictor.schemas.request)
    assert model is not None
    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    known.update(schema.pop("$defs", {}))
    properties: dict[str, Any] = schema.get("properties", {})
    return {label: properties.get(label, {}) for label in columnar.schema.labels}
