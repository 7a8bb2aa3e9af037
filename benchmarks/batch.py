"""Batch throughput: ``/predict/batch`` and columnar ``/predict`` against their floors.

Builds three services and measures, in one run of interleaved rounds (round 0 warms
up; the machine's load drifts alike over every contender), rows/s for 100- and
1000-row requests on one connection:

- ``bc_frame``: a StandardScaler + LogisticRegression on scikit-learn's bundled
  breast cancer data (30 features), trained by this benchmark's own notebook, whose
  input is a DataFrame: a table to ``/predict`` as JSON records, pandas' split JSON
  and an Arrow IPC stream (columnar answers for columnar bodies);
- ``bc_array``: the same model behind an array input (30 floats): ``/predict/batch``
  as a JSON array of arrays, split JSON and Arrow;
- ``fraud``: the fraud example (a DataFrame of six typed columns), as ``bc_frame``;

each against the in-process floor (the generated ``pipeline.score`` on the ready
DataFrame or matrix: the model and the notebook's code only) and a hand-written
FastAPI app (``handwritten_batch_app.py`` for the breast cancer model: a pydantic
batch model, numpy, ``predict_proba``; ``handwritten_app.py`` for fraud), plus each
server's peak RSS. For the breast cancer model a bare uvicorn app
(``bare_batch_app.py``: the Arrow body decoded, the pipeline called, the answer
encoded, nothing else) runs the Arrow loads too: the most any server on uvicorn
reaches, next to the floor. The load generator is ``wrk`` (``apt-get install wrk``) with
batch.lua when installed, else a one-connection httpx loop. Prints a Markdown table
and the targets (1000 rows: JSON records >= 1.5x the hand-written app; split JSON or
Arrow >= 3x it and within 2x of the floor).

    python benchmarks/batch.py [--duration 6] [--rounds 3] [--driver auto|wrk|httpx]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from serve import (  # noqa: E402
    NATIVE_THREADS,
    REPO,
    build_service,
    example_rows,
    in_process_segment,
    machine,
    service_path,
)
from servers import launched  # noqa: E402

for _name, _value in NATIVE_THREADS.items():  # before numpy loads its thread pools
    os.environ.setdefault(_name, _value)

import httpx  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

LUA = HERE / "batch.lua"
SIZES = (100, 1000)
JSON = "application/json"
SPLIT = "application/json; orient=split"
ARROW = "application/vnd.apache.arrow.stream"
FLOOR = "in-process floor"
HAND = "hand-written FastAPI"
BARE = "bare uvicorn"
GEN = "generated"
#: format -> (Content-Type, Accept): columnar bodies get columnar answers
FORMATS = {"JSON": (JSON, ""), "split JSON": (SPLIT, SPLIT), "Arrow": (ARROW, ARROW)}

TRAIN = """\
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

data = load_breast_cancer()
X = data.data
classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
classifier.fit(X, data.target)
joblib.dump(classifier, "model.joblib")
classifier.score(X, data.target)"""

NOTEBOOKS = {
    "bc_frame": [
        "# Tumour scoring: a table of the 30 measurements\n",
        "# nb2svc: imports\nimport joblib\nimport numpy as np\nimport pandas as pd",
        '# nb2svc: helpers\nFEATURES = [f"m{i:02d}" for i in range(30)]',
        TRAIN,
        '# nb2svc: load artifacts=model.joblib\nmodel = joblib.load("model.joblib")',
        "# nb2svc: predict\n"
        "def predict(frame: pd.DataFrame) -> list:\n"
        "    proba = model.predict_proba(frame[FEATURES].to_numpy())\n"
        "    return np.round(proba, 6).tolist()",
        "# nb2svc: example\n"
        "examples = pd.DataFrame(X[:5], columns=FEATURES)\n"
        "predict(examples)",
    ],
    "bc_array": [
        "# Tumour scoring: an array of the 30 measurements\n",
        "# nb2svc: imports\nimport joblib\nimport numpy as np",
        TRAIN,
        '# nb2svc: load artifacts=model.joblib\nmodel = joblib.load("model.joblib")',
        "# nb2svc: predict\n"
        "def predict(features: np.ndarray) -> list:\n"
        "    proba = model.predict_proba(np.atleast_2d(features))\n"
        "    return np.round(proba, 6).tolist()",
        "# nb2svc: example\nexamples = X[:5]\n[predict(x) for x in examples]",
    ],
}


@dataclass(frozen=True)
class Result:
    model: str
    rows: int
    contender: str
    body: str
    rows_per_s: float
    p50_ms: float


def write_notebook(path: Path, cells: list[str]) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells = [nbformat.v4.new_markdown_cell(cells[0])] + [
        nbformat.v4.new_code_cell(source) for source in cells[1:]
    ]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    nbformat.write(notebook, str(path))


def build(work: Path, name: str) -> Path:
    folder = work / f"{name}-notebook"
    folder.mkdir()
    write_notebook(folder / f"{name}.ipynb", NOTEBOOKS[name])
    out = work / name
    subprocess.run(
        [sys.executable, "-m", "nb2svc", "build", f"{name}.ipynb", "-o", str(out)],
        check=True,
        cwd=folder,
        stdout=subprocess.DEVNULL,
    )
    return out


def arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def split_bytes(records: list[dict[str, Any]]) -> bytes:
    columns = list(records[0])
    data = [[record[c] for c in columns] for record in records]
    return json.dumps({"columns": columns, "data": data}).encode()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def server(
    command: list[str], env: dict[str, str], ready: str, log: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A server on a free loopback port; yields its URL once GET ``ready`` answers."""

    def answers(client: httpx.Client, base: str) -> bool:
        return client.get(base + ready).status_code in (200, 405)

    with launched([*command, "--host", "127.0.0.1"], env, log, answers) as started:
        yield started[0], started[1]


