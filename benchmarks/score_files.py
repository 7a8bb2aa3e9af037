"""File scoring throughput: ``score`` on each engine against the in-process floor.

Builds the fraud example's service, writes a CSV of synthetic transactions (1,000,000
rows by default: bulk scoring, where start-up is a small part), then in one run, each
contender in its own process with the same native thread pools:

- the floor: ``pipeline.score_batch`` on the whole file as one ready DataFrame, in
  memory (no reading, validation or writing: the model and the notebook's code only),
- ``score --engine local`` (this machine, one process),
- ``score --engine dask`` on a LocalCluster of 2 workers,
- ``score --engine spark`` on ``local[2]``,

each from the CSV to a CSV of answers. For each ``score`` run two figures, both
against the floor's rows/s:

- steady state: the rows over the seconds the command itself reports with ``--stats``
  (from the engine ready, i.e. the model loaded or the cluster up, to the output
  closed): reading, validating, scoring and writing, start-up excluded;
- end to end: the rows over the process's wall time, start-up included;

and the start-up (end to end minus steady state: the interpreter, imports, loading
the model or starting the cluster, and exiting). Prints the load average before and
after, a Markdown table (with CPU seconds and the driver's peak RSS), then the target,
judged on the steady state (local >= 0.7x the floor) with the end-to-end ratio beside
it, and the overhead of Dask and Spark: the time each adds to the local engine's and
to the floor's.

    python benchmarks/score_files.py [--rows 1000000] [--chunk-rows 10000]
        [--skip dask] [--skip spark] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from serve import NATIVE_THREADS, PACKAGE, build_service  # noqa: E402

TARGET = 0.7

WRITE_ROWS = textwrap.dedent("""
    import sys
    import numpy as np
    import pandas as pd

    CATEGORIES = ["grocery", "fuel", "restaurant", "electronics", "travel",
                  "online_gaming"]
    path, rows = sys.argv[1], int(sys.argv[2])
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
    """)

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
    rows: int
    seconds: float  # end to end: the process's wall time (the floor: its call)
    steady_seconds: float  # what the command reports with --stats (the floor: its call)
    cpu_seconds: float
    peak_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def steady_rows_per_s(self) -> float:
        return self.rows / self.steady_seconds

    @property
    def startup_seconds(self) -> float:
        return self.seconds - self.steady_seconds


FLOOR_NAME = "in-process floor (`score_batch`)"
LABELS = {
    "local": "`score` local",
    "dask": "`score` Dask, 2 workers",
    "spark": "`score` Spark local[2]",
}


def write_rows(path: Path, rows: int) -> None:
    """The CSV, written by a child process: this one stays small, because a child's
    peak RSS counts the memory of the process it was started from (Linux carries
    the pre-exec high-water mark), and the children's peaks are what is reported."""
    subprocess.run(
        [sys.executable, "-c", WRITE_ROWS, str(path), str(rows)],
        check=True,
        env={**os.environ, **NATIVE_THREADS},
    )


def environment(out: Path) -> dict[str, str]:
    return {**os.environ, **NATIVE_THREADS, "PYTHONPATH": str(out / "src")}


@dataclass(frozen=True)
class Child:
    seconds: float
    cpu_seconds: float  # the process and the children it waited for
    peak_mb: float  # the process itself
    stdout: str
    stderr: str


def run_child(argv: list[str], env: dict[str, str], cwd: Path) -> Child:
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True
        )
        assert proc.stdout is not None
        stdout = proc.stdout.read()
        proc.stdout.close()
        # wait4: the child's own usage, with the children it waited for (Dask's
        # workers, Spark's JVM) in its CPU time.
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}:\n{stderr}")
    return Child(
        elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout, stderr
    )


