"""What the generated service's monitoring costs per request.

Builds an example notebook (the fraud-scoring one by default), then:

- over HTTP: serves the package three times under real uvicorn, one worker each —
  monitoring off (``<PREFIX>MONITORING=false``, ``<PREFIX>ACCESS_LOG=false``), the
  same again as a control, and as generated (metrics, drift window with a background
  measurement every 5 s, JSON request log) — and sends the same requests to all three
  over keep-alive connections in rotated rounds, so that the machine's load hits each
  alike. The two identical servers show how far apart end-to-end figures land by
  chance on this machine; the monitored one's difference means something only beyond
  that.
- in process: times the monitoring code itself inside real requests through the
  monitored ASGI app (the middleware around the rest of the app, and the hook that
  feeds the drift window), which noise of that size cannot hide;
- and one drift measurement on a full window, which runs off the request path.

    python benchmarks/monitoring.py [--requests 3000] [--rounds 9] [--notebook NB]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import launched

REPO = Path(__file__).resolve().parents[1]
DEFAULT_NOTEBOOK = REPO / "examples" / "notebooks" / "fraud_scoring.ipynb"


def build(notebook: Path, out: Path) -> str:
    """Build the service; returns its package name."""
    subprocess.run(
        [sys.executable, "-m", "nb2svc", "build", str(notebook), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return next(
        p.name
        for p in sorted((out / "src").iterdir())
        if p.is_dir() and not p.name.endswith(".egg-info")
    )


def metric(text: str, name: str, route: str) -> float:
    """The sum of a metric's samples for one route, from Prometheus' text format."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and f'route="{route}"' in line
    )


@contextlib.contextmanager
def serving(out: Path, package: str, env: dict[str, str], log: Path) -> Iterator[str]:
    command = [sys.executable, "-m", package, "serve", "--workers", "1"]
    environment = {**os.environ, "PYTHONPATH": str(out / "src"), **env}

    def ready(client: httpx.Client, base: str) -> bool:
        return client.get(f"{base}/readyz", timeout=1).status_code == 200

    with launched(command, environment, log, ready, poll=0.1) as (base, _, _):
        yield base


def timed(client: httpx.Client, body: bytes, count: int) -> list[float]:
    headers = {"Content-Type": "application/json"}
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.post("/predict", content=body, headers=headers)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(response.text)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_us": statistics.median(ordered) * 1e6,
        "mean_us": statistics.fmean(ordered) * 1e6,
        "p99_us": ordered[int(len(ordered) * 0.99) - 1] * 1e6,
    }


def print_table(title: str, runs: dict[str, list[float]]) -> dict[str, Any]:
    """Latency of each configuration, and each one's cost against the first."""
    figures = {name: summary(times) for name, times in runs.items()}
    base_name = next(iter(runs))
    base = figures[base_name]["median_us"]
    count = len(runs[base_name])
    print(f"\n{title} ({count} requests each)")
    print(f"  {'':28} {'median':>10} {'mean':>10} {'p99':>10} {'vs ' + base_name:>14}")
    for name, row in figures.items():
        versus = "" if name == base_name else f"{row['median_us'] - base:+10.1f}us"
        print(
            f"  {name:28} {row['median_us']:8.1f}us {row['mean_us']:8.1f}us "
            f"{row['p99_us']:8.1f}us {versus:>14}"
        )
    return figures


