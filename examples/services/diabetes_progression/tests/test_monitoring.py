"""Monitoring: metrics, metadata, drift against the reference profile, request log.

Generated from diabetes_progression.ipynb by nb2svc 0.1.0: edit the notebook and
regenerate rather than editing this file.
"""

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from diabetes_progression import _monitoring, schemas
from diabetes_progression._artifacts import ARTIFACTS
from diabetes_progression.app import create_app
from diabetes_progression.settings import Settings

ACCESS_LOGGER = "diabetes_progression.access"


@contextmanager
def serving(**settings: Any) -> Iterator[TestClient]:
    """A ready client of an app created with these settings (the defaults otherwise)."""
    with TestClient(create_app(Settings(**settings))) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the service was not ready in time"
            time.sleep(0.05)
        yield client


def predict(client: TestClient, value: Any) -> Any:
    response = client.post(
        "/predict",
        content=json.dumps(value).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def sample(text: str, name: str, **labels: str) -> float:
    """One sample of a metric in Prometheus' text format (0 when absent)."""
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match and match.group(1) == name:
            have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                return float(match.group(3))
    return 0.0


def test_metrics_count_requests_predictions_and_errors() -> None:
    ok = {"method": "POST", "route": "/predict", "status": "200"}
    with serving(drift_interval=0) as client:
        before = client.get("/metrics").text
        predict(client, schemas.EXAMPLE_REQUEST)
        client.post(
            "/predict", content=b"{", headers={"Content-Type": "application/json"}
        )
        after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    for name in ("http_requests_total", "http_request_duration_seconds_count"):
        assert sample(text, name, **ok) == sample(before, name, **ok) + 1
    assert sample(text, "model_predictions_total", route="/predict") > sample(
        before, "model_predictions_total", route="/predict"
    )
    assert sample(text, "service_errors_total", kind="invalid_request") == (
        sample(before, "service_errors_total", kind="invalid_request") + 1
    )
    assert (
        sample(text, "model_info", artifacts_sha256=_monitoring.artifacts_sha256()) == 1
    )


def test_metadata_describes_the_model() -> None:
    with serving() as client:
        data = client.get("/metadata").json()
    assert data["model"]["artifacts"] == dict(sorted(ARTIFACTS.items()))
    assert data["notebook"]["file"] == "diabetes_progression.ipynb"
    assert data["nb2svc_version"] == "0.1.0"
    assert set(data["schemas"]) == {"input", "output"}
    assert (data["reference_profile"] is None) == (
        _monitoring.REFERENCE_PROFILE is None
    )


def test_drift_is_measured_against_the_reference_profile() -> None:
    with serving(drift_window=10, drift_min_rows=5, drift_interval=0) as client:
        for _ in range(10):
            predict(client, schemas.EXAMPLE_REQUEST)
        report = client.get("/monitoring/drift").json()
        metrics = client.get("/metrics").text
    if _monitoring.REFERENCE_PROFILE is None:
        assert report["status"] == "no_profile"
        assert "model_drift_psi{" not in metrics
        return
    assert report["status"] in {"ok", "drift"}
    assert report["window"]["rows"] == 10
    path = Path(_monitoring.artifact_path(_monitoring.REFERENCE_PROFILE))
    profile = json.loads(path.read_text(encoding="utf-8"))
    assert set(report["features"]) == set(profile["features"])
    for name, feature in report["features"].items():
        assert feature["psi"] >= 0
        assert sample(metrics, "model_drift_psi", source="input", feature=name) >= 0


def test_drift_window_is_bounded() -> None:
    window = _monitoring.Window(10)
    for _ in range(1000):
        window.add([object()], b"null", False, 3)
    _, entries = window.snapshot()
    assert 10 <= window.rows <= 12
    assert len(entries) == 4


def test_request_log_is_one_json_line_without_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER), serving() as client:
        predict(client, schemas.EXAMPLE_REQUEST)
    lines = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER
    ]
    (line,) = [x for x in lines if x["route"] == "/predict"]
    assert line["status"] == 200 and line["latency_ms"] >= 0
    assert line["request_id"] and line["model_version"]
    assert "inputs" not in line


def test_request_values_are_logged_only_when_allowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        caplog.at_level(logging.INFO, logger=ACCESS_LOGGER),
        serving(log_features=True) as client,
    ):
        predict(client, schemas.EXAMPLE_REQUEST)
    lines = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER
    ]
    (line,) = [x for x in lines if x["route"] == "/predict"]
    assert line["inputs"] == schemas.EXAMPLE_REQUEST


def test_probes_while_not_ready_are_not_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 503 from /readyz means "not yet", not an error: no error count, no info line."""
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER), serving() as client:
        before = client.get("/metrics").text
        app: Any = client.app
        app.state.ready = False  # as while the model loads
        try:
            assert client.get("/readyz").status_code == 503
        finally:
            app.state.ready = True
        text = client.get("/metrics").text
    probes = [
        r
        for r in caplog.records
        if r.name == ACCESS_LOGGER and "/readyz" in r.getMessage()
    ]
    assert probes == []
    assert sample(text, "service_errors_total", kind="http_503") == sample(
        before, "service_errors_total", kind="http_503"
    )
    assert (
        sample(text, "http_requests_total", method="GET", route="/readyz", status="503")
        == sample(
            before, "http_requests_total", method="GET", route="/readyz", status="503"
        )
        + 1
    )


def test_monitoring_can_be_switched_off() -> None:
    with serving(monitoring=False) as client:
        predict(client, schemas.EXAMPLE_REQUEST)
        assert client.get("/metrics").status_code == 404
        assert client.get("/monitoring/drift").status_code == 404
        assert client.get("/metadata").status_code == 200
