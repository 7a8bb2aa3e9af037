"""Where chunks are scored: this process, a Dask cluster, or Spark.

Every engine is a context manager: entering it starts the engine (loads the model,
starts a cluster or a Spark session), so that the command's steady state is timed
without it; it gives :class:`Scored` chunks in the file's order, numbered as the local
reader numbers rows, so one writer serves them all and their outputs are equal row for
row. Dask and Spark read the file themselves (``dask.dataframe`` / ``dask.bag``,
``spark.read``) and score each partition on a worker with the same :class:`RowScorer`;
a partition's answers travel back as JSON text (keep values and outputs as the service
would send them), with a trailer row giving the partition's length so that rows are
numbered from the partitions' order.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from .core import (
    ArtifactCheckError,
    Chunk,
    Reject,
    RowScorer,
    Scored,
    ScoringError,
    ScoringSpec,
)
from .formats import Format, count_rows, parse_lines, read_chunks

#: Columns of a partition's answers (Spark DDL, and the pandas frame Dask returns).
RESULT_SCHEMA = "index long, kind string, payload string"
PANDAS_WARNING = "PySpark does not yet fully support pandas"
_SCORERS: dict[tuple[ScoringSpec, str | None], RowScorer] = {}


def scorer_for(spec: ScoringSpec, artifacts_dir: str | None = None) -> RowScorer:
    """One scorer per worker process: artifacts checked and the model loaded once."""
    key = (spec, artifacts_dir)
    if key not in _SCORERS:
        _SCORERS[key] = RowScorer(spec, artifacts_dir=artifacts_dir)
    return _SCORERS[key]


@contextlib.contextmanager
def run_local(
    spec: ScoringSpec, path: Path, fmt: Format, chunk_rows: int
) -> Iterator[Iterator[Scored]]:
    """This process: the model loaded on entering, then one chunk after another.

    No reading or writing thread: pyarrow's reader already parses on its own threads,
    and a model that holds the GIL (scikit-learn's tree ensembles take it back after
    each tree) is slowed by any Python work beside it more than that work is worth."""
    scorer = scorer_for(spec)
    yield (scorer.score(chunk) for chunk in read_chunks(path, fmt, chunk_rows))


# --- partitions: scored on a worker, decoded on the client ---------------------------


def _partition_rows(scored: Scored, length: int) -> dict[str, list[Any]]:
    """A partition's answers as (index from 1, kind, JSON) rows, then its length."""
    index: list[int] = []
    kind: list[str] = []
    payload: list[str] = []
    for position, (row, output) in enumerate(
        zip(scored.rows, scored.outputs, strict=True)
    ):
        index.append(row)
        kind.append("out")
        answer = {"keep": scored.kept(position), "output": output}
        payload.append(orjson.dumps(answer, default=str).decode())
    for reject in scored.rejects:
        index.append(reject.row)
        kind.append("rejected")
        payload.append(orjson.dumps(reject.to_json(), default=str).decode())
    index.append(length)
    kind.append("end")
    payload.append("")
    return {"index": index, "kind": kind, "payload": payload}


def score_records(
    records: list[dict[str, Any]],
    spec: ScoringSpec,
    *,
    artifacts_dir: str | None = None,
    broken: dict[int, str] | None = None,
    start: int = 1,
    text: bool = False,
) -> dict[str, list[Any]]:
    chunk = Chunk(start, records, broken or {}, text=text)
    return _partition_rows(scorer_for(spec, artifacts_dir).score(chunk), len(records))


