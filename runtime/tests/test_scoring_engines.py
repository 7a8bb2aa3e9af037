"""``score --engine dask`` and ``--engine spark``: the local engine's output, row for row.

A real Dask LocalCluster (two worker processes) and a real local Spark (one session
for the module, Java required), scoring the stub package of test_scoring.py with
several partitions, bad rows among them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from scoring_stub import write_stub

from nb2svc_runtime.scoring import cli

pytestmark = pytest.mark.slow
NAME = "stub_engines"
HEADER = ["id", "amount", "category", "count", "flag"]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("packages")
    sha = write_stub(root, NAME, "frame")
    # Workers (Dask's spawned processes, Spark's Python workers) find it as users'
    # installed package would be found.
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), saved]))
    sys.path.insert(0, str(root))
    yield {"root": str(root), **sha}
    sys.path.remove(str(root))
    if saved is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = saved


def score(package: dict[str, str], *argv: str | Path) -> tuple[int, str]:
    stderr = io.StringIO()
    schemas = __import__(f"{NAME}.schemas", fromlist=["x"])
    code = cli.main(
        [str(a) for a in argv],
        package=NAME,
        schemas=schemas,
        kind="frame",
        artifacts_dir=Path(package["root"]) / NAME / "artifacts",
        artifacts={"offset.txt": package["offset.txt"]},
        stderr=stderr,
    )
    return code, stderr.getvalue()


def table(n: int) -> list[list[Any]]:
    body: list[list[Any]] = [
        [f"0{i:04d}", 100 + i / 4, "abc"[i % 3], i % 7, i % 2 == 0] for i in range(n)
    ]
    body[5][1] = "n/a"  # invalid: rejected with its row number
    body[77][1] = 13  # the notebook's code fails on it
    body[150][3] = ""  # missing
    return body


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    body = table(240)
    frame = pd.DataFrame(body, columns=HEADER).astype(str)
    frame.to_csv(folder / "rows.csv", index=False)
    lines = [
        json.dumps(dict(zip(HEADER, row, strict=True))) if i != 9 else "{oops"
        for i, row in enumerate(body)
    ]
    (folder / "rows.jsonl").write_text("\n".join(lines) + "\n")
    valid = [r for r in body if isinstance(r[1], float) and isinstance(r[3], int)]
    typed = pd.DataFrame(valid, columns=HEADER)
    typed.to_parquet(folder / "rows.parquet", row_group_size=50)
    return {"csv": folder / "rows.csv", "jsonl": folder / "rows.jsonl",
            "parquet": folder / "rows.parquet"}  # fmt: skip


@pytest.fixture(scope="module")
def local(
    package: dict[str, str],
    inputs: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """The local engine's outputs: what every engine must write."""
    out = tmp_path_factory.mktemp("local")
    results = {}
    for fmt, source in inputs.items():
        target = out / f"scores.{fmt}"
        code, err = score(
            package, source, "-o", target, "--keep", "id", "--chunk-rows", "40"
        )
        assert code == (cli.EXIT_OK if fmt == "parquet" else cli.EXIT_REJECTED), err
        results[fmt] = target
    return results


def same_files(ours: Path, theirs: Path) -> None:
    if ours.suffix == ".parquet":  # row groups follow the partitions: compare tables
        mine, local = pd.read_parquet(ours), pd.read_parquet(theirs)
        assert mine.dtypes.to_dict() == local.dtypes.to_dict()
        assert mine.to_dict(orient="records") == local.to_dict(orient="records")
    else:
        assert ours.read_bytes() == theirs.read_bytes()
    rejects = Path(f"{theirs}.rejects.jsonl")
    if rejects.exists():
        assert Path(f"{ours}.rejects.jsonl").read_bytes() == rejects.read_bytes()
    else:
        assert not Path(f"{ours}.rejects.jsonl").exists()


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield str(cluster.scheduler_address)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_dask_writes_what_the_local_engine_writes(
    package: dict[str, str],
    inputs: dict[str, Path],
    local: dict[str, Path],
    dask_scheduler: str,
    tmp_path: Path,
    fmt: str,
) -> None:
    target = tmp_path / f"scores.{fmt}"
    code, err = score(
        package, inputs[fmt], "-o", target, "--keep", "id", "--chunk-rows", "40",
        "--engine", "dask", "--scheduler", dask_scheduler,
    )  # fmt: skip
    assert code in (cli.EXIT_OK, cli.EXIT_REJECTED), err
    same_files(target, local[fmt])
    if fmt == "csv":
        rejects = Path(f"{target}.rejects.jsonl").read_text().splitlines()
        assert [json.loads(line)["row"] for line in rejects] == [6, 78, 151]


def test_dask_starts_its_own_local_cluster_by_default(
    package: dict[str, str],
    inputs: dict[str, Path],
    local: dict[str, Path],
    tmp_path: Path,
) -> None:
    target = tmp_path / "scores.csv"
    code, err = score(
        package, inputs["csv"], "-o", target, "--keep", "id", "--chunk-rows", "100",
        "--engine", "dask", "--workers", "2",
    )  # fmt: skip
    assert code == cli.EXIT_REJECTED, err
    same_files(target, local["csv"])


@pytest.fixture(scope="module")
def spark() -> Iterator[None]:
    if shutil.which("java") is None and "JAVA_HOME" not in os.environ:
        pytest.fail("Spark needs Java: .ci/run installs a headless JRE")
    yield
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_spark_writes_what_the_local_engine_writes(
    package: dict[str, str],
    inputs: dict[str, Path],
    local: dict[str, Path],
    spark: None,
    tmp_path: Path,
    fmt: str,
) -> None:
    target = tmp_path / f"scores.{fmt}"
    code, err = score(
        package, inputs[fmt], "-o", target, "--keep", "id", "--chunk-rows", "40",
        "--engine", "spark", "--master", "local[2]",
    )  # fmt: skip
    assert code in (cli.EXIT_OK, cli.EXIT_REJECTED), err
    same_files(target, local[fmt])
