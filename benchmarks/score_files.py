"""File scoring throughput: ``score`` on each engine against the in-process floor.

Builds the fraud example's service, writes a CSV of synthetic transactions, then in one
run, each contender in its own process with the same native thread pools:

- the floor: ``pipeline.score_batch`` on the whole file as one ready DataFrame, in
  memory (no reading, validation or writing: the model and the notebook's code only),
- ``score --engine local`` (this machine, one process),
- ``score --engine dask`` on a LocalCluster of 2 workers,
- ``score --engine spark`` on ``local[2]``,

each end to end (start-up included) from the CSV to a CSV of answers. Prints a Markdown
table with rows/s, the ratio to the floor and the driver's peak RSS, then the target
(local >= 0.7x the floor) met or missed, and the overhead of Dask and Spark: the time
each adds to the local engine's and to the floor's.

    python benchmarks/score_files.py [--rows 200000] [--chunk-rows 10000] [--skip spark]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from serve import NATIVE_THREADS, PACKAGE, build_service  # noqa: E402

CATEGORIES = ["grocery", "fuel", "restaurant", "electronics", "travel", "online_gaming"]
TARGET = 0.7

FLOOR = textwrap.dedent("""
    import resource, sys, time
    import pandas as pd
    from fraud_scoring import pipeline

    pipeline.load_resources()
    frame = pd.read_csv(sys.argv[1]).drop(columns="tx_id")
    pipeline.score_batch([frame.head(100)])  # warm
    start, cpu = time.perf_counter(), time.process_time()
    (answers,) = pipeline.score_batch([frame])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert len(answers) == len(frame)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(elapsed, cpu, peak)
    """)


@dataclass(frozen=True)
class Result:
    name: str
    rows_per_s: float
    seconds: float
    cpu_seconds: float
    peak_mb: float


def write_rows(path: Path, rows: int) -> None:
    rng = np.random.default_rng(15)
    pd.DataFrame(
        {
            "tx_id": [f"tx-{i:08d}" for i in range(rows)],
            "amount": rng.gamma(2.0, 40.0, rows).round(2),
            "merchant_category": rng.choice(CATEGORIES, rows),
            "hour": rng.integers(0, 24, rows),
            "country_mismatch": rng.random(rows) < 0.2,
            "card_age_days": rng.integers(0, 4000, rows),
            "tx_last_24h": rng.integers(0, 12, rows),
        }
    ).to_csv(path, index=False)


def environment(out: Path) -> dict[str, str]:
    return {**os.environ, **NATIVE_THREADS, "PYTHONPATH": str(out / "src")}


def run_child(
    argv: list[str], env: dict[str, str], cwd: Path
) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of the process itself, and its stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout


def measure(
    out: Path, work: Path, rows: int, chunk_rows: int, skip: set[str]
) -> list[Result]:
    source = work / "transactions.csv"
    write_rows(source, rows)
    env = environment(out)
    script = work / "floor.py"
    script.write_text(FLOOR)
    _, _, _, stdout = run_child([sys.executable, str(script), str(source)], env, work)
    floor_seconds, floor_cpu, floor_peak = map(float, stdout.split())
    results = [Result("in-process floor (`score_batch`)", rows / floor_seconds,
                      floor_seconds, floor_cpu, floor_peak)]  # fmt: skip
    engines = {
        "local": ["--engine", "local"],
        "dask": ["--engine", "dask", "--workers", "2"],
        "spark": ["--engine", "spark", "--master", "local[2]"],
    }
    for name, options in engines.items():
        if name in skip:
            continue
        target = work / f"scores-{name}.csv"
        argv = [sys.executable, "-m", PACKAGE, "score", str(source), "-o", str(target),
                "--keep", "tx_id", "--chunk-rows", str(chunk_rows), "-q", *options]  # fmt: skip
        seconds, cpu, peak, _ = run_child(argv, env, work)
        label = {"local": "`score` local", "dask": "`score` Dask, 2 workers",
                 "spark": "`score` Spark local[2]"}[name]  # fmt: skip
        results.append(Result(label, rows / seconds, seconds, cpu, peak))
    return results


def report(results: list[Result], rows: int) -> str:
    floor = results[0].rows_per_s
    floor_cpu = results[0].cpu_seconds
    lines = [
        f"{rows:,} rows, CSV in and out, start-up included; CPU seconds count the",
        "processes waited for (Dask's workers, Spark's JVM); peak RSS of the driver",
        "",
        "| contender | rows/s | seconds | x floor | CPU s | x floor (CPU) | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        lines.append(
            f"| {result.name} | {result.rows_per_s:,.0f} | {result.seconds:.2f} | "
            f"{result.rows_per_s / floor:.2f} | {result.cpu_seconds:.2f} | "
            f"{floor_cpu / max(result.cpu_seconds, 1e-9):.2f} | {result.peak_mb:.0f} |"
        )
    local = next((r for r in results if r.name == "`score` local"), None)
    if local is not None:
        ratio = local.rows_per_s / floor
        verdict = "met" if ratio >= TARGET else "missed"
        lines += ["", f"target local >= {TARGET}x the floor: {verdict} ({ratio:.2f}x)"]
        lines += overheads(results, local, results[0])
    return "\n".join(lines)


def overheads(results: list[Result], local: Result, floor: Result) -> list[str]:
    """Each distributed engine's overhead: the time it adds to the local engine's and
    to the floor's on the same file (start-up, shipping, partitions' round trips)."""
    lines = []
    for result in results:
        if result.name not in ("`score` Dask, 2 workers", "`score` Spark local[2]"):
            continue
        lines.append(
            f"overhead of {result.name}: +{result.seconds - local.seconds:.2f} s "
            f"over the local engine ({result.seconds / local.seconds:.2f}x its time), "
            f"+{result.seconds - floor.seconds:.2f} s over the floor "
            f"({result.seconds / floor.seconds:.2f}x)"
        )
    return ["", *lines] if lines else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument(
        "--skip", action="append", default=[], choices=["dask", "spark"]
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nb2svc-score-bench-") as tmp:
        work = Path(tmp)
        out = build_service(work)
        results = measure(out, work, args.rows, args.chunk_rows, set(args.skip))
    print(report(results, args.rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
