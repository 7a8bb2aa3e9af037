"""How much the generated service costs on top of the model itself.

Builds the fraud example's service, then measures in one run, on loopback:

- the same pipeline called in-process (``pipeline.score`` on a ready DataFrame),
- a minimal hand-written FastAPI app serving the same model (handwritten_app.py),
- at one connection, a bare ASGI app on uvicorn that does only what any service must
  (validate, build the DataFrame, score in a worker thread, serialise; bare_app.py):
  the floor that the machine's HTTP and thread hand-off put under any server,
- the generated service (``python -m fraud_scoring serve``),

with a real load generator in a separate process (``wrk`` and post.lua when it is
installed, ``apt-get install wrk``; otherwise an asyncio httpx driver), at concurrency
1 and 32 with single rows and with 100- and 1000-row batches, plus the cold start
(process launch to first successful prediction). Prints a Markdown table with req/s,
p50 and p99 and the ratios, then the targets met or missed.

With ``--baseline REV`` the fraud service is also built by the nb2svc of another
revision (a git worktree of REV in a temporary folder; both builders share this
environment's third-party packages) and served beside this tree's, in the same
interleaved rounds: 1 worker at 1 and 32 connections and the batches, default workers at
32. The table gains a "vs REV" column and the targets a row: every load within 10% of
REV on req/s and p50.

    python benchmarks/serve.py [--duration 10] [--driver auto|wrk|httpx] [--check]
                               [--baseline REV]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

if str(Path(__file__).resolve().parent) not in sys.path:  # imported as benchmarks.serve
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import launched

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NOTEBOOK = REPO / "examples" / "notebooks" / "fraud_scoring.ipynb"
PACKAGE = "fraud_scoring"
LUA = HERE / "post.lua"
BATCHES = (100, 1000)
MANY = 32  # connections for the concurrent single-row load
PREFIX = "FRAUD_SCORING_"
INPROC = "in-process `pipeline.score`"
HAND = "hand-written FastAPI, 1 worker"
BARE = "bare ASGI app (the floor), 1 worker"
GEN = "generated, 1 worker"
GEN_UNBATCHED = "generated, 1 worker, MICRO_BATCH=0"
GEN_DEFAULT = "generated, default workers"
#: What the generated service sets by default (its NATIVE_THREADS setting): every
#: contender runs the model with the same native thread pools, so only serving differs.
NATIVE_THREADS = {
    name: "1"
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    )
}


@dataclass(frozen=True)
class Result:
    load: str
    target: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    rows_per_request: int
    failed: int = 0

    @property
    def rows_per_s(self) -> float:
        return self.requests_per_s * self.rows_per_request


# --- the service and its inputs -----------------------------------------------------


def build_service(
    work: Path, builder: Path | None = None, name: str | None = None
) -> Path:
    """The fraud example's service, built in ``work`` by this tree's nb2svc, or by the
    one whose sources are in ``builder`` (another checkout's ``src``); ``name`` is
    passed on as ``--name`` (two builds imported by one process need two names)."""
    notebooks = work / "notebooks"
    notebooks.mkdir(parents=True)
    for path in NOTEBOOK.parent.iterdir():
        if path.name.startswith("fraud_"):
            shutil.copy(path, notebooks / path.name)
    out = work / (name or PACKAGE)
    env = dict(os.environ)
    if builder is not None:  # ahead of this tree's editable install
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(builder), os.environ.get("PYTHONPATH", "")) if p
        )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nb2svc",
            "build",
            str(notebooks / NOTEBOOK.name),
            "-o",
            str(out),
            *(["--name", name] if name else []),
        ],
        check=True,
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return out


def service_path(out: Path) -> list[str]:
    """What a built service runs from: its ``src`` and the runtime wheel it vendors
    (services built before the runtime library have none), as ``nb2svc verify`` runs
    it."""
    return [str(out / "src"), *map(str, sorted((out / "vendor").glob("*.whl")))]


@contextmanager
def checkout(rev: str) -> Iterator[tuple[Path, str]]:
    """A git worktree of ``rev`` in a temporary folder, and ``rev``'s label
    (``main d8b4a02``); the worktree is removed afterwards."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    label = commit if commit.startswith(rev) else f"{rev} {commit}"
    with tempfile.TemporaryDirectory(prefix="nb2svc-baseline-") as tmp:
        path = Path(tmp) / "base"
        subprocess.run(
            [
                *("git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet"),
                str(path),
                commit,
            ],
            check=True,
        )
        try:
            yield path, label
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
                check=False,
            )


