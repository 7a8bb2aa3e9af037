"""What the generated service's monitoring costs per request.

Builds an example notebook (the fraud-scoring one by default), then serves the same
package twice under real uvicorn, one worker each: once as generated (metrics, drift
window, JSON request log: all on) and once with ``<PREFIX>MONITORING=false`` and
``<PREFIX>ACCESS_LOG=false``. It sends the same requests to both over keep-alive
connections, in interleaved rounds so that a change in the machine's load hits both
alike, and prints the per-request latency of each, the difference and the ratio. It
also times the app alone, in process, without HTTP (the same request through the ASGI
app with and without monitoring), and one drift measurement on a full window, which
runs off the request path.

    python benchmarks/monitoring.py [--requests 4000] [--rounds 8] [--notebook NB]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
DEFAULT_NOTEBOOK = REPO / "examples" / "notebooks" / "fraud_scoring.ipynb"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    port = free_port()
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                package,
                "serve",
                "--workers",
                "1",
                "--port",
                str(port),
            ],
            env={**os.environ, "PYTHONPATH": str(out / "src"), **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=out.parent,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(log.read_text())
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                time.sleep(0.1)
            else:
                raise RuntimeError("the service did not start")
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


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


def print_comparison(title: str, on: list[float], off: list[float]) -> dict[str, Any]:
    a, b = summary(on), summary(off)
    print(f"\n{title} ({len(on)} requests each)")
    print(f"  {'':22} {'median':>10} {'mean':>10} {'p99':>10}")
    for name, figures in (("monitoring off", b), ("monitoring on", a)):
        print(
            f"  {name:22} {figures['median_us']:8.1f}us {figures['mean_us']:8.1f}us "
            f"{figures['p99_us']:8.1f}us"
        )
    cost = a["median_us"] - b["median_us"]
    ratio = a["median_us"] / b["median_us"]
    print(f"  cost per request (median): {cost:+.1f} us, ratio on/off: {ratio:.3f}")
    return {"on": a, "off": b, "cost_us": cost, "ratio": ratio}


def over_http(
    out: Path, package: str, prefix: str, body: bytes, requests: int, rounds: int
) -> dict[str, Any]:
    logs = Path(tempfile.mkdtemp(prefix="nb2svc-bench-"))
    off_env = {f"{prefix}MONITORING": "false", f"{prefix}ACCESS_LOG": "false"}
    on_env = {f"{prefix}DRIFT_INTERVAL": "5"}  # a background measurement too
    on_times: list[float] = []
    off_times: list[float] = []
    with (
        serving(out, package, on_env, logs / "on.log") as on_url,
        serving(out, package, off_env, logs / "off.log") as off_url,
        httpx.Client(base_url=on_url, timeout=30) as on,
        httpx.Client(base_url=off_url, timeout=30) as off,
    ):
        timed(on, body, 300)  # warm up: imports, caches, connection
        timed(off, body, 300)
        per_round = max(1, requests // rounds)
        for index in range(rounds):
            first, second = (on, off) if index % 2 else (off, on)
            a = timed(first, body, per_round)
            b = timed(second, body, per_round)
            if first is on:
                on_times += a
                off_times += b
            else:
                off_times += a
                on_times += b
        scraped = on.get("/metrics").text
        started = time.perf_counter()
        drift = on.get("/monitoring/drift").json()
        drift_seconds = time.perf_counter() - started
    figures = print_comparison(
        "Over HTTP (uvicorn, 1 worker, keep-alive)", on_times, off_times
    )
    total = metric(scraped, "http_request_duration_seconds_sum", "/predict")
    count = metric(scraped, "http_request_duration_seconds_count", "/predict")
    if count:
        print(
            f"  server-side mean of /predict, from its own histogram: "
            f"{total / count * 1e6:.1f} us over {count:.0f} requests"
        )
    lines = (logs / "on.log").read_text().count('"event":"request"')
    print(f"  JSON request log lines written by the monitored service: {lines}")
    window = drift.get("window", {})
    print(
        f"  drift measurement on a full window ({window.get('rows')} rows, off the "
        f"request path, in a fresh GET /monitoring/drift): {drift_seconds * 1000:.1f} ms"
    )
    figures["drift_ms"] = drift_seconds * 1000
    return figures


def in_process(out: Path, package: str, body: bytes, requests: int) -> dict[str, Any]:
    """The ASGI app alone: same request, monitoring on and off, no network."""
    sys.path.insert(0, str(out / "src"))
    app_module = importlib.import_module(f"{package}.app")
    settings_module = importlib.import_module(f"{package}.settings")
    create_app = app_module.create_app
    settings_cls = settings_module.Settings
    quiet = {"drift_interval": 0}
    apps = {
        "on": create_app(settings_cls(**quiet)),
        "off": create_app(settings_cls(monitoring=False, access_log=False, **quiet)),
    }
    import logging

    logging.getLogger(f"{package}.access").disabled = True  # no console output

    async def run() -> dict[str, list[float]]:
        results: dict[str, list[float]] = {}
        transports = {name: httpx.ASGITransport(app=app) for name, app in apps.items()}
        for name, app in apps.items():
            ctx = app.router.lifespan_context(app)
            await ctx.__aenter__()
            while not app.state.ready:
                await asyncio.sleep(0.01)
            results[name] = []
            app.state._bench_ctx = ctx
        clients = {
            name: httpx.AsyncClient(transport=t, base_url="http://bench")
            for name, t in transports.items()
        }
        headers = {"Content-Type": "application/json"}
        for name in ("on", "off"):
            for _ in range(200):
                await clients[name].post("/predict", content=body, headers=headers)
        rounds = 8
        for index in range(rounds):
            order = ("on", "off") if index % 2 else ("off", "on")
            for name in order:
                for _ in range(requests // rounds):
                    started = time.perf_counter()
                    await clients[name].post("/predict", content=body, headers=headers)
                    results[name].append(time.perf_counter() - started)
        for name, app in apps.items():
            await clients[name].aclose()
            await app.state._bench_ctx.__aexit__(None, None, None)
        return results

    results = asyncio.run(run())
    return print_comparison(
        "In process (ASGI app called directly, no network)",
        results["on"],
        results["off"],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=8)
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
