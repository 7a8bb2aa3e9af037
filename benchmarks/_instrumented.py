"""The fraud service's ``serve`` command with timestamps at a request's seams.

Used by breakdown.py, one request at a time: wraps the app, the endpoint's scoring
step, the worker thread's function, ``schemas.to_raw`` and ``pipeline.score`` of the
generated package (on PYTHONPATH), and at exit writes every complete ``/predict``
request's marks to the JSON file named by NB2SVC_SEGMENTS.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from typing import Any

import fraud_scoring.app as app_module  # type: ignore[import-not-found]
from fraud_scoring import __main__ as service  # type: ignore[import-not-found]
from fraud_scoring import pipeline, schemas  # type: ignore[import-not-found]

MARKS = (
    "asgi_start",
    "endpoint_score",
    "thread_start",
    "raw_start",
    "raw_end",
    "score_start",
    "score_end",
    "thread_end",
    "endpoint_done",
    "body_sent",
    "asgi_end",
)
current: dict[str, float] = {}
timed: dict[str, list[float]] = {name: [] for name in MARKS}


def around(function: Any, before: str, after: str) -> Any:
    def wrapper(*args: Any) -> Any:
        current[before] = time.perf_counter()
        result = function(*args)
        current[after] = time.perf_counter()
        return result

    return wrapper


pipeline.score = around(pipeline.score, "score_start", "score_end")
schemas.to_raw = around(schemas.to_raw, "raw_start", "raw_end")
predict_one = app_module._predict_one
app_module._predict_one = around(predict_one, "thread_start", "thread_end")
score_step = app_module._score


async def _score(request: Any, predict: Any, body: Any) -> Any:
    current["endpoint_score"] = time.perf_counter()
    response = await score_step(request, predict, body)
    current["endpoint_done"] = time.perf_counter()
    return response


app_module._score = _score
inner = app_module.app


async def app(scope: Any, receive: Any, send: Any) -> None:
    current.clear()
    current["asgi_start"] = time.perf_counter()

    async def send_and_mark(message: Any) -> None:
        if message["type"] == "http.response.body":
            current["body_sent"] = time.perf_counter()
        await send(message)

    await inner(scope, receive, send_and_mark)
    current["asgi_end"] = time.perf_counter()
    if (
        scope["type"] == "http"
        and scope["path"] == "/predict"
        and len(current) == len(MARKS)
    ):
        for name in MARKS:
            timed[name].append(current[name])


app_module.app = app  # what uvicorn imports: the module is loaded already


def write() -> None:
    with open(os.environ["NB2SVC_SEGMENTS"], "w", encoding="utf-8") as sink:
        json.dump(timed, sink)


atexit.register(write)
sys.exit(service.main(sys.argv[1:]))
