"""The fraud service's ``serve`` command with timestamps at a request's seams.

Used by breakdown.py, one request at a time: wraps the app, the runtime Predictor's
scoring step and worker-thread function, and the generated package's ``to_raw`` and
``pipeline.score`` (the package on PYTHONPATH), and at exit writes every complete
``/predict`` request's marks to the JSON file named by NB2SVC_SEGMENTS.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import sys
import time
from typing import Any

from nb2svc_runtime.predict import Predictor

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


# Patched before the app exists, so that the micro-batcher's references are timed too.
predict_one = Predictor.predict_one
Predictor.predict_one = around(predict_one, "thread_start", "thread_end")  # type: ignore[method-assign]
score_step = Predictor.score


async def _score(self: Predictor, request: Any, body: Any, batch: bool) -> Any:
    current["endpoint_score"] = time.perf_counter()
    response = await score_step(self, request, body, batch)
    current["endpoint_done"] = time.perf_counter()
    return response


Predictor.score = _score  # type: ignore[method-assign]

import fraud_scoring.app as app_module  # type: ignore[import-not-found]  # noqa: E402
from fraud_scoring import __main__ as service  # type: ignore[import-not-found]  # noqa: E402
from fraud_scoring import pipeline  # type: ignore[import-not-found]  # noqa: E402

pipeline.score = around(pipeline.score, "score_start", "score_end")
inner = app_module.app
predictor: Predictor = inner.state.predictor
predictor.schemas = dataclasses.replace(
    predictor.schemas, to_raw=around(predictor.schemas.to_raw, "raw_start", "raw_end")
)


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
