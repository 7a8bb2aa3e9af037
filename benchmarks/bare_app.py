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

import asyncio
import gc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from fraud_scoring import pipeline, schemas  # type: ignore[import-not-found]
from pydantic import TypeAdapter

pipeline.load_resources()
gc.collect()  # as the generated service does once its model is loaded
gc.freeze()
_ROWS: TypeAdapter[Any] = TypeAdapter(schemas.PredictRequest)
_EXECUTOR = ThreadPoolExecutor(1, thread_name_prefix="predict")
_HEADERS = [(b"content-type", b"application/json")]


def _predict(body: bytes) -> bytes:
    rows = _ROWS.validate_json(body, strict=True)
    return orjson.dumps(pipeline.score(schemas.to_raw(rows)))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # lifespan: nothing to set up
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    loop = asyncio.get_running_loop()
    content = await loop.run_in_executor(_EXECUTOR, _predict, b"".join(chunks))
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": content})
