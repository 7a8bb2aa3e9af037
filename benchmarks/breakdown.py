"""Where a single-row request's time goes in the generated service, at one connection.

Builds the fraud example's service, serves it with one worker through
``_instrumented.py`` (the service's own ``serve`` command, with timestamps taken at the
seams of a request: the ASGI call, the endpoint's hand-off to the worker thread,
building the DataFrame, the pipeline call, the answer's JSON, the hand-off back, the
response and what follows it), drives it with ``wrk`` at one connection and prints the
median of each segment next to the in-process pipeline call and wrk's p50. The
timestamps cost a few microseconds each, so the segments add up to a little more than
an uninstrumented request.

    python -m benchmarks.breakdown [--duration 20]     # from the repository root
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import serve

HERE = Path(__file__).resolve().parent
#: (segment, from mark, to mark), in the order a request passes them.
SEGMENTS = (
    ("HTTP in, guards, body, validation", "asgi_start", "endpoint_score"),
    ("hand-off to the worker thread", "endpoint_score", "thread_start"),
    ("building the DataFrame (to_raw)", "raw_start", "raw_end"),
    ("the pipeline call", "score_start", "score_end"),
    ("the answer's JSON", "score_end", "thread_end"),
    ("hand-off back, drift window, Response", "thread_end", "endpoint_done"),
    ("response out through the middleware", "endpoint_done", "body_sent"),
    ("after the response: metrics, request log", "body_sent", "asgi_end"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of load")
    options = parser.parse_args(argv)
    if not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk)")
    for name, value in serve.NATIVE_THREADS.items():
        os.environ.setdefault(name, value)
    with tempfile.TemporaryDirectory(prefix="nb2svc-breakdown-") as tmp:
        work = Path(tmp)
        out = serve.build_service(work)
        rows = serve.example_rows(out, 1)
        single = work / "single.json"
        single.write_text(json.dumps(rows))
        dump = work / "segments.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith(serve.PREFIX)}
        env["PYTHONPATH"] = os.pathsep.join([str(out / "src"), str(serve.REPO)])
        env["NB2SVC_SEGMENTS"] = str(dump)
        command = [sys.executable, str(HERE / "_instrumented.py"), "serve"]
        command += ["--host", "127.0.0.1", "--workers", "1"]
        with serve.running(command, env, single.read_bytes(), work / "log") as (url, _):
            serve.drive("wrk", f"{url}/predict", single, 1, 3)  # warm-up
            served = serve.drive("wrk", f"{url}/predict", single, 1, options.duration)
        marks: dict[str, list[float]] = json.loads(dump.read_text())

        sys.path.insert(0, str(out / "src"))
        from fraud_scoring import pipeline, schemas  # type: ignore[import-not-found]
        from pydantic import TypeAdapter

        pipeline.load_resources()
        gc.collect()
        gc.freeze()
        frame = schemas.to_raw(
            TypeAdapter(schemas.PredictRequest).validate_python(rows)
        )
        inproc = serve.in_process_segment(pipeline.score, frame, options.duration)

    def median_ms(start: str, end: str) -> float:
        spans = sorted(b - a for a, b in zip(marks[start], marks[end], strict=True))
        return spans[len(spans) // 2] * 1000

    requests = len(marks["asgi_start"])
    print(f"generated service, 1 worker, 1 connection, {requests} requests timed\n")
    print("| segment | median ms |\n|---|---:|")
    total = 0.0
    for label, start, end in SEGMENTS:
        value = median_ms(start, end)
        total += value
        print(f"| {label} | {value:.3f} |")
    pipeline_ms = median_ms("score_start", "score_end")
    wrk_ms = served["p50_us"] / 1000
    inproc_ms = inproc["p50_us"] / 1000
    rows_: list[tuple[str, Any]] = [
        ("sum of the segments", total),
        ("of which outside the pipeline call", total - pipeline_ms),
        ("p50 seen by wrk", wrk_ms),
        ("in-process `pipeline.score`, p50", inproc_ms),
        ("wrk p50 over in-process", wrk_ms - inproc_ms),
    ]
    for label, value in rows_:
        print(f"| {label} | {value:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