def drive(
    driver: str, url: str, body: Path, media: tuple[str, str], seconds: float
) -> dict[str, Any]:
    """One connection posting ``body`` for ``seconds``, in a separate process."""
    content_type, accept = media
    env = {
        **os.environ,
        "NB2SVC_BODY": str(body),
        "NB2SVC_CONTENT_TYPE": content_type,
        "NB2SVC_ACCEPT": accept,
    }
    if driver == "wrk":
        whole = max(1, round(seconds))
        command = ["wrk", "-t1", "-c1", f"-d{whole}s", "--timeout", "20s"]
        command += ["-s", str(LUA), url]
    else:
        command = [sys.executable, __file__, "_drive", url, str(seconds)]
    output = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    line = next(x for x in output.splitlines() if x.startswith("NB2SVC "))
    result: dict[str, Any] = json.loads(line.removeprefix("NB2SVC "))
    if result["errors"] or result["non2xx"]:
        raise RuntimeError(f"{url} {content_type}: failed requests {result}")
    return result


def _drive_with_httpx(url: str, seconds: float) -> None:
    body = Path(os.environ["NB2SVC_BODY"]).read_bytes()
    headers = {"Content-Type": os.environ["NB2SVC_CONTENT_TYPE"]}
    if os.environ.get("NB2SVC_ACCEPT"):
        headers["Accept"] = os.environ["NB2SVC_ACCEPT"]
    times: list[float] = []
    failures = 0
    with httpx.Client(timeout=20, trust_env=False) as client:
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            start = time.perf_counter()
            failures += client.post(url, content=body, headers=headers).is_error
            times.append(time.perf_counter() - start)
        duration = time.perf_counter() - began
    times.sort()
    print(
        "NB2SVC "
        + json.dumps(
            {
                "requests": len(times),
                "duration_us": int(duration * 1e6),
                "errors": 0,
                "non2xx": failures,
                "p50_us": int(times[len(times) // 2] * 1e6),
                "p99_us": int(times[int(len(times) * 0.99)] * 1e6),
            }
        )
    )


def bc_records(count: int) -> list[dict[str, float]]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer().data
    return [
        {f"m{j:02d}": float(data[i % len(data), j]) for j in range(30)}
        for i in range(count)
    ]


def import_package(out: Path, name: str) -> tuple[Any, Any]:
    sys.path[:0] = service_path(out)
    pipeline = __import__(f"{name}.pipeline", fromlist=["pipeline"])
    schemas = __import__(f"{name}.schemas", fromlist=["schemas"])
    pipeline.load_resources()
    return pipeline, schemas


def run(
    duration: float, rounds: int, driver: str
) -> tuple[list[Result], dict[str, float], str]:
    for name, value in NATIVE_THREADS.items():
        os.environ.setdefault(name, value)
    with (
        tempfile.TemporaryDirectory(prefix="nb2svc-batch-") as tmp,
        ExitStack() as stack,
    ):
        work = Path(tmp)
        outs = {
            "bc_frame": build(work, "bc_frame"),
            "bc_array": build(work, "bc_array"),
            "fraud": build_service(work / "fraud"),
        }
        bodies = work / "bodies"
        bodies.mkdir()

        def body(name: str, content: bytes) -> Path:
            path = bodies / name
            path.write_bytes(content)
            return path

        env = {k: v for k, v in os.environ.items() if not k.endswith("_MAX_BODY_BYTES")}
        urls: dict[tuple[str, str], str] = {}
        rss: dict[str, float] = {}
        procs: dict[str, subprocess.Popen[bytes]] = {}
        for model, out in outs.items():
            package = {"fraud": "fraud_scoring"}.get(model, model)
            prefix = package.upper() + "_"
            server_env = {
                **env,
                "PYTHONPATH": os.pathsep.join([*service_path(out), str(REPO)]),
                f"{prefix}MAX_BODY_BYTES": str(16 << 20),
                f"{prefix}WORKERS": "1",
                f"{prefix}ACCESS_LOG": "false",
            }
            command = [sys.executable, "-m", package, "serve"]
            log = work / f"{model}.log"
            urls[(model, GEN)], procs[f"{model}: {GEN}"] = stack.enter_context(
                server(command, server_env, "/readyz", log)
            )
        hand_env = {
            **env,
            "PYTHONPATH": os.pathsep.join([*service_path(outs["fraud"]), str(REPO)]),
        }
        uvicorn = [sys.executable, "-m", "uvicorn", "--no-access-log"]
        urls[("fraud", HAND)], procs[f"fraud: {HAND}"] = stack.enter_context(
            server(
                [*uvicorn, "benchmarks.handwritten_app:app"],
                hand_env,
                "/healthz",
                work / "hand-fraud.log",
            )
        )
        for model in ("bc_frame", "bc_array"):
            model_env = {
                **env,
                "PYTHONPATH": str(REPO),
                "MODEL_PATH": str(
                    next(outs[model].glob("src/*/artifacts/model.joblib"))
                ),
            }
            urls[(model, HAND)], procs[f"{model}: {HAND}"] = stack.enter_context(
                server(
                    [*uvicorn, "benchmarks.handwritten_batch_app:app"],
                    model_env,
                    "/predict_batch",
                    work / f"hand-{model}.log",
                )
            )

        for model in ("bc_frame", "bc_array"):  # the bound: uvicorn, Arrow, no more
            bare_env = {
                **env,
                "PYTHONPATH": os.pathsep.join([*service_path(outs[model]), str(REPO)]),
                "NB2SVC_PACKAGE": model,
            }
            urls[(model, BARE)], procs[f"{model}: {BARE}"] = stack.enter_context(
                server(
                    [*uvicorn, "benchmarks.bare_batch_app:app"],
                    bare_env,
                    "/",
                    work / f"bare-{model}.log",
                )
            )

        # (model, rows, contender, body label) -> (url or None, body path or raw input)
        loads: dict[
            tuple[str, int, str, str], tuple[str | None, Any, tuple[str, str]]
        ] = {}
        floors: dict[str, Callable[[Any], Any]] = {}
        bc = bc_records(max(SIZES))
        fraud_rows = example_rows(outs["fraud"], max(SIZES))
        for model in outs:
            package = {"fraud": "fraud_scoring"}.get(model, model)
            pipeline, schemas = import_package(outs[model], package)
            floors[model] = pipeline.score
            records = fraud_rows if model == "fraud" else bc
            for n in SIZES:
                part = records[:n]
                matrix = np.array([list(r.values()) for r in part])
                if model == "bc_array":
                    raw = matrix
                    json_body = json.dumps([list(r.values()) for r in part]).encode()
                    split = json.dumps({"data": matrix.tolist()}).encode()
                    path = "/predict/batch"
                else:
                    raw = schemas.to_raw(
                        __import__("pydantic")
                        .TypeAdapter(schemas.PredictRequest)
                        .validate_python(part)
                    )
                    json_body = json.dumps(part).encode()
                    split = split_bytes(part)
                    path = "/predict"
                table = pa.Table.from_pylist(part)
                loads[(model, n, FLOOR, "ready input")] = (None, raw, ("", ""))
                gen = urls[(model, GEN)] + path
                for label, content in (
                    ("JSON", json_body),
                    ("split JSON", split),
                    ("Arrow", arrow_bytes(table)),
                ):
                    loads[(model, n, GEN, label)] = (
                        gen,
                        body(f"{model}-{n}-{label}", content),
                        FORMATS[label],
                    )
                if (model, BARE) in urls:
                    loads[(model, n, BARE, "Arrow")] = (
                        urls[(model, BARE)] + "/",
                        bodies / f"{model}-{n}-Arrow",  # the generated's own body
                        FORMATS["Arrow"],
                    )
                if model == "fraud":
                    hand = (
                        urls[(model, HAND)] + "/predict",
                        body(f"{model}-{n}-hand", json_body),
                    )
                else:
                    features = json.dumps({"features": matrix.tolist()}).encode()
                    hand = (
                        urls[(model, HAND)] + "/predict_batch",
                        body(f"{model}-{n}-hand", features),
                    )
                loads[(model, n, HAND, "JSON")] = (*hand, (JSON, ""))
        gc.collect()  # as the services do once their model is loaded
        gc.freeze()

        segments: dict[tuple[str, int, str, str], list[dict[str, Any]]] = {}
        seconds = duration / rounds
        for round_ in range(rounds + 1):  # round 0 warms everything up
            for key, (url, payload, media) in loads.items():
                length = 1.0 if round_ == 0 else seconds
                if url is None:
                    segment = in_process_segment(floors[key[0]], payload, length)
                else:
                    segment = drive(driver, url, payload, media, length)
                if round_:
                    segments.setdefault(key, []).append(segment)
        for name, proc in procs.items():
            rss[name] = peak_rss_mb(proc.pid)
        results = []
        for (model, n, contender, label), found in segments.items():
            requests = sum(s["requests"] for s in found)
            elapsed = sum(s["duration_us"] for s in found) / 1e6
            p50 = sorted(s["p50_us"] for s in found)[len(found) // 2] / 1000
            results.append(
                Result(model, n, contender, label, requests * n / elapsed, p50)
            )
        return results, rss, machine()


def table(results: list[Result]) -> str:
    by = {(r.model, r.rows, r.contender, r.body): r for r in results}
    lines = [
        "| model | rows | contender | body | rows/s | p50 ms | vs hand-written | vs floor |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        hand = by[(r.model, r.rows, HAND, "JSON")].rows_per_s
        floor = by[(r.model, r.rows, FLOOR, "ready input")].rows_per_s
        lines.append(
            f"| {r.model} | {r.rows} | {r.contender} | {r.body} | {r.rows_per_s:,.0f} | "
            f"{r.p50_ms:.2f} | {r.rows_per_s / hand:.2f}x | {r.rows_per_s / floor:.2f}x |"
        )
    return "\n".join(lines)


def targets(results: list[Result]) -> list[tuple[bool, str]]:
    by = {(r.model, r.rows, r.contender, r.body): r.rows_per_s for r in results}
    checks = []
    for model in sorted({r.model for r in results}):
        hand = by[(model, 1000, HAND, "JSON")]
        floor = by[(model, 1000, FLOOR, "ready input")]
        records = by[(model, 1000, GEN, "JSON")] / hand
        checks.append(
            (
                records >= 1.5,
                f"{model}, 1000 rows: JSON {records:.2f}x the hand-written app (>= 1.5x)",
            )
        )
        best = max(by[(model, 1000, GEN, b)] for b in ("split JSON", "Arrow"))
        checks.append(
            (
                best / hand >= 3,
                f"{model}, 1000 rows: columnar {best / hand:.2f}x the hand-written app (>= 3x)",
            )
        )
        bare = by.get((model, 1000, BARE, "Arrow"))
        bound = "" if bare is None else f"; a bare uvicorn app: {bare / floor:.2f}x"
        checks.append(
            (
                best / floor >= 0.5,
                f"{model}, 1000 rows: columnar {best / floor:.2f}x the floor (>= 0.5x)"
                + bound,
            )
        )
    return checks


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["_drive"]:
        _drive_with_httpx(args[1], float(args[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=6.0, help="seconds per load, over all rounds"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--driver", choices=("auto", "wrk", "httpx"), default="auto")
    options = parser.parse_args(args)
    driver = options.driver
    if driver == "auto":
        driver = "wrk" if shutil.which("wrk") else "httpx"
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()
    results, rss, host = run(options.duration, options.rounds, driver)
    out = io.StringIO()
    print(
        f"{started}; {host}; driver {driver}; load average at start "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, at end "
        f"{os.getloadavg()[0]:.2f}; {options.rounds} interleaved rounds\n",
        file=out,
    )
    print(table(results), file=out)
    print("\n| server | peak RSS MB |\n|---|---:|", file=out)
    for name, mb in rss.items():
        print(f"| {name} | {mb:.0f} |", file=out)
    print(file=out)
    for met, text in targets(results):
        print(f"- [{'x' if met else ' '}] {text}", file=out)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