def example_rows(out: Path, count: int) -> list[dict[str, Any]]:
    """``count`` transactions: the notebook's examples, amounts varied row by row."""
    golden = json.loads((out / "tests/golden/examples.json").read_text())
    base = [row for example in golden["examples"] for row in example["input"]]
    return [
        {**base[i % len(base)], "amount": round(base[i % len(base)]["amount"] + i, 2)}
        for i in range(count)
    ]


@contextmanager
def running(
    command: list[str], env: dict[str, str], first: bytes, log: Path
) -> Iterator[tuple[str, float]]:
    """Start a server; yield its URL and its cold start (launch -> first prediction)."""

    def predicts(client: httpx.Client, base: str) -> bool:
        response = client.post(
            f"{base}/predict",
            content=first,
            headers={"Content-Type": "application/json"},
        )
        return response.status_code == 200

    with launched(command, env, log, predicts, poll=0.01) as (base, _, cold):
        yield base, cold


# --- load generators ------------------------------------------------------------------


def drive(
    driver: str, url: str, body: Path, connections: int, seconds: float
) -> dict[str, Any]:
    """One load in a separate process; returns requests, duration, errors, p50, p99."""
    if driver == "wrk":
        whole = max(1, round(seconds))  # wrk takes whole seconds
        command = ["wrk", "-t1", f"-c{connections}", f"-d{whole}s"]
        command += ["--timeout", "10s", "-s", str(LUA), url]
    else:
        command = [sys.executable, __file__, "_drive", url, str(body)]
        command += [str(connections), str(seconds)]
    output = subprocess.run(
        command,
        env={**os.environ, "NB2SVC_BODY": str(body)},
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    line = next(x for x in output.splitlines() if x.startswith("NB2SVC "))
    result: dict[str, Any] = json.loads(line.removeprefix("NB2SVC "))
    return result


def _drive_with_httpx(
    url: str, body_file: str, connections: int, seconds: float
) -> None:
    """The fallback load generator: ``connections`` asyncio clients for ``seconds``."""
    body = Path(body_file).read_bytes()

    async def main() -> None:
        latencies: list[float] = []
        failures = [0, 0]  # transport errors, non-2xx
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(
            limits=limits, timeout=10, trust_env=False
        ) as client:
            stop = time.perf_counter() + seconds

            async def one_client() -> None:
                while time.perf_counter() < stop:
                    began = time.perf_counter()
                    try:
                        response = await client.post(
                            url,
                            content=body,
                            headers={"Content-Type": "application/json"},
                        )
                    except httpx.HTTPError:
                        failures[0] += 1
                        continue
                    latencies.append(time.perf_counter() - began)
                    if response.status_code >= 300:
                        failures[1] += 1

            began = time.perf_counter()
            await asyncio.gather(*(one_client() for _ in range(connections)))
            duration = time.perf_counter() - began
        latencies.sort()
        summary = {
            "requests": len(latencies),
            "duration_us": int(duration * 1e6),
            "errors": failures[0],
            "non2xx": failures[1],
            "p50_us": int(latencies[len(latencies) // 2] * 1e6),
            "p99_us": int(latencies[int(len(latencies) * 0.99)] * 1e6),
        }
        print("NB2SVC " + json.dumps(summary))

    asyncio.run(main())


def in_process_segment(
    score: Callable[[Any], Any], frame: Any, seconds: float
) -> dict[str, Any]:
    """``pipeline.score`` on a ready DataFrame for ``seconds``, as a load's summary."""
    times: list[float] = []
    began = time.perf_counter()
    stop = began + seconds
    while time.perf_counter() < stop:
        start = time.perf_counter()
        score(frame)
        times.append(time.perf_counter() - start)
    times.sort()
    return {
        "requests": len(times),
        "duration_us": int((time.perf_counter() - began) * 1e6),
        "errors": 0,
        "non2xx": 0,
        "p50_us": int(times[len(times) // 2] * 1e6),
        "p99_us": int(times[int(len(times) * 0.99)] * 1e6),
    }


def summarise(
    load: str, target: str, rows: int, segments: list[dict[str, Any]]
) -> Result:
    """Rounds of one load on one target: total req/s, median p50 and p99 of rounds."""
    requests = sum(s["requests"] for s in segments)
    seconds = sum(s["duration_us"] for s in segments) / 1e6
    return Result(
        load,
        target,
        requests / seconds,
        statistics.median(s["p50_us"] for s in segments) / 1000,
        statistics.median(s["p99_us"] for s in segments) / 1000,
        rows,
        sum(s["errors"] + s["non2xx"] for s in segments),
    )


def _batch_loads() -> list[tuple[int, str]]:
    return [(n, f"{n}-row batch, 1 connection") for n in BATCHES]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return (
        f"{platform.system()} {platform.machine()}, {cpus or os.cpu_count()} CPUs "
        f"({cpu}), Python {platform.python_version()}"
    )


def baseline_of(target: str, label: str) -> str:
    """The name of ``target`` built by the baseline revision."""
    return f"{target} ({label})"


def run(
    duration: float, rounds: int, driver: str, baseline: str | None = None
) -> tuple[list[Result], dict[str, float], str]:
    """Every load on every target, in interleaved rounds so drift hits all alike."""
    for name, value in NATIVE_THREADS.items():  # before numpy or sklearn load here
        os.environ.setdefault(name, value)
    with (
        tempfile.TemporaryDirectory(prefix="nb2svc-bench-") as tmp,
        ExitStack() as stack,
    ):
        work = Path(tmp)
        out = build_service(work / "this")
        old: tuple[Path, str] | None = None
        if baseline is not None:
            tree, label = stack.enter_context(checkout(baseline))
            old = (build_service(work / "base", tree / "src"), label)
        rows = example_rows(out, max(BATCHES))
        bodies = work / "bodies"
        bodies.mkdir()

        def body(name: str, value: Any) -> Path:
            path = bodies / f"{name}.json"
            path.write_text(json.dumps(value))
            return path

        single = body("single", rows[:1])
        env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
        env["PYTHONPATH"] = os.pathsep.join([*service_path(out), str(REPO)])
        generated = [sys.executable, "-m", PACKAGE, "serve", "--host", "127.0.0.1"]
        servers = {
            HAND: (
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "benchmarks.handwritten_app:app",
                    "--host",
                    "127.0.0.1",
                ],
                env,
            ),
            BARE: (
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "benchmarks.bare_app:app",
                    "--host",
                    "127.0.0.1",
                    "--lifespan",
                    "off",
                    "--no-access-log",
                ],
                env,
            ),
            GEN: ([*generated, "--workers", "1"], env),
            GEN_UNBATCHED: (
                [*generated, "--workers", "1"],
                {**env, f"{PREFIX}MICRO_BATCH": "0"},
            ),
            GEN_DEFAULT: (generated, env),
        }
        if old is not None:  # the same service, as the baseline's nb2svc builds it
            old_env = {**env, "PYTHONPATH": os.pathsep.join(service_path(old[0]))}
            servers[baseline_of(GEN, old[1])] = (
                [*generated, "--workers", "1"],
                old_env,
            )
            servers[baseline_of(GEN_DEFAULT, old[1])] = (generated, old_env)
        base: dict[str, str] = {}
        cold: dict[str, float] = {}
        first = single.read_bytes()
        for index, (target, (command, server_env)) in enumerate(servers.items()):
            log = work / f"server-{index}.log"
            base[target], cold[target] = stack.enter_context(
                running(command, server_env, first, log)
            )

        sys.path[:0] = service_path(out)
        from fraud_scoring import pipeline, schemas  # type: ignore[import-not-found]
        from pydantic import TypeAdapter

        pipeline.load_resources()
        gc.collect()  # as the service does once its model is loaded
        gc.freeze()
        adapter = TypeAdapter(schemas.PredictRequest)

        def frame(count: int) -> Any:
            return schemas.to_raw(adapter.validate_python(rows[:count]))

        # load -> (connections, rows per request, {target: (url or None, body or frame)})
        loads: dict[str, tuple[int, int, dict[str, tuple[str | None, Any]]]] = {
            "single row, 1 connection": (
                1,
                1,
                {
                    INPROC: (None, frame(1)),
                    HAND: (f"{base[HAND]}/predict", single),
                    BARE: (f"{base[BARE]}/predict", single),
                    GEN: (f"{base[GEN]}/predict", single),
                },
            ),
            f"single row, {MANY} connections": (
                MANY,
                1,
                {
                    HAND: (f"{base[HAND]}/predict", single),
                    GEN: (f"{base[GEN]}/predict", single),
                    GEN_UNBATCHED: (f"{base[GEN_UNBATCHED]}/predict", single),
                    GEN_DEFAULT: (f"{base[GEN_DEFAULT]}/predict", single),
                },
            ),
        }
        for count, load in _batch_loads():
            items = body(f"batch{count}", [[row] for row in rows[:count]])
            table = body(f"frame{count}", rows[:count])
            loads[load] = (
                1,
                count,
                {
                    INPROC: (None, frame(count)),
                    HAND: (f"{base[HAND]}/predict", table),
                    GEN: (f"{base[GEN]}/predict/batch", items),
                },
            )
        if old is not None:  # each generated target's twin, right after it
            for load, (connections, count, targets_) in list(loads.items()):
                twinned: dict[str, tuple[str | None, Any]] = {}
                for target, (url, payload) in targets_.items():
                    twinned[target] = (url, payload)
                    twin = baseline_of(target, old[1])
                    if twin in base and url is not None:
                        path = url.removeprefix(base[target])
                        twinned[twin] = (f"{base[twin]}{path}", payload)
                loads[load] = (connections, count, twinned)

        segments: dict[tuple[str, str], list[dict[str, Any]]] = {}
        seconds = duration / rounds
        for round_ in range(rounds + 1):  # round 0 warms everything up
            for load, (connections, _, targets_) in loads.items():
                for target, (url, payload) in targets_.items():
                    length = min(1.0, seconds) if round_ == 0 else seconds
                    if url is None:
                        segment = in_process_segment(pipeline.score, payload, length)
                    else:
                        segment = drive(driver, url, payload, connections, length)
                    if round_:
                        segments.setdefault((load, target), []).append(segment)
        results = [
            summarise(load, target, count, segments[(load, target)])
            for load, (_, count, targets_) in loads.items()
            for target in targets_
        ]
    return results, cold, machine()


def versus_baseline(results: list[Result], label: str) -> list[tuple[Result, Result]]:
    """(this tree's result, the baseline's) for every load both served."""
    found = {(r.load, r.target): r for r in results}
    return [
        (r, found[(r.load, baseline_of(r.target, label))])
        for r in results
        if (r.load, baseline_of(r.target, label)) in found
    ]


def compared(new: Result, old: Result) -> str:
    return (
        f"{new.requests_per_s / old.requests_per_s:.2f}x req/s, "
        f"p50 {(new.p50_ms / old.p50_ms - 1) * 100:+.0f}%"
    )


def table(results: list[Result], label: str | None = None) -> str:
    reference: dict[tuple[str, str], Result] = {}
    for r in results:
        if r.target.startswith(("in-process", "hand-written")):
            reference[(r.load, r.target.split()[0])] = r
    versus = {id(new): old for new, old in versus_baseline(results, label or "")}
    extra = f" vs {label} |" if label else ""
    lines = [
        "| load | served by | req/s | p50 ms | p99 ms | rows/s | vs in-process "
        f"| vs hand-written |{extra}",
        "|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if label else ""),
    ]
    for r in results:
        ratios = []
        for kind in ("in-process", "hand-written"):
            ref = reference.get((r.load, kind))
            if ref is None or ref is r:
                ratios.append("")
            else:
                ratios.append(
                    f"{r.requests_per_s / ref.requests_per_s:.2f}x req/s, "
                    f"p50 {r.p50_ms - ref.p50_ms:+.2f} ms"
                )
        if label:
            old = versus.get(id(r))
            ratios.append(compared(r, old) if old is not None else "")
        failed = f" ({r.failed} failed)" if r.failed else ""
        lines.append(
            f"| {r.load} | {r.target}{failed} | {r.requests_per_s:,.0f} | "
            f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.rows_per_s:,.0f} | "
            + "".join(f"{ratio} | " for ratio in ratios).rstrip()
        )
    return "\n".join(lines)


#: The baseline target: this tree within 10% of REV on every load.
WITHIN = 0.10


def targets(results: list[Result], label: str | None = None) -> list[tuple[bool, str]]:
    def find(load: str, target: str) -> Result:
        return next(r for r in results if r.load == load and r.target == target)

    one = "single row, 1 connection"
    many = f"single row, {MANY} connections"
    big = f"{max(BATCHES)}-row batch, 1 connection"
    overhead = find(one, GEN).p50_ms - find(one, INPROC).p50_ms
    floor = find(one, BARE).p50_ms - find(one, INPROC).p50_ms
    throughput = find(many, GEN).requests_per_s / find(many, HAND).requests_per_s
    rows = find(big, GEN).rows_per_s / find(big, INPROC).rows_per_s
    failed = sum(r.failed for r in results)
    verdicts = [
        (overhead <= 1.0, f"p50 at 1 connection within 1 ms of in-process: {overhead:+.2f} ms (the bare ASGI floor: {floor:+.2f} ms)"),
        (throughput >= 1.0, f"single-row req/s at {MANY} connections vs hand-written (1 worker each): {throughput:.2f}x (>= 1)"),
        (rows >= 0.5, f"{max(BATCHES)}-row batch rows/s vs in-process: {rows:.2f}x (>= 0.5)"),
        (failed == 0, f"failed requests: {failed}"),
    ]  # fmt: skip
    if label:
        pairs = versus_baseline(results, label)
        speed = min(new.requests_per_s / old.requests_per_s for new, old in pairs)
        latency = max(new.p50_ms / old.p50_ms for new, old in pairs)
        within = speed >= 1 - WITHIN and latency <= 1 + WITHIN
        verdicts.append(
            (
                within,
                f"every load within {WITHIN:.0%} of {label} on req/s and p50 "
                f"({len(pairs)} loads): worst req/s {speed:.2f}x, "
                f"worst p50 {(latency - 1) * 100:+.0f}%",
            )
        )
    return verdicts


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["_drive"]:
        _drive_with_httpx(args[1], args[2], int(args[3]), float(args[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per load and target"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds the time is split into",
    )
    parser.add_argument("--driver", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a target is missed"
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also serve the service as the nb2svc of git revision REV builds it",
    )
    options = parser.parse_args(args)
    driver = options.driver
    if driver == "auto":
        driver = "wrk" if shutil.which("wrk") else "httpx"
    if driver == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk), use --driver httpx")
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results, cold, where = run(
        options.duration, options.rounds, driver, options.baseline
    )
    label = _label(results, options.baseline)
    tool = "wrk" if driver == "wrk" else "an asyncio httpx driver"
    print(f"nb2svc serve benchmark, {when}; {where}; load from {tool}, "
          f"{options.duration:g} s per load and target in {options.rounds} "
          "interleaved rounds\n")  # fmt: skip
    print(table(results, label))
    print()
    for target, seconds in cold.items():
        print(f"cold start (launch to first prediction), {target}: {seconds:.2f} s")
    print()
    verdicts = targets(results, label)
    for ok, text in verdicts:
        print(f"[{'met' if ok else 'MISSED'}] {text}")
    return 1 if options.check and not all(ok for ok, _ in verdicts) else 0


def _label(results: list[Result], baseline: str | None) -> str | None:
    """The baseline's label as the results name it (``main d8b4a02``)."""
    if baseline is None:
        return None
    suffix = f" ({baseline}"
    for r in results:
        if r.target.startswith(f"{GEN} ") and suffix in r.target:
            return r.target.removeprefix(f"{GEN} (").removesuffix(")")
    return baseline


if __name__ == "__main__":
    raise SystemExit(main())
