"""The OpenAPI document: request bodies from the validators the routes use."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import TypeAdapter

from .predict import JSON


def request_body(
    adapter: TypeAdapter[Any], example: Any, summary: str, known: dict[str, Any]
) -> dict[str, Any]:
    """The request body's OpenAPI, from the same validator the route uses; the models
    it refers to are added to ``known`` (the app's own, added to the document)."""
    schema = adapter.json_schema(ref_template="#/components/schemas/{model}")
    known.update(schema.pop("$defs", {}))
    examples = {"notebook": {"summary": summary, "value": example}}
    content = {"schema": schema, "examples": examples}
    return {"requestBody": {"required": True, "content": {JSON: content}}}


def install_openapi(app: FastAPI, known: dict[str, Any]) -> None:
    """FastAPI's document, with the request bodies' models among its schemas."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = FastAPI.openapi(app)
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in known.items():
                schemas.setdefault(name, schema)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
