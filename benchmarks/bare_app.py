"""The floor: the least any service around the same model does, as a bare ASGI app.

No framework, routing, guards, error handling or monitoring: uvicorn (uvloop and
httptools, as for the other servers) hands the body to this function, which in a
worker thread validates it with the generated package's own schema, builds the
notebook's DataFrame, calls the pipeline and serialises the answer with orjson, then
sends it. What a served request costs on top of the in-process call here is what the
machine charges for HTTP on loopback, a thread hand-off and the request's own data;
no service built on uvicorn can do less per request.

    PYTHONPATH=build/fraud_scoring/src uvicorn benchmarks.bare_app:app
"""

from __future__ import annotations

import gc
from typing import Any

import orjson
from fraud_scoring import pipeline, schemas  # type: ignore[import-not-found]
from pydantic import TypeAdapter

from benchmarks.bare_asgi import answer

pipeline.load_resources()
gc.collect()  # as the generated service does once its model is loaded
gc.freeze()
_ROWS: TypeAdapter[Any] = TypeAdapter(schemas.PredictRequest)
_HEADERS = [(b"content-type", b"application/json")]


def _predict(body: bytes) -> bytes:
    rows = _ROWS.validate_json(body, strict=True)
    return orjson.dumps(pipeline.score(schemas.to_raw(rows)))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await answer(scope, receive, send, _predict, _HEADERS)
