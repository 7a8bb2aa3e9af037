"""The service answers what fraud_scoring.ipynb computed, and says where it came from.

Generated from fraud_scoring.ipynb by nb2svc 0.1.0: edit the notebook and
regenerate rather than editing this file.
"""

import json
from pathlib import Path
from typing import Any

from nb2svc_runtime.testing import (
    ServiceUnderTest,
    assert_json_close,
    post_json,
    predict,
    sample,
)


def test_predict_matches_notebook(
    service: ServiceUnderTest, golden_example: dict[str, Any]
) -> None:
    with service.serving() as client:
        response = post_json(client, "/predict", golden_example["input"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert_json_close(response.json(), golden_example["output"])


def test_predict_batch_matches_notebook(service: ServiceUnderTest) -> None:
    examples = service.golden_examples()
    with service.serving() as client:
        response = post_json(client, "/predict/batch", [e["input"] for e in examples])
    assert response.status_code == 200, response.text
    assert_json_close(response.json(), [e["output"] for e in examples])


def test_metadata_names_the_notebook_and_the_model(service: ServiceUnderTest) -> None:
    with service.serving() as client:
        data = client.get("/metadata").json()
    assert data["model"]["artifacts"] == dict(sorted(service.artifacts.sha256.items()))
    assert data["notebook"]["file"] == "fraud_scoring.ipynb"
    assert data["nb2svc_version"] == "0.1.0"
    assert set(data["schemas"]) == {"input", "output"}
    reference = service.model.reference_profile
    assert (data["reference_profile"] is None) == (reference is None)


def test_drift_is_measured_against_the_reference_profile(
    service: ServiceUnderTest,
) -> None:
    settings = {"drift_window": 10, "drift_min_rows": 5, "drift_interval": 0}
    with service.serving(**settings) as client:
        for _ in range(10):
            predict(client, service.schemas.example_request)
        report = client.get("/monitoring/drift").json()
        metrics = client.get("/metrics").text
    reference = service.model.reference_profile
    if reference is None:
        assert report["status"] == "no_profile"
        assert "model_drift_psi{" not in metrics
        return
    assert report["status"] in {"ok", "drift"}
    assert report["window"]["rows"] == 10
    path = Path(service.artifacts.path(reference))
    profile = json.loads(path.read_text(encoding="utf-8"))
    assert set(report["features"]) == set(profile["features"])
    for name, feature in report["features"].items():
        assert feature["psi"] >= 0
        assert sample(metrics, "model_drift_psi", source="input", feature=name) >= 0