def _cells(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CSV rows read by an engine as the local reader reads them: an empty cell is ""."""
    for record in records:
        for name, value in record.items():
            if value is None or value != value:  # null, or NaN from Arrow
                record[name] = ""
    return records


def score_frame(frame: Any, spec: ScoringSpec, text: bool) -> Any:
    """Dask: one partition of a CSV (every cell text) or Parquet file."""
    import pandas as pd

    records = frame.to_dict(orient="records")
    return pd.DataFrame(score_records(records, spec, text=text))


def score_lines(lines: Sequence[str], spec: ScoringSpec) -> Any:
    """Dask: one partition of a JSON lines file (a list of lines)."""
    import pandas as pd

    chunk = parse_lines([line.rstrip("\n") for line in lines], 1)
    return pd.DataFrame(score_records(chunk.records, spec, broken=chunk.broken))


def decode(parts: Iterator[tuple[int, str, str]]) -> Iterator[Scored]:
    """Rows of ordered partitions into Scored chunks, numbered across partitions."""
    offset = 0
    scored = Scored([], {}, [], [])
    for index, kind, payload in parts:
        if kind == "end":
            yield scored
            offset += index
            scored = Scored([], {}, [], [])
        elif kind == "out":
            answer = orjson.loads(payload)
            scored.add(offset + index, answer["keep"], answer["output"])
        else:
            reject = orjson.loads(payload)
            scored.rejects.append(
                Reject(offset + reject["row"], reject["errors"], reject["keep"])
            )


def _bytes_per_row(path: Path, fmt: Format, sample: int = 1000) -> float:
    """About how many bytes of the file a row takes, to size partitions in rows."""
    if fmt == "parquet":
        rows = count_rows(path, fmt) or 1
        return max(1.0, path.stat().st_size / rows)
    with path.open("rb") as handle:
        lines = [line for _, line in zip(range(sample), handle, strict=False)]
    return max(1.0, sum(map(len, lines)) / max(1, len(lines)))


# --- Dask ----------------------------------------------------------------------------


@contextlib.contextmanager
def run_dask(
    spec: ScoringSpec,
    path: Path,
    fmt: Format,
    chunk_rows: int,
    *,
    scheduler: str | None,
    workers: int,
) -> Iterator[Iterator[Scored]]:
    """A Dask cluster (a LocalCluster, started on entering, unless ``scheduler``)."""
    try:
        import dask.bag as db
        import dask.dataframe as dd
        from dask.delayed import delayed
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ScoringError(
            "--engine dask needs Dask: install the service with its 'dask' extra"
        ) from None
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(scheduler))
        blocksize = int(chunk_rows * _bytes_per_row(path, fmt))
        if fmt == "jsonl":
            parts = db.read_text(str(path), blocksize=blocksize).to_delayed()
            tasks = [delayed(score_lines)(part, spec) for part in parts]
        else:
            if fmt == "csv":  # every cell as text, as the local reader reads it
                frame = dd.read_csv(
                    str(path), blocksize=blocksize, dtype=str, keep_default_na=False
                )
            else:
                frame = dd.read_parquet(str(path), split_row_groups=True)
            text = fmt == "csv"
            tasks = [
                delayed(score_frame)(part, spec, text) for part in frame.to_delayed()
            ]
        yield decode(_ordered(client, tasks, window=2 * _worker_count(client)))


def _worker_count(client: Any) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


def _ordered(
    client: Any, tasks: list[Any], window: int
) -> Iterator[tuple[int, str, str]]:
    """Each partition's rows in order, at most ``window`` partitions in flight."""
    pending: collections.deque[Any] = collections.deque()
    queue = iter(tasks)

    def submit() -> None:
        task = next(queue, None)
        if task is not None:
            pending.append(client.compute(task))

    for _ in range(window):
        submit()
    while pending:
        frame = pending.popleft().result()
        submit()
        yield from zip(
            frame["index"].tolist(),
            frame["kind"].tolist(),
            frame["payload"].tolist(),
            strict=True,
        )


# --- Spark ---------------------------------------------------------------------------


def _spark_partition(spec: ScoringSpec, shipped: bool, fmt: Format) -> Any:
    """The function mapInPandas runs on each partition (a closure: cloudpickled)."""

    def score(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd

        artifacts_dir = None
        if shipped:  # the package came as a zip: its artifacts are Spark's files
            from pyspark import SparkFiles

            artifacts_dir = SparkFiles.getRootDirectory()
        length = 0
        for batch in batches:
            if fmt == "jsonl":
                chunk = parse_lines(batch["value"].tolist(), length + 1)
            else:
                records = batch.to_dict(orient="records")
                if fmt == "csv":
                    chunk = Chunk(length + 1, _cells(records), text=True)
                else:
                    chunk = Chunk(length + 1, records)
            scored = scorer_for(spec, artifacts_dir).score(chunk)
            length += len(chunk)
            rows = _partition_rows(scored, 0)
            for key in ("index", "kind", "payload"):
                rows[key].pop()  # the batch's trailer: one per partition, below
            yield pd.DataFrame(rows)
        yield pd.DataFrame({"index": [length], "kind": ["end"], "payload": [""]})

    return score


def _package_zip(package: str, into: Path) -> Path:
    """The installed package and the runtime, zipped for SparkContext.addPyFile."""
    import importlib

    target = into / f"{package}.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for name in (package, "nb2svc_runtime"):
            root = Path(importlib.import_module(name).__file__ or "").parent
            for file in sorted(root.rglob("*.py")):
                archive.write(file, Path(name) / file.relative_to(root))
    return target


@contextlib.contextmanager
def run_spark(
    spec: ScoringSpec,
    path: Path,
    fmt: Format,
    chunk_rows: int,
    *,
    master: str | None,
) -> Iterator[Iterator[Scored]]:
    """Spark (its session started on entering); partitions scored on executors."""
    # Local executors run this interpreter, which has the package installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", PANDAS_WARNING, FutureWarning)
            from pyspark.sql import SparkSession
    except ImportError:
        raise ScoringError(
            "--engine spark needs PySpark: install the service with its 'spark' extra"
        ) from None
    builder = SparkSession.builder.appName(f"{spec.package} score")
    if master is not None:
        builder = builder.master(master)
    builder = builder.config(
        "spark.sql.execution.arrow.maxRecordsPerBatch", str(chunk_rows)
    )
    spark = builder.getOrCreate()
    context = spark.sparkContext
    shipped = not str(context.master).startswith("local")
    staging = Path(tempfile.mkdtemp(prefix="nb2svc-score-"))
    try:
        if shipped:  # a cluster: executors get the code and the artifacts from us
            _ship(context, spec, staging)
        location = str(path.resolve())
        # Partitions of about --chunk-rows rows (of one file, in the file's order), so
        # that a file, however small, keeps every core busy.
        partition = max(4096, int(chunk_rows * _bytes_per_row(path, fmt)))
        spark.conf.set("spark.sql.files.maxPartitionBytes", str(partition))
        if fmt == "csv":  # every cell as text, as the local reader reads it
            frame = spark.read.csv(location, header=True, inferSchema=False)
        elif fmt == "parquet":
            frame = spark.read.parquet(location)
        else:
            frame = spark.read.text(location)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", PANDAS_WARNING, FutureWarning)
            answers = frame.mapInPandas(
                _spark_partition(spec, shipped, fmt), RESULT_SCHEMA
            )
        yield _spark_answers(answers)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _spark_answers(answers: Any) -> Iterator[Scored]:
    rows = (
        (r[0], r[1], r[2]) for r in answers.toLocalIterator(prefetchPartitions=True)
    )
    try:
        yield from decode(rows)
    except Exception as exc:  # an executor's failure comes back as Java's text
        refused = _artifact_refusal(str(exc))
        if refused is None:
            raise
        raise ArtifactCheckError(f"on a Spark executor: {refused}") from None


def _ship(context: Any, spec: ScoringSpec, staging: Path) -> None:
    """The package and the runtime (a zip), and the artifacts, to every executor:
    the files of the model the client resolved (packaged, or the registered
    version's from the model cache), checked by each executor against its hashes.

    An artifact given to spark-submit with ``--files`` (the cluster's copy, on HDFS
    or S3) is the one executors get; they check it like any other.
    """
    context.addPyFile(str(_package_zip(spec.package, staging)))
    given = _submitted_files(context.getConf().get("spark.files", ""))
    for name, _ in spec.artifacts:
        if name not in given:
            context.addFile(str(Path(spec.artifacts_dir) / name))


def _submitted_files(files: str) -> set[str]:
    """The file names of spark-submit's ``--files`` (``spark.files``: URIs, commas)."""
    return {uri.rstrip("/").rsplit("/", 1)[-1] for uri in files.split(",") if uri}


def _artifact_refusal(text: str) -> str | None:
    """The executor's ArtifactCheckError message in a Spark error's text, if any."""
    marker = f"{ArtifactCheckError.__name__}: "
    for line in text.splitlines():
        if marker in line:
            return line.split(marker, 1)[1].strip()
    return None