def over_http(
    out: Path, package: str, prefix: str, body: bytes, requests: int, rounds: int
) -> dict[str, Any]:
    """Three servers, one worker each: monitoring off, the same again (the noise
    floor: two identical servers differ by this much), monitoring on."""
    logs = Path(tempfile.mkdtemp(prefix="nb2svc-bench-"))
    off_env = {f"{prefix}MONITORING": "false", f"{prefix}ACCESS_LOG": "false"}
    configs = {
        "monitoring off": off_env,
        "monitoring off (2nd server)": off_env,
        "monitoring on": {f"{prefix}DRIFT_INTERVAL": "5"},  # background drift too
    }
    runs: dict[str, list[float]] = {name: [] for name in configs}
    with contextlib.ExitStack() as stack:
        clients = {}
        for index, (name, env) in enumerate(configs.items()):
            url = stack.enter_context(serving(out, package, env, logs / f"{index}.log"))
            clients[name] = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        for client in clients.values():  # warm up: imports, caches, connection
            timed(client, body, 300)
        per_round = max(1, requests // rounds)
        names = list(clients)
        for index in range(rounds):  # rotated, so machine load hits all alike
            for name in names[index % 3 :] + names[: index % 3]:
                runs[name] += timed(clients[name], body, per_round)
        on = clients["monitoring on"]
        scraped = on.get("/metrics").text
        started = time.perf_counter()
        drift = on.get("/monitoring/drift").json()
        drift_seconds = time.perf_counter() - started
    figures = print_table("Over HTTP (uvicorn, 1 worker each, keep-alive)", runs)
    total = metric(scraped, "http_request_duration_seconds_sum", "/predict")
    count = metric(scraped, "http_request_duration_seconds_count", "/predict")
    if count:
        print(
            f"  server-side mean of /predict, from its own histogram: "
            f"{total / count * 1e6:.1f} us over {count:.0f} requests"
        )
    lines = (logs / "2.log").read_text().count('"event":"request"')
    print(f"  JSON request log lines written by the monitored service: {lines}")
    window = drift.get("window", {})
    print(
        f"  drift measurement on a full window ({window.get('rows')} rows, off the "
        f"request path, in a fresh GET /monitoring/drift): {drift_seconds * 1000:.1f} ms"
    )
    figures["drift_ms"] = drift_seconds * 1000
    return figures


class Stopwatch:
    """Wraps a callable or an ASGI app and adds up the time spent in it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1

    async def asgi(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        try:
            await self.inner(scope, receive, send)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


def in_process(out: Path, package: str, body: bytes, requests: int) -> dict[str, Any]:
    """The monitoring code's own time per request, measured inside the app.

    Real requests go through the monitored ASGI app (no network); stopwatches time
    the monitoring middleware around the rest of the app, and the hook that puts a
    scored request into the drift window. End-to-end timings of whole requests
    differ by more than this between two identical apps on a shared machine."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")  # as `serve` sets them (NATIVE_THREADS=1)
    sys.path.insert(0, str(out / "src"))
    create_app = importlib.import_module(f"{package}.app").create_app
    settings = importlib.import_module(f"{package}.settings").Settings
    try:  # services generated before nb2svc-runtime carry their own
        monitoring_module = importlib.import_module(f"{package}._monitoring")
    except ModuleNotFoundError:
        monitoring_module = importlib.import_module("nb2svc_runtime.monitoring")
    app = create_app(settings(drift_interval=0))
    # The JSON lines are formatted and handed to logging, then dropped: no console.
    access = logging.getLogger(f"{package}.access")
    access.setLevel(logging.INFO)
    access.addHandler(logging.NullHandler())
    access.propagate = False
    headers = {"Content-Type": "application/json"}

    async def run() -> dict[str, float]:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            ) as client,
        ):
            while not app.state.ready:
                await asyncio.sleep(0.01)
            for _ in range(200):  # warm up, and build the middleware stack
                await client.post("/predict", content=body, headers=headers)
            outer = app.middleware_stack
            while not isinstance(outer.app, monitoring_module.MonitoringMiddleware):
                outer = outer.app
            middleware = outer.app
            whole = Stopwatch(middleware)
            inside = Stopwatch(middleware.app)
            outer.app, middleware.app = whole.asgi, inside.asgi
            monitor = app.state.monitor
            observe = monitor.observe = Stopwatch(monitor.observe)
            started = time.perf_counter()
            for _ in range(requests):
                await client.post("/predict", content=body, headers=headers)
            elapsed = time.perf_counter() - started
        per_request = 1e6 / requests
        return {
            "request_us": elapsed * per_request,
            "middleware_us": (whole.seconds - inside.seconds) * per_request,
            "observe_us": observe.seconds * per_request,
        }

    figures = asyncio.run(run())
    total = figures["middleware_us"] + figures["observe_us"]
    print(f"\nIn process: monitoring's own time per request ({requests} requests)")
    print(
        "  middleware (timing, counters, latency histogram, JSON log line): "
        f"{figures['middleware_us']:.1f} us"
    )
    print(f"  drift window and prediction count: {figures['observe_us']:.1f} us")
    print(
        f"  total {total:.1f} us of a {figures['request_us']:.0f} us request "
        f"through the ASGI app ({total / figures['request_us']:.1%})"
    )
    figures["monitoring_us"] = total
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--out", type=Path, help="build here (default: a temp dir)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="nb2svc-bench-")) / "service"
    print(f"building {args.notebook.name} into {out}", flush=True)
    package = build(args.notebook, out)
    prefix = package.upper() + "_"
    golden = json.loads((out / "tests" / "golden" / "examples.json").read_text())
    body = json.dumps(golden["examples"][0]["input"]).encode()
    print(f"request body: {len(body)} bytes, one /predict per request")
    over_http(out, package, prefix, body, args.requests, args.rounds)
    in_process(out, package, body, args.requests)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
