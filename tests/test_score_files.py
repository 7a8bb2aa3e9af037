"""``python -m <package> score``: a real built service scores real files, and its
answers equal what the same service answers over HTTP (uvicorn on loopback), row for
row, on the local engine, a Dask LocalCluster and local Spark.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.service_support import (
    built_service,
    package_of,
    service_env,
    serving,
    transactions_frame,
)

pytestmark = pytest.mark.slow


def score(out: Path, cwd: Path, *argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", package_of(out), "score", *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=service_env(out),
        timeout=600,
        check=False,
    )


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def fraud(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_service(tmp_path_factory, "fraud_scoring")


@pytest.fixture(scope="module")
def transactions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """400 transactions as CSV, row 7 with an hour that is not a number."""
    frame = transactions_frame(400, seed=15)
    path = tmp_path_factory.mktemp("data") / "transactions.csv"
    text = frame.astype(str)
    text.loc[6, "hour"] = "late"
    text.to_csv(path, index=False)
    return path, frame


@pytest.fixture(scope="module")
def local_scores(
    fraud: Path, transactions: tuple[Path, pd.DataFrame]
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    path, _ = transactions
    target = path.parent / "local.jsonl"
    result = score(fraud, path.parent, path, "-o", target, "--keep", "tx_id")
    return target, result


def test_a_csv_gets_the_services_answers_row_for_row(
    fraud: Path,
    transactions: tuple[Path, pd.DataFrame],
    local_scores: tuple[Path, subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    _, frame = transactions
    target, result = local_scores
    assert result.returncode == 1, result.stderr  # one row rejected
    assert "1 row rejected" in result.stderr and "rows/s" in result.stderr
    (reject,) = jsonl(Path(f"{target}.rejects.jsonl"))
    assert reject["row"] == 7 and reject["keep"] == {"tx_id": "tx-00006"}
    assert reject["errors"][0]["loc"] == ["hour"]
    scored = jsonl(target)
    valid = frame.drop(index=6)
    assert [row["tx_id"] for row in scored] == valid["tx_id"].tolist()
    requests = valid.drop(columns="tx_id").to_dict(orient="records")
    with serving(fraud, tmp_path / "serve.log") as service:
        answers = []
        for start in range(0, len(requests), 100):  # the service's own batch size
            response = httpx.post(
                f"{service.url}/predict", json=requests[start : start + 100], timeout=30
            )
            assert response.status_code == 200, response.text
            answers.extend(response.json())
    assert [{k: v for k, v in row.items() if k != "tx_id"} for row in scored] == answers


@pytest.mark.parametrize("engine", ["dask", "spark"])
def test_dask_and_spark_write_what_the_local_engine_writes(
    fraud: Path,
    transactions: tuple[Path, pd.DataFrame],
    local_scores: tuple[Path, subprocess.CompletedProcess[str]],
    tmp_path: Path,
    engine: str,
) -> None:
    path, _ = transactions
    local, _ = local_scores
    target = tmp_path / f"{engine}.jsonl"
    options = ["--master", "local[2]"] if engine == "spark" else ["--workers", "2"]
    result = score(
        fraud, tmp_path, path, "-o", target, "--keep", "tx_id", "--chunk-rows", "150",
        "--engine", engine, *options,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert target.read_bytes() == local.read_bytes()
    rejects = Path(f"{target}.rejects.jsonl").read_bytes()
    assert rejects == Path(f"{local}.rejects.jsonl").read_bytes()


def test_a_tampered_artifact_stops_scoring(fraud: Path, tmp_path: Path) -> None:
    copy = tmp_path / "service"
    shutil.copytree(fraud / "src", copy / "src")
    model = next((copy / "src" / package_of(fraud) / "artifacts").glob("*.joblib"))
    model.write_bytes(model.read_bytes() + b"\0")
    source = tmp_path / "rows.jsonl"
    example = json.loads((fraud / "tests/golden/examples.json").read_text())
    source.write_text(json.dumps(example["examples"][0]["input"][0]) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", package_of(fraud), "score", str(source), "-o", "x.csv"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
        env={**service_env(fraud), "PYTHONPATH": str(copy / "src")},
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "changed after the build" in result.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize(
    ("name", "field"), [("diabetes_progression", None), ("ticket_router", "text")]
)
def test_record_and_text_services_score_files_as_their_batch_route_answers(
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    name: str,
    field: str | None,
) -> None:
    out = built_service(tmp_path_factory, name)
    examples = json.loads((out / "tests/golden/examples.json").read_text())["examples"]
    requests = [example["input"] for example in examples] * 3
    if field is None:  # records: one JSON object per line
        source = tmp_path / "rows.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in requests))
    else:  # one text per row, in a CSV column
        source = tmp_path / "rows.csv"
        pd.DataFrame({field: requests}).to_csv(source, index=False)
    target = tmp_path / "scores.jsonl"
    result = score(out, tmp_path, source, "-o", target)
    assert result.returncode == 0, result.stderr
    with serving(out, tmp_path / "serve.log") as service:
        response = httpx.post(f"{service.url}/predict/batch", json=requests, timeout=30)
        assert response.status_code == 200, response.text
    answers = [a if isinstance(a, dict) else {"prediction": a} for a in response.json()]
    assert jsonl(target) == answers


def test_the_command_line_lists_score(fraud: Path, tmp_path: Path) -> None:
    result = score(fraud, tmp_path, "--help")
    assert result.returncode == 0
    assert "Exit codes: 0 all scored, 1 some rows rejected" in result.stdout
    listing = subprocess.run(
        [sys.executable, "-m", package_of(fraud), "--help"],
        capture_output=True, text=True, env=service_env(fraud), timeout=60, check=True,
    )  # fmt: skip
    assert "score a CSV, Parquet or JSON lines file" in listing.stdout
