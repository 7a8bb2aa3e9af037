"""The prediction endpoints: strict validation from bytes, row limits, scoring.

Request bodies are read by the guard middleware (size, deadline, nesting), parsed and
validated in one pass from bytes by pydantic, turned into the notebook's input form
and scored in a worker thread, and the answer serialised there with orjson: the event
loop only moves bytes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .batching import MicroBatcher
from .errors import RequestError
from .log import logger
from .spec import IOSpec, Pipeline, Schemas

JSON = "application/json"
MAX_ERROR_DETAILS = 50


def adapter(annotation: Any) -> TypeAdapter[Any]:
    """A validator refusing NaN and Infinity wherever the schema wants a number."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return TypeAdapter(annotation)  # models carry allow_inf_nan=False themselves
    return TypeAdapter(annotation, config=ConfigDict(allow_inf_nan=False))


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # e.g. an integer beyond 64 bits
        return json.dumps(value).encode()


def validation_details(exc: ValidationError) -> list[dict[str, object]]:
    """Where and why; never pydantic's "input" or "ctx", which echo the values."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    return [
        {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in errors[:MAX_ERROR_DETAILS]
    ]


def _matrix(item: Any) -> bool:
    """Whether a validated input is an array of rows (a list of lists)."""
    return type(item) is list and bool(item) and type(item[0]) is list


class NotRowWise(ValueError):
    """The pipeline's output did not have one item per input row."""


class Predictor:
    """One per app: validates, scores in the app's executor, answers with bytes.

    ``pipeline`` is read at every call (``pipeline.score``), so a test may replace a
    function of the generated pipeline module.
    """

    def __init__(self, pipeline: Pipeline, schemas: Schemas, io: IOSpec) -> None:
        self.pipeline, self.schemas, self.io = pipeline, schemas, io
        self.frames = io.kind == "frame"
        self.arrays = io.kind == "array"
        # A table needs at least one row.
        single: Any = (
            Annotated[schemas.request, Field(min_length=1)]
            if self.frames
            else schemas.request
        )
        self.one, self.many = adapter(single), adapter(list[single])

    # In the worker thread.

    def predict_one(self, body: Any) -> bytes:
        return dumps(self.pipeline.score(self.schemas.to_raw(body)))

    def score_parts(self, parts: list[Any]) -> list[Any]:
        """Every row of every part in one frame, one vectorised call, split by part."""
        rows = [row for part in parts for row in part]
        result = self.pipeline.score(self.schemas.to_raw(rows))
        if not isinstance(result, list) or len(result) != len(rows):
            raise NotRowWise
        outputs, start = [], 0
        for part in parts:
            outputs.append(result[start : start + len(part)])
            start += len(part)
        return outputs

    def predict_parts(self, parts: list[Any]) -> list[bytes]:
        return [dumps(output) for output in self.score_parts(parts)]

    def predict_many(self, items: list[Any]) -> bytes:
        if self.frames and self.io.vectorised_batch:
            try:
                return dumps(self.score_parts(items))
            except NotRowWise:
                pass
        to_raw = self.schemas.to_raw
        return dumps(self.pipeline.score_batch([to_raw(item) for item in items]))

    def rows(self, items: list[Any]) -> int:
        """The rows a batch holds: a table's rows, a 2-D array's rows, else one per
        item (the schema gives every array item the same number of dimensions)."""
        if self.frames or (self.arrays and items and _matrix(items[0])):
            return sum(map(len, items))
        return len(items)

    # On the event loop.

    async def parse(self, request: Request, validator: TypeAdapter[Any]) -> Any:
        if not request.app.state.ready:
            raise RequestError(
                503,
                "not_ready",
                "The model is still loading; retry shortly.",
                headers={"Retry-After": "5"},
            )
        media_type = request.headers.get("content-type", "").partition(";")[0]
        media_type = media_type.strip().lower()
        if media_type != JSON and not media_type.endswith("+json"):
            raise RequestError(
                415,
                "unsupported_media_type",
                "The request body must be application/json.",
            )
        try:
            # Strict: a value must have the type the schema gives it (no "1" for 1).
            return validator.validate_json(await request.body(), strict=True)
        except ValidationError as exc:
            count = exc.error_count()
            raise RequestError(
                422,
                "invalid_request",
                f"The request body is invalid ({count} error"
                f"{'' if count == 1 else 's'}).",
                details=validation_details(exc),
            ) from None

    @staticmethod
    def check_rows(request: Request, rows: int) -> None:
        limit = request.app.state.settings.max_batch_rows
        if rows > limit:
            raise RequestError(
                413,
                "too_many_rows",
                f"The request holds {rows} rows; at most {limit} are accepted.",
            )

    async def score(self, request: Request, body: Any, batch: bool) -> Response:
        """Run the notebook's code in a worker thread: the event loop stays free."""
        state = request.app.state
        batcher: MicroBatcher | None = state.batcher
        try:
            if batcher is not None and not batch:
                content = await batcher.score(body)
            else:
                predict = self.predict_many if batch else self.predict_one
                loop = asyncio.get_running_loop()
                content = await loop.run_in_executor(state.executor, predict, body)
        except Exception as exc:
            # The log line names the exception type, not its message or traceback:
            # both may hold input values. DEBUG_ERRORS logs them when acceptable.
            logger.error(
                "prediction failed: %s (request_id=%s)",
                type(exc).__name__,
                request.state.request_id,
                exc_info=exc if state.settings.debug_errors else None,
            )
            raise RequestError(
                500,
                "prediction_failed",
                "The model could not produce a prediction for this request.",
            ) from None
        # Into the drift window: a reference to the body and the bytes, under a lock.
        state.monitor.observe(request, body, content, batch)
        return Response(content, media_type=JSON)

    async def predict(self, request: Request) -> Response:
        body = await self.parse(request, self.one)
        if self.frames or (self.arrays and _matrix(body)):
            self.check_rows(request, len(body))
        return await self.score(request, body, False)

    async def predict_batch(self, request: Request) -> Response:
        items = await self.parse(request, self.many)
        self.check_rows(request, self.rows(items))
        if not items:
            return Response(b"[]", media_type=JSON)
        return await self.score(request, items, True)