def stats_of(stderr: str) -> dict[str, float]:
    """The JSON line ``score --stats`` ends its stderr with."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("{") and '"stats": "score"' in line:
            return dict(json.loads(line))
    raise SystemExit(f"no --stats line in the command's stderr:\n{stderr}")


def measure_floor(source: Path, env: dict[str, str], work: Path, rows: int) -> Result:
    script = work / "floor.py"
    script.write_text(FLOOR)
    child = run_child([sys.executable, str(script), str(source)], env, work)
    seconds, cpu, peak = map(float, child.stdout.split())
    return Result(FLOOR_NAME, rows, seconds, seconds, cpu, peak)


def measure_score(
    name: str, source: Path, env: dict[str, str], work: Path, rows: int, chunk_rows: int
) -> Result:
    options = {
        "local": ["--engine", "local"],
        "dask": ["--engine", "dask", "--workers", "2"],
        "spark": ["--engine", "spark", "--master", "local[2]"],
    }[name]
    target = work / f"scores-{name}.csv"
    argv = [sys.executable, "-m", PACKAGE, "score", str(source), "-o", str(target),
            "--keep", "tx_id", "--chunk-rows", str(chunk_rows), "-q", "--stats",
            *options]  # fmt: skip
    child = run_child(argv, env, work)
    stats = stats_of(child.stderr)
    if stats["rows"] != rows or stats["rejected"]:
        raise SystemExit(f"{name}: scored {stats['rows']} of {rows} rows: {stats}")
    return Result(
        LABELS[name],
        rows,
        child.seconds,
        float(stats["seconds"]),
        child.cpu_seconds,
        child.peak_mb,
    )


def measure(
    out: Path, work: Path, rows: int, chunk_rows: int, skip: set[str], repeat: int
) -> list[Result]:
    """Each contender ``repeat`` times, in turn; the run of median wall time of each."""
    source = work / "transactions.csv"
    write_rows(source, rows)
    env = environment(out)
    names = [name for name in LABELS if name not in skip]
    runs: dict[str, list[Result]] = {FLOOR_NAME: [], **{LABELS[n]: [] for n in names}}
    for _ in range(repeat):
        runs[FLOOR_NAME].append(measure_floor(source, env, work, rows))
        for name in names:
            result = measure_score(name, source, env, work, rows, chunk_rows)
            runs[result.name].append(result)
    return [median(r) for r in runs.values()]


def median(runs: list[Result]) -> Result:
    """The run of median wall time (the lower middle one of an even number)."""
    ordered = sorted(runs, key=lambda run: run.seconds)
    return ordered[(len(ordered) - 1) // 2]


def report(results: list[Result], rows: int, load: tuple[str, str]) -> str:
    floor = results[0]
    lines = [
        f"{rows:,} rows, CSV in and out; load average before {load[0]}, after {load[1]}",
        "steady state: seconds the command reports (--stats: engine ready to output",
        "closed); end to end: the process's wall time; start-up: the difference. The",
        "floor is one score_batch call on the ready DataFrame, in memory. CPU seconds",
        "count the processes waited for (Dask's workers, Spark's JVM); peak RSS of the",
        "driver.",
        "",
        "| contender | steady rows/s | x floor | end-to-end rows/s | x floor | "
        "start-up s | seconds | CPU s | x floor (CPU) | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        is_floor = r is floor
        lines.append(
            f"| {r.name} | {r.steady_rows_per_s:,.0f} | "
            f"{r.steady_rows_per_s / floor.rows_per_s:.2f} | "
            f"{r.rows_per_s:,.0f} | {r.rows_per_s / floor.rows_per_s:.2f} | "
            f"{'-' if is_floor else f'{r.startup_seconds:.2f}'} | {r.seconds:.2f} | "
            f"{r.cpu_seconds:.2f} | {floor.cpu_seconds / max(r.cpu_seconds, 1e-9):.2f} | "
            f"{r.peak_mb:.0f} |"
        )
    local = next((r for r in results if r.name == LABELS["local"]), None)
    if local is not None:
        steady = local.steady_rows_per_s / floor.rows_per_s
        verdict = "met" if steady >= TARGET else "missed"
        lines += [
            "",
            f"target `score` local >= {TARGET}x the floor, on the steady state: {verdict} "
            f"({steady:.2f}x); end to end, start-up ({local.startup_seconds:.2f} s) "
            f"included: {local.rows_per_s / floor.rows_per_s:.2f}x",
        ]
        lines += overheads(results, local, floor)
    return "\n".join(lines)


def overheads(results: list[Result], local: Result, floor: Result) -> list[str]:
    """Each distributed engine's overhead: the time it adds to the local engine's and
    to the floor's on the same file (start-up, shipping, partitions' round trips)."""
    lines = []
    for result in results:
        if result.name not in (LABELS["dask"], LABELS["spark"]):
            continue
        lines.append(
            f"overhead of {result.name}: +{result.seconds - local.seconds:.2f} s "
            f"over the local engine ({result.seconds / local.seconds:.2f}x its time), "
            f"+{result.seconds - floor.seconds:.2f} s over the floor "
            f"({result.seconds / floor.seconds:.2f}x)"
        )
    return ["", *lines] if lines else []


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument(
        "--skip", action="append", default=[], choices=["dask", "spark"]
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each contender (median)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nb2svc-score-bench-") as tmp:
        work = Path(tmp)
        out = build_service(work)
        before = load_average()
        results = measure(
            out, work, args.rows, args.chunk_rows, set(args.skip), args.repeat
        )
        after = load_average()
    print(report(results, args.rows, (before, after)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
