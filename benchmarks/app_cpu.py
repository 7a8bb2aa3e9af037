"""The CPU a single-row request costs the generated service outside the model.

Builds the fraud example's service and calls its ASGI app in this process, with no
network, no worker thread (the executor runs the scoring inline) and the pipeline's
model replaced by a stub that returns the notebook's example answer: what is left is
the service's own work per request, which timings over HTTP on a shared VM cannot
resolve. Measured in the same run, interleaved:

- the floor: what bare_app.py does per request (validate the body with the generated
  schema, build the DataFrame, serialise the answer), called directly;
- the generated app as generated (guards, monitoring with request log, the drift
  window, the prediction lane);
- the same app with the lane's routes removed, so that predictions take FastAPI's
  router, exception middleware and route wrapper like any other route;
- the same app with monitoring and the request log off.

The event loop is uvloop's where it is installed, as under the service's uvicorn.

    python -m benchmarks.app_cpu [--requests 3000] [--rounds 5]   # from the repo root
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import orjson

from benchmarks import serve

Call = Callable[[], Awaitable[None]]


class Inline(Executor):
    """Runs what is submitted at once, in the caller's thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def started_app(package: str, **settings: Any) -> tuple[Any, Any]:
    """A ready app of the package (lifespan run), and its lifespan to close."""
    create_app = importlib.import_module(f"{package}.app").create_app
    settings_class = importlib.import_module(f"{package}.settings").Settings
    app = create_app(settings_class(drift_interval=0, **settings))
    lifespan = app.router.lifespan_context(app)
    return app, lifespan


def caller(app: Any, body: bytes) -> Call:
    """One POST /predict through the ASGI app; fails loudly on anything but a 200."""
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def call() -> None:
        status: list[int] = []

        async def send(event: dict[str, Any]) -> None:
            if event["type"] == "http.response.start":
                status.append(event["status"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/predict",
            "raw_path": b"/predict",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        await app(scope, receive, send)
        if status != [200]:
            raise RuntimeError(f"POST /predict answered {status}")

    return call


def lane_of(app: Any) -> Any:
    """The app's PredictionLane middleware; None in services generated before it."""
    layer = app.middleware_stack
    while layer is not None and type(layer).__name__ != "PredictionLane":
        layer = getattr(layer, "app", None)
    return layer


async def per_request_us(call: Call, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        await call()
    return (time.perf_counter() - started) / requests * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args(argv)
    for name, value in serve.NATIVE_THREADS.items():
        os.environ.setdefault(name, value)
    with tempfile.TemporaryDirectory(prefix="nb2svc-app-cpu-") as tmp:
        out = serve.build_service(Path(tmp))
        body = json.dumps(serve.example_rows(out, 1)).encode()
        sys.path.insert(0, str(out / "src"))
        package = serve.PACKAGE
        pipeline: Any = importlib.import_module(f"{package}.pipeline")
        schemas: Any = importlib.import_module(f"{package}.schemas")
        answer = schemas.EXAMPLE_RESPONSE
        pipeline.load_resources = lambda: None  # no model: the stub answers
        pipeline.score = lambda frame: answer
        # Request log lines are formatted and handed to logging, then dropped.
        access = logging.getLogger(f"{package}.access")
        access.setLevel(logging.INFO)
        access.addHandler(logging.NullHandler())
        access.propagate = False
        from pydantic import TypeAdapter

        rows: TypeAdapter[Any] = TypeAdapter(schemas.PredictRequest)

        async def floor() -> None:  # bare_app.py's _predict, the model stubbed
            orjson.dumps(pipeline.score(schemas.to_raw(rows.validate_json(body))))

        try:
            import uvloop

            run: Callable[[Any], Any] = uvloop.run
        except ImportError:
            run = asyncio.run
        figures = run(measure(package, body, floor, options))
    base = figures["floor"]
    print(
        "CPU per single-row POST /predict outside the model, in process "
        f"({options.rounds} rounds of {options.requests} requests, median)\n"
    )
    print("| path | us per request | vs the floor |\n|---|---:|---:|")
    for label, value in figures.items():  # "no lane" is missing before the lane
        ratio = (
            "" if label == "floor" else f"{value / base:.2f}x, +{value - base:.0f} us"
        )
        print(f"| {LABELS[label]} | {value:.0f} | {ratio} |")
    return 0


LABELS = {
    "floor": "the floor (validate, DataFrame, serialise)",
    "generated": "generated app, as generated",
    "no lane": "generated app, predictions through FastAPI's router",
    "no monitoring": "generated app, monitoring and request log off",
}


async def measure(
    package: str, body: bytes, floor: Call, options: argparse.Namespace
) -> dict[str, float]:
    apps = {
        "generated": started_app(package),
        "no lane": started_app(package),
        "no monitoring": started_app(package, monitoring=False, access_log=False),
    }
    calls: dict[str, Call] = {"floor": floor}
    for name, (app, lifespan) in apps.items():
        await lifespan.__aenter__()
        while not app.state.ready:
            await asyncio.sleep(0.01)
        app.state.executor = Inline()
        if app.state.batcher is not None:
            app.state.batcher._executor = app.state.executor
        calls[name] = caller(app, body)
        await calls[name]()  # builds the middleware stack
        if name == "no lane":
            lane = lane_of(app)
            if lane is None:  # predictions take the router's way anyway
                del calls[name]
                continue
            lane.routes.clear()
    gc.collect()
    gc.freeze()  # as the service does once its model is loaded
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(options.rounds + 1):  # round 0 warms up
        for name, call in calls.items():
            value = await per_request_us(call, options.requests)
            if round_:
                samples[name].append(value)
    for _, lifespan in apps.values():
        await lifespan.__aexit__(None, None, None)
    return {name: statistics.median(values) for name, values in samples.items()}


if __name__ == "__main__":
    raise SystemExit(main())
