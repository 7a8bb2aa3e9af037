"""Monitoring of a generated service, for real: installed offline, served by uvicorn.

In-distribution traffic keeps drift low; traffic with two shifted features makes
exactly those two cross the threshold, in ``/monitoring/drift``, in ``/metrics`` and
in one warning each in the log. With two workers the counters are totals.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import install_service
from tests.helpers import TINY, make_notebook
from tests.service_support import free_port, wait_for_service

pytestmark = pytest.mark.slow

PACKAGE = "fraud_scoring"
ENV = "FRAUD_SCORING_"
FEATURES = [
    "amount",
    "card_age_days",
    "country_mismatch",
    "hour",
    "merchant_category",
    "tx_last_24h",
]
SHIFTED = ["amount", "merchant_category"]
THRESHOLD = 0.2


def transactions(count: int, seed: int, shifted: bool = False) -> list[dict[str, Any]]:
    """Raw transactions drawn as the notebook draws its training data; ``shifted``
    makes amounts about 4.5 times larger and most merchants online gaming."""
    rng = np.random.default_rng(seed)
    categories = [
        "grocery",
        "fuel",
        "restaurant",
        "electronics",
        "travel",
        "online_gaming",
    ]
    weights = [0.30, 0.15, 0.20, 0.12, 0.10, 0.13]
    if shifted:
        weights = [0.04, 0.04, 0.04, 0.04, 0.04, 0.80]
    merchant = rng.choice(categories, size=count, p=weights)
    amount = np.round(rng.lognormal(mean=3.6 + 1.5 * shifted, sigma=1.1, size=count), 2)
    hour = rng.integers(0, 24, size=count)
    mismatch = rng.random(count) < 0.08
    card_age = rng.integers(1, 3650, size=count)
    tx_24h = rng.poisson(1.8, size=count)
    return [
        {
            "amount": float(amount[i]),
            "merchant_category": str(merchant[i]),
            "hour": int(hour[i]),
            "country_mismatch": bool(mismatch[i]),
            "card_age_days": int(card_age[i]),
            "tx_last_24h": int(tx_24h[i]),
        }
        for i in range(count)
    ]


@contextmanager
def serving(
    python: Path, package: str, folder: Path, *args: str, **env: str
) -> Iterator[tuple[str, Path]]:
    """``python -m PACKAGE serve ARGS`` on a loopback port; yields (url, log file).

    The service is stopped (SIGTERM, exit code 0 expected) on leaving.
    """
    port = free_port()
    log = folder / "service.log"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS")},
        "TMPDIR": str(folder),
        **env,
    }
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [str(python), "-m", package, "serve", "--port", str(port), *args],
            cwd=folder,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_service(base, proc, log)
            yield base, log
        finally:
            proc.terminate()
            code = proc.wait(timeout=60)
        assert code == 0, log.read_text()


def samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of a metric's samples whose labels include ``labels``."""
    found = []
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            found.append(float(match.group(3)))
    return found


def one(text: str, name: str, **labels: str) -> float:
    (value,) = samples(text, name, **labels)
    return value


def post_rows(client: httpx.Client, rows: list[dict[str, Any]], size: int) -> int:
    """Score ``rows`` as /predict tables of ``size`` rows; returns the request count."""
    count = 0
    for start in range(0, len(rows), size):
        response = client.post("/predict", json=rows[start : start + size])
        assert response.status_code == 200, response.text
        count += 1
    return count


