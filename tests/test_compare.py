"""Issue 17: ``nb2svc compare`` end to end: two registered versions of the fraud example
(the bundled notebook, and a variant retrained with other hyper-parameters) served
from a real ``mlflow server`` by real uvicorn, scoring rows generated here; the
report checked against outputs fetched independently, and its HTML page in chromium."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import httpx
import pytest
from scipy.stats import ks_2samp

from nb2svc.errors import ExitCode
from tests.helpers import png_size, render_in_chromium, run_module
from tests.registry_support import Registered, registered, registry
from tests.service_support import start

__all__ = ["registered", "registry"]  # the session fixtures

pytestmark = pytest.mark.slow

CATEGORIES = ("grocery", "fuel", "restaurant", "electronics", "travel", "online_gaming")
ROWS = 300


def transactions(path: Path) -> list[dict[str, object]]:
    rng = random.Random(17)
    rows: list[dict[str, object]] = [
        {
            "amount": round(rng.lognormvariate(3.6, 1.1), 2),
            "merchant_category": rng.choice(CATEGORIES),
            "hour": rng.randrange(24),
            "country_mismatch": rng.random() < 0.1,
            "card_age_days": rng.randrange(1, 3650),
            "tx_last_24h": rng.randrange(0, 8),
        }
        for _ in range(ROWS)
    ]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def scored(
    out: Path, log: Path, rows: list[dict[str, object]]
) -> list[dict[str, object]]:
    """The rows scored by the service in ``out`` with its own packaged artifacts."""
    service = start(out, log)
    try:
        response = httpx.post(
            f"{service.url}/predict/batch", json=[[r] for r in rows], timeout=60
        )
        assert response.status_code == 200, response.text
        return [answer[0] for answer in response.json()]
    finally:
        assert service.stop() == 0, service.log_text()


@pytest.fixture
def env(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Registered:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.registry.url)
    monkeypatch.setenv("NB2SVC_MODEL_CACHE", str(tmp_path / "cache"))
    return registered


def test_compare_two_registered_versions(env: Registered, tmp_path: Path) -> None:
    rows = transactions(tmp_path / "rows.csv")
    html = tmp_path / "report.html"
    result = run_module(
        "compare",
        "models:/fraud@champion",
        "models:/fraud@challenger",
        "--service",
        env.champion,
        "--data",
        tmp_path / "rows.csv",
        "--json",
        "--html",
        html,
        "--top",
        "5",
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == ExitCode.DISAGREE, result.stdout + result.stderr
    report = json.loads(result.stdout)

    # What each version answers, asked independently (each service with the
    # artifacts it was built with, which are the ones registered).
    a = scored(env.champion, tmp_path / "a.log", rows)
    b = scored(env.challenger, tmp_path / "b.log", rows)
    pa = [float(x["fraud_probability"]) for x in a]  # type: ignore[arg-type]
    pb = [float(x["fraud_probability"]) for x in b]  # type: ignore[arg-type]
    differing = [
        i
        for i in range(ROWS)
        if abs(pa[i] - pb[i]) > 1e-6 + 1e-6 * abs(pa[i])
        or a[i]["decision"] != b[i]["decision"]
    ]
    assert 0 < len(differing) <= ROWS
    assert report["rows"] == ROWS
    assert report["disagreeing_rows"] == len(differing)
    agreement = {f["field"]: f for f in report["agreement"]}
    assert agreement["model_version"]["exact"] == ROWS  # the same config
    assert agreement["fraud_probability"]["max_abs_diff"] == pytest.approx(
        max(abs(x - y) for x, y in zip(pa, pb, strict=True))
    )
    same_decision = sum(
        x["decision"] == y["decision"] for x, y in zip(a, b, strict=True)
    )
    assert agreement["decision"]["exact"] == same_decision
    shift = {s["field"]: s for s in report["shift"]}
    expected = ks_2samp(pa, pb)
    assert shift["fraud_probability"]["ks"] == pytest.approx(expected.statistic)
    assert shift["fraud_probability"]["mean_a"] == pytest.approx(sum(pa) / ROWS)
    reviews = sum(x["decision"] == "review" for x in b) / ROWS
    assert shift["decision"]["frequencies"].get("review", {"b": 0.0})[
        "b"
    ] == pytest.approx(reviews)
    # The largest disagreements: row number, its input and both outputs.
    largest = report["disagreements"]
    assert 0 < len(largest) <= 5
    for item in largest:
        index = item["row"] - 1
        assert item["input"] == rows[index]
        assert item["a"] == a[index] and item["b"] == b[index]
    changed_label = [i for i in differing if a[i]["decision"] != b[i]["decision"]]
    if not changed_label:  # else label changes rank first, by row
        top = max(differing, key=lambda i: (abs(pa[i] - pb[i]), -i))
        assert largest[0]["row"] == top + 1
    else:
        assert largest[0]["row"] == changed_label[0] + 1
    check_html_in_chromium(html, tmp_path)


def check_html_in_chromium(html: Path, tmp_path: Path) -> None:
    text = html.read_text()
    assert "Content-Security-Policy" in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    data, dom = render_in_chromium(html, tmp_path)
    assert png_size(data) == (1200, 900)
    assert len(data) > 20_000  # a blank page compresses to a few kB
    assert "DISAGREE" in dom
    assert dom.count("<svg") == 3  # fraud_probability, decision, model_version
    assert dom.count("<rect") >= 20
    assert "Largest disagreements" in dom


def test_a_service_and_its_own_registered_version_agree(
    env: Registered, tmp_path: Path
) -> None:
    transactions(tmp_path / "rows.csv")
    result = run_module(
        "compare",
        env.champion,
        "models:/fraud/1",
        "--data",
        tmp_path / "rows.csv",
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    assert f"AGREE: 0 of {ROWS} rows disagree" in result.stdout


def test_candidate_artifacts_are_served_by_the_service_and_checked(
    env: Registered, tmp_path: Path
) -> None:
    """B, a folder of retrained artifacts, served by the champion's service: it answers
    exactly as the challenger's own service (whose model those files are)."""
    transactions(tmp_path / "rows.csv")
    candidate = env.challenger / "src" / "fraud_scoring" / "artifacts"
    result = run_module(
        "compare",
        env.challenger,
        candidate,
        "--service",
        env.champion,
        "--data",
        tmp_path / "rows.csv",
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    assert f"AGREE: 0 of {ROWS} rows disagree" in result.stdout
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "model.pkl").write_bytes(b"not this service's artifact")
    refused = run_module(
        "compare",
        env.champion,
        stray,
        "--data",
        tmp_path / "rows.csv",
        cwd=tmp_path,
        timeout=600,
    )
    assert refused.returncode == ExitCode.SERVICE_FAILED, (
        refused.stdout + refused.stderr
    )
    assert "has artifacts ['model.pkl'], but this service loads" in refused.stderr
