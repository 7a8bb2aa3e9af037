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

With ``--baseline REV`` the same service is also built by the nb2svc of git revision REV
(a worktree in a temporary folder, the package named ``fraud_scoring_base`` so both
import in this process) and its app measured in the same rounds: the table gains a
"vs REV" column and a target, this tree's app within 10% of REV's.

    python -m benchmarks.app_cpu [--requests 3000] [--rounds 5] [--baseline REV]
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
from contextlib import ExitStack
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


def stubbed(package: str) -> tuple[Any, Any]:
    """The package's pipeline (its model replaced by the example answer) and schemas;
    its request log formatted and handed to logging, then dropped."""
    pipeline: Any = importlib.import_module(f"{package}.pipeline")
    schemas: Any = importlib.import_module(f"{package}.schemas")
    answer = schemas.EXAMPLE_RESPONSE
    pipeline.load_resources = lambda: None  # no model: the stub answers
    pipeline.score = lambda frame: answer
    access = logging.getLogger(f"{package}.access")
    access.setLevel(logging.INFO)
    access.addHandler(logging.NullHandler())
    access.propagate = False
    return pipeline, schemas


#: The baseline's package name: both builds are imported by this one process.
BASE_PACKAGE = f"{serve.PACKAGE}_base"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure the app as the nb2svc of git revision REV builds it",
    )
    options = parser.parse_args(argv)
    for name, value in serve.NATIVE_THREADS.items():
        os.environ.setdefault(name, value)
    with (
        tempfile.TemporaryDirectory(prefix="nb2svc-app-cpu-") as tmp,
        ExitStack() as stack,
    ):
        out = serve.build_service(Path(tmp) / "this")
        body = json.dumps(serve.example_rows(out, 1)).encode()
        sys.path[:0] = serve.service_path(out)
        package = serve.PACKAGE
        baseline: tuple[str, str] | None = None
        if options.baseline is not None:
            tree, rev = stack.enter_context(serve.checkout(options.baseline))
            old = serve.build_service(Path(tmp) / "base", tree / "src", BASE_PACKAGE)
            sys.path[:0] = serve.service_path(old)
            stubbed(BASE_PACKAGE)
            baseline = (BASE_PACKAGE, rev)
        pipeline, schemas = stubbed(package)
        from pydantic import TypeAdapter

        rows: TypeAdapter[Any] = TypeAdapter(schemas.PredictRequest)

        async def floor() -> None:  # bare_app.py's _predict, the model stubbed
            orjson.dumps(pipeline.score(schemas.to_raw(rows.validate_json(body))))

        try:
            import uvloop

            run: Callable[[Any], Any] = uvloop.run
        except ImportError:
            run = asyncio.run
        figures = run(measure(package, body, floor, options, baseline))
    base = figures["floor"]
    print(
        "CPU per single-row POST /predict outside the model, in process "
        f"({options.rounds} rounds of {options.requests} requests, median)\n"
    )
    label = baseline[1] if baseline else None
    versus = f" vs {label} |" if label else ""
    print(f"| path | us per request | vs the floor |{versus}")
    print("|---|---:|---:|" + ("---:|" if label else ""))
    for name, value in figures.items():  # "no lane" is missing before the lane
        ratio = (
            "" if name == "floor" else f"{value / base:.2f}x, +{value - base:.0f} us"
        )
        row = f"| {LABELS.get(name, name)} | {value:.0f} | {ratio} |"
        if label:
            old = figures.get(f"{name} ({label})")
            row += f" {value / old:.2f}x, {value - old:+.0f} us |" if old else " |"
        print(row)
    if label:
        new, old = figures["generated"], figures[f"generated ({label})"]
        met = new <= old * (1 + WITHIN)
        print(
            f"\n[{'met' if met else 'MISSED'}] generated app within {WITHIN:.0%} of "
            f"{label}: {(new / old - 1) * 100:+.1f}% ({new:.0f} vs {old:.0f} us)"
        )
    return 0


#: The baseline target: this tree's app within 10% of the baseline's CPU.
WITHIN = 0.10


LABELS = {
    "floor": "the floor (validate, DataFrame, serialise)",
    "generated": "generated app, as generated",
    "no lane": "generated app, predictions through FastAPI's router",
    "no monitoring": "generated app, monitoring and request log off",
}


async def measure(
    package: str,
    body: bytes,
    floor: Call,
    options: argparse.Namespace,
    baseline: tuple[str, str] | None = None,
) -> dict[str, float]:
    """Median µs per request of each app; with ``baseline`` (its package and label),
    its app as generated too, named ``generated (<label>)``."""
    apps = {
        "generated": started_app(package),
        "no lane": started_app(package),
        "no monitoring": started_app(package, monitoring=False, access_log=False),
    }
    if baseline is not None:
        apps[f"generated ({baseline[1]})"] = started_app(baseline[0])
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