@pytest.fixture(scope="module")
def fraud(examples_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("monitored") / PACKAGE
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nb2svc",
            "build",
            str(examples_copy / "fraud_scoring.ipynb"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path_factory.mktemp("cwd"),
    )
    assert result.returncode == 0, result.stderr
    assert (out / "src" / PACKAGE / "artifacts" / "reference_profile.json").is_file()
    return out


@pytest.fixture(scope="module")
def python(fraud: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the generated package installed offline (from a copy)."""
    return install_service(fraud, tmp_path_factory)


def test_drift_stays_low_in_distribution_and_names_the_shifted_features(
    python: Path, tmp_path: Path
) -> None:
    settings = {
        f"{ENV}DRIFT_WINDOW": "500",
        f"{ENV}DRIFT_MIN_ROWS": "200",
        f"{ENV}DRIFT_INTERVAL": "0",  # measured only when read: a deterministic log
    }
    with (
        serving(python, PACKAGE, tmp_path, "--workers", "1", **settings) as (base, log),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        assert client.get("/monitoring/drift").json()["status"] == "collecting"

        # In distribution: 500 rows as tables of 20, plus a batch of two tables.
        requests = post_rows(client, transactions(500, seed=1), 20)
        batch = client.post("/predict/batch", json=[transactions(10, seed=2)] * 2)
        assert batch.status_code == 200, batch.text
        calm = client.get("/monitoring/drift").json()
        assert calm["status"] == "ok", calm
        assert calm["window"] == {"rows": 500, "size": 500, "min_rows": 200}
        assert sorted(calm["features"]) == FEATURES
        assert calm["drifted"] == {"features": [], "predictions": []}
        for name, report in calm["features"].items():
            assert report["psi"] < 0.1, (name, report)
        assert calm["features"]["amount"]["ks_pvalue"] > 0.001
        assert calm["features"]["merchant_category"]["ks_statistic"] is None

        metrics = client.get("/metrics").text
        assert one(metrics, "model_drift_psi", source="input", feature="amount") < 0.1
        assert (
            one(metrics, "model_drift_detected", source="input", feature="amount") == 0
        )

        # Shifted: amounts and merchants change, nothing else does.
        requests += post_rows(client, transactions(500, seed=3, shifted=True), 25)
        shifted = client.get("/monitoring/drift").json()
        assert shifted["status"] == "drift", shifted
        assert shifted["drifted"]["features"] == SHIFTED
        for name in FEATURES:
            psi = shifted["features"][name]["psi"]
            assert (psi >= THRESHOLD) == (name in SHIFTED), (name, psi)
        assert shifted["features"]["amount"]["ks_pvalue"] < 1e-10
        assert "fraud_probability" in shifted["drifted"]["predictions"]
        assert client.get("/monitoring/drift").json() == shifted  # read again: same

        metrics = client.get("/metrics").text
        for name in FEATURES:
            drifted = name in SHIFTED
            psi = one(metrics, "model_drift_psi", source="input", feature=name)
            assert (psi >= THRESHOLD) == drifted, (name, psi)
            flag = one(metrics, "model_drift_detected", source="input", feature=name)
            assert flag == (1.0 if drifted else 0.0)
        assert one(metrics, "model_drift_window_rows") == 500
        assert (
            one(metrics, "model_drift_ks_pvalue", source="input", feature="amount")
            < 1e-10
        )

        # Requests, latency, predictions, errors by kind, the model's identity.
        ok = {"method": "POST", "route": "/predict", "status": "200"}
        assert one(metrics, "http_requests_total", **ok) == requests
        assert one(metrics, "http_request_duration_seconds_count", **ok) == requests
        assert one(metrics, "http_request_duration_seconds_sum", **ok) > 0
        assert one(metrics, "model_predictions_total", route="/predict") == 1000
        assert one(metrics, "model_predictions_total", route="/predict/batch") == 20
        assert client.post("/predict", json={"amount": "x"}).status_code == 422
        assert client.get("/nb2svc/no-such-route").status_code == 404
        metrics = client.get("/metrics").text
        assert one(metrics, "service_errors_total", kind="invalid_request") == 1
        assert one(metrics, "service_errors_total", kind="not_found") == 1
        assert one(metrics, "http_requests_total", route="unmatched", status="404") == 1
        info = samples(metrics, "model_info", model="fraud-scoring", version="2026.11")
        assert info == [1.0]
        assert samples(metrics, "process_resident_memory_bytes")  # one process

    text = log.read_text()
    warnings = [line for line in text.splitlines() if "drift: input" in line]
    assert len(warnings) == 2, warnings  # once per crossing, however often read
    assert {re.search(r"'(\w+)'", w).group(1) for w in warnings} == set(SHIFTED)  # type: ignore[union-attr]
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    predicts = [line for line in lines if line["route"] == "/predict"]
    assert len(predicts) == requests + 1  # and the invalid one
    for line in lines:
        assert {"request_id", "route", "status", "latency_ms", "model_version"} <= set(
            line
        )
        assert line["model_version"] == "2026.11"
        assert "inputs" not in line
    assert "online_gaming" not in text  # no feature value is ever logged


def test_counters_are_totals_across_workers(python: Path, tmp_path: Path) -> None:
    """Each worker sees part of the traffic (its own drift window says how much);
    every scrape, whichever worker answers it, reports the total."""
    ok = {"method": "POST", "route": "/predict", "status": "200"}
    with (
        serving(python, PACKAGE, tmp_path, "--workers", "2") as (base, _),
        ThreadPoolExecutor(8) as pool,
    ):
        # A fresh folder for prometheus-client's multiprocess mode, in TMPDIR.
        assert len(list(tmp_path.glob("nb2svc-metrics-*"))) == 1

        def score(row: dict[str, Any]) -> int:
            return httpx.post(f"{base}/predict", json=[row], timeout=30).status_code

        def window(_: int) -> tuple[int, int]:
            report = httpx.get(f"{base}/monitoring/drift", timeout=30).json()
            return report["worker"], report["window"]["rows"]

        sent = 0
        rows_by_worker: dict[int, int] = {}
        for seed in range(5):  # concurrent connections spread over the workers
            rows = transactions(40, seed=10 + seed)
            assert set(pool.map(score, rows)) == {200}
            sent += len(rows)
            rows_by_worker = dict(pool.map(window, range(16)))
            counts = rows_by_worker.values()
            if len(counts) == 2 and min(counts) > 0 and sum(counts) == sent:
                break
        assert len(rows_by_worker) == 2, rows_by_worker
        assert sum(rows_by_worker.values()) == sent
        assert max(rows_by_worker.values()) < sent  # no worker saw everything
        for _ in range(8):
            metrics = httpx.get(f"{base}/metrics", timeout=30).text
            assert one(metrics, "http_requests_total", **ok) == sent
            assert one(metrics, "model_predictions_total", route="/predict") == sent
            assert one(metrics, "http_request_duration_seconds_count", **ok) == sent
            assert one(metrics, "model_drift_window_rows") == sent  # summed
            assert not samples(metrics, "process_resident_memory_bytes")
    assert list(tmp_path.glob("nb2svc-metrics-*")) == []  # removed at exit


def test_metadata_is_a_registry_entry(
    python: Path, fraud: Path, tmp_path: Path
) -> None:
    manifest = json.loads((fraud / "nb2svc.json").read_text())
    with serving(python, PACKAGE, tmp_path, "--workers", "1") as (base, _):
        data = httpx.get(f"{base}/metadata", timeout=30).json()
    assert data["service"] == {"name": "fraud-scoring", "version": "0.1.0"}
    assert data["model"]["name"] == "fraud-scoring"
    assert data["model"]["version"] == "2026.11"
    assert data["model"]["artifacts"] == manifest["artifacts"]
    assert data["notebook"] == {
        "file": "fraud_scoring.ipynb",
        "cells_sha256": manifest["cells_sha256"],
    }
    assert data["nb2svc_version"] == manifest["nb2svc_version"]
    assert data["input_kind"] == "frame"
    # A table of rows, or one bare record (a one-row table): both the Record model.
    forms = data["schemas"]["input"]["anyOf"]
    assert forms == [
        {"items": {"$ref": "#/$defs/Record"}, "minItems": 1, "type": "array"},
        {"$ref": "#/$defs/Record"},
    ]
    assert "amount" in data["schemas"]["input"]["$defs"]["Record"]["properties"]
    assert "fraud_probability" in json.dumps(data["schemas"]["output"])
    reference = data["reference_profile"]
    assert reference["rows"] == 3000
    assert reference["sha256"] == manifest["artifacts"]["reference_profile.json"]
    assert reference["features"]["merchant_category"] == "categorical"
    assert reference["predictions"]["fraud_probability"] == "numeric"


def test_monitoring_can_be_switched_off(python: Path, tmp_path: Path) -> None:
    off = {f"{ENV}MONITORING": "false", f"{ENV}ACCESS_LOG": "false"}
    with (
        serving(python, PACKAGE, tmp_path, "--workers", "1", **off) as (base, log),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        post_rows(client, transactions(20, seed=5), 10)
        assert client.get("/metrics").status_code == 404
        assert client.get("/monitoring/drift").status_code == 404
        assert client.get("/metadata").status_code == 200
    assert '"event":"request"' not in log.read_text()


def test_service_without_reference_cell_has_metrics_but_no_profile(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    notebook = make_notebook(tmp_path, TINY, name="tiny_service.ipynb")
    build = subprocess.run(
        [sys.executable, "-m", "nb2svc", "build", str(notebook), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    run = tmp_path / "run"
    run.mkdir()
    # The build's own environment has every pinned requirement: run it from src/.
    python = Path(sys.executable)
    env = {"PYTHONPATH": str(out / "src")}
    with serving(python, "tiny_service", run, "--workers", "1", **env) as (base, _):
        assert httpx.post(f"{base}/predict", json={"a": 2.0}).json() == {"y": 4.0}
        drift = httpx.get(f"{base}/monitoring/drift").json()
        assert drift["status"] == "no_profile"
        assert drift["reference"] is None
        metrics = httpx.get(f"{base}/metrics").text
        assert one(metrics, "model_predictions_total", route="/predict") == 1
        assert samples(metrics, "model_info", model="tiny-service", version="0.1.0")
        assert not samples(metrics, "model_drift_psi")
        assert httpx.get(f"{base}/metadata").json()["reference_profile"] is None
