"""Issue 17, "Done when": build -> register -> serve from the registry alias ->
retrain on shifted data -> compare -> promote -> the restarted service answers with
the new model. A real ``mlflow server`` on loopback, a real kernel for the retrain,
real uvicorn for the service, the compare report in a real headless chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import pandas as pd
import pytest

from tests.helpers import png_size, render_in_chromium, run_module
from tests.registry_support import Registry, build_and_register, registry
from tests.retrain_support import churn_notebook, shifted_customers
from tests.service_support import golden_examples, service_env, start

__all__ = ["registry"]  # the session fixture

pytestmark = pytest.mark.slow

NAME = "churn"
PROFILE = "reference_profile.json"
THRESHOLD = 0.5  # the notebook's config


@dataclass(frozen=True)
class Churn:
    registry: Registry
    notebook: Path
    out: Path  # the built service


def client(registry: Registry) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=registry.url, registry_uri=registry.url)


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Churn:
    root = tmp_path_factory.mktemp("churn")
    notebook = churn_notebook(root / "notebook")
    out = root / "service" / NAME
    stdout = build_and_register(notebook, out, registry, NAME)
    assert f"registered: models:/{NAME}/1 in {registry.url}" in stdout, stdout
    client(registry).set_registered_model_alias(NAME, "champion", "1")
    return Churn(registry, notebook, out)


def retrain(
    churn: Churn, cwd: Path, *args: str | Path
) -> subprocess.CompletedProcess[str]:
    """``python -m churn retrain ARGS`` as the service's users run it."""
    env = service_env(churn.out)
    env["MLFLOW_TRACKING_URI"] = churn.registry.url
    env["NB2SVC_MODEL_CACHE"] = str(cwd / "cache")
    env.pop("NB2SVC_MODEL_PINNED", None)
    return subprocess.run(
        [sys.executable, "-m", NAME, "retrain", *(str(a) for a in args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture
def unpackaged(churn: Churn, tmp_path: Path) -> Path:
    """The service with its packaged model garbled: what it predicts correctly came
    from the registry."""
    out = tmp_path / "service" / NAME
    shutil.copytree(churn.out, out)
    (out / f"src/{NAME}/artifacts/churn_model.joblib").write_bytes(b"garbled")
    return out


@pytest.fixture
def registry_env(
    churn: Churn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Churn]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", churn.registry.url)
    monkeypatch.setenv("NB2SVC_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NB2SVC_MODEL_PINNED", raising=False)
    yield churn


def answers(
    out: Path, log: Path, inputs: list[Any]
) -> tuple[list[Any], dict[str, Any]]:
    """The batch answers and /metadata of the service started on the champion."""
    service = start(out, log, model_uri=f"models:/{NAME}@champion")
    try:
        response = httpx.post(f"{service.url}/predict/batch", json=inputs, timeout=30)
        assert response.status_code == 200, response.text
        metadata = httpx.get(f"{service.url}/metadata", timeout=10).json()
        return list(response.json()), metadata
    finally:
        assert service.stop() == 0, service.log_text()


def drift(out: Path, log: Path, rows: pd.DataFrame) -> dict[str, Any]:
    """/monitoring/drift of the service started on the champion, after ``rows``
    (tables of 20)."""
    settings = {"drift_window": 400, "drift_min_rows": 200, "drift_interval": 0}
    # One worker: each worker keeps its own window.
    service = start(
        out, log, "--workers", "1", model_uri=f"models:/{NAME}@champion", **settings
    )
    try:
        records = rows.to_dict(orient="records")
        for i in range(0, len(records), 20):
            sent = httpx.post(
                f"{service.url}/predict", json=records[i : i + 20], timeout=30
            )
            assert sent.status_code == 200, sent.text
        report: dict[str, Any] = httpx.get(
            f"{service.url}/monitoring/drift", timeout=30
        ).json()
        return report
    finally:
        assert service.stop() == 0, service.log_text()


def in_process(model_file: Path, inputs: list[Any]) -> list[Any]:
    """What the notebook's predict and postprocess answer with that model file,
    computed here without the service."""
    model = joblib.load(model_file)
    outputs = []
    for records in inputs:
        frame = pd.DataFrame(records)[["tenure", "monthly"]]
        probs = model.predict_proba(frame)[:, 1]
        outputs.append(
            [
                {
                    "churn_probability": round(float(p), 6),
                    "at_risk": bool(p >= THRESHOLD),
                }
                for p in probs
            ]
        )
    return outputs


def rows_file(path: Path) -> Path:
    frame = pd.read_csv(shifted_customers(path.parent / "population.csv", seed=23))
    frame[["tenure", "monthly"]].head(200).to_csv(path, index=False)
    return path


def test_retrain_compare_promote_serves_the_new_model(
    registry_env: Churn, unpackaged: Path, tmp_path: Path
) -> None:
    churn = registry_env
    golden = golden_examples(churn.out)
    inputs = [e["input"] for e in golden]

    # Served from the registry alias: version 1, the notebook's own model.
    before, metadata = answers(unpackaged, tmp_path / "v1.log", inputs)
    assert before == [e["output"] for e in golden]
    manifest = json.loads((churn.out / "nb2svc.json").read_text())
    assert metadata["model"]["artifacts"] == manifest["artifacts"]

    # Retrain on a shifted population, against the champion; registered as v2.
    shifted = shifted_customers(tmp_path / "shifted.csv")
    done = retrain(
        churn,
        tmp_path,
        "--data",
        shifted,
        "--out",
        tmp_path / "new",
        "--current",
        f"models:/{NAME}@champion",
        "--register",
        "--alias",
        "challenger",
        "--json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["outcome"] == "passed" and report["passed"] is True
    assert report["current"]["model"] == f"models:/{NAME}/1"
    assert report["metric"] == "roc_auc_score" and report["rows"] == 200
    assert report["new"]["score"] > report["current"]["score"]
    assert report["delta"] == pytest.approx(
        report["new"]["score"] - report["current"]["score"]
    )
    assert report["registered"] == f"models:/{NAME}/2"
    new_files = {p.name for p in (tmp_path / "new").iterdir()}
    assert new_files == set(manifest["artifacts"])  # same names as the service loads
    registered = client(churn.registry).get_model_version_by_alias(NAME, "challenger")
    assert registered.version == "2"
    assert json.loads(registered.tags["nb2svc.artifacts"]) == report["new"]["artifacts"]
    # The new version carries a drift profile of its own data, not v1's.
    assert report["new"]["artifacts"][PROFILE] != manifest["artifacts"][PROFILE]
    assert registered.tags["nb2svc.retrain.current"] == f"models:/{NAME}/1"

    # Compare champion and challenger on the same rows; the report in chromium.
    html = tmp_path / "compare.html"
    compared = run_module(
        "compare",
        f"models:/{NAME}@champion",
        f"models:/{NAME}@challenger",
        "--service",
        churn.out,
        "--data",
        rows_file(tmp_path / "rows.csv"),
        "--max-disagreement",
        "1",
        "--json",
        "--html",
        html,
        cwd=tmp_path,
        timeout=600,
    )
    assert compared.returncode == 0, compared.stdout + compared.stderr
    comparison = json.loads(compared.stdout)
    assert comparison["rows"] == 200
    assert comparison["disagreeing_rows"] > 0  # the retrained model ranks differently
    png, dom = render_in_chromium(html, tmp_path)
    assert png_size(png) == (1200, 900)
    assert "churn_probability" in dom and dom.count("<svg") >= 2

    # Promote: the champion alias moves to v2; the restarted service answers with it.
    client(churn.registry).set_registered_model_alias(NAME, "champion", "2")
    after, metadata = answers(unpackaged, tmp_path / "v2.log", inputs)
    expected = in_process(tmp_path / "new" / "churn_model.joblib", inputs)
    assert after == expected
    assert after != before
    assert metadata["model"]["artifacts"] == report["new"]["artifacts"]

    # The promoted version measures drift against a profile of its own training
    # data (rebuilt by retrain): the shifted population is no longer drift.
    population = shifted_customers(tmp_path / "later.csv", seed=31)
    later = pd.read_csv(population)[["tenure", "monthly"]].head(400)
    measured = drift(unpackaged, tmp_path / "v2-drift.log", later)
    assert measured["reference"]["sha256"] == report["new"]["artifacts"][PROFILE]
    assert measured["reference"]["rows"] == report["profile"]["rows"] == 600
    assert measured["status"] == "ok", measured
    assert measured["drifted"]["features"] == []
    client(churn.registry).set_registered_model_alias(NAME, "champion", "1")
    against_v1 = drift(unpackaged, tmp_path / "v1-drift.log", later)
    client(churn.registry).set_registered_model_alias(NAME, "champion", "2")
    assert against_v1["status"] == "drift", against_v1
    assert against_v1["reference"]["sha256"] == manifest["artifacts"][PROFILE]
    assert against_v1["drifted"]["features"] == ["monthly", "tenure"], against_v1


def versions(churn: Churn) -> list[str]:
    found = client(churn.registry).search_model_versions(f"name = '{NAME}'")
    return sorted(v.version for v in found)


def test_a_model_the_gate_refuses_is_not_registered(
    churn: Churn, tmp_path: Path
) -> None:
    """The notebook's own data again: the same model, no better by 0.01."""
    before = versions(churn)
    done = retrain(
        churn,
        tmp_path,
        "--data",
        churn.notebook.parent / "customers.csv",
        "--min-delta",
        "0.01",
        "--register",
        "--json",
    )
    assert done.returncode == 14, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["outcome"] == "failed_gate" and report["registered"] is None
    assert report["delta"] == 0.0
    assert versions(churn) == before


def test_an_unreachable_registry_is_exit_12(churn: Churn, tmp_path: Path) -> None:
    from tests.service_support import free_port

    env_port = free_port()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            NAME,
            "retrain",
            "--data",
            str(churn.notebook.parent / "customers.csv"),
            "--register",
            "--registry",
            f"http://127.0.0.1:{env_port}",
        ],
        cwd=tmp_path,
        env={**service_env(churn.out), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 12, done.stdout + done.stderr
    assert f"error: registry http://127.0.0.1:{env_port}:" in done.stderr
    assert "Traceback" not in done.stderr
    assert "gate: passed, but NOT registered (the registry failed)" in done.stdout


def test_retraining_to_the_same_files_registers_no_new_version(
    churn: Churn, tmp_path: Path
) -> None:
    """The notebook's own data reproduces version 1's files byte for byte: the same
    fingerprint as the build registered, so no new version, and the text says so."""
    before = versions(churn)
    done = retrain(
        churn,
        tmp_path,
        "--data",
        churn.notebook.parent / "customers.csv",
        "--register",
        "--registered-name",
        NAME,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"gate: passed, already registered (same fingerprint): models:/{NAME}/1"
        in done.stdout
    )
    assert versions(churn) == before
