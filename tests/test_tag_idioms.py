"""The idiom notebooks (tests/notebooks/idioms/, answer key make_tagged.EXPECTED) through
`nb2svc tag --write`, then `nb2svc build --verify`: the service serves the model the
notebook settles on, asserted by name, and answers what the notebook computes. The
notebooks with nothing to serve are refused with their candidates named.

SERVED lists the idioms tag serves. For now refused clearly instead: a forecasting
model (monthly_sales_forecast: a horizon in, dated values out). Models built from the
notebook's own classes or functions are tested in test_notebook_definitions.py.
"""

from __future__ import annotations

import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nb2svc.errors import ExitCode
from tests.helpers import run_module

HERE = Path(__file__).resolve().parent
IDIOMS = HERE / "notebooks" / "idioms"

sys.path.insert(0, str(HERE / "notebooks"))
try:
    import make_tagged
finally:
    sys.path.pop(0)

EXPECTED = make_tagged.EXPECTED
SERVED = (
    "admissions_statsmodels",
    "cancer_grid_search",
    "census_label_encoding",
    "churn_course_book",
    "conversion_xgb_native",
    "diabetes_exercise",
    "diabetes_random_search",
    "fraud_threshold",
    "iris_kmeans",
    "loan_default_lightgbm",
    "machine_failure_demo_last",
    "mall_segments",
    "subscription_rf_vs_booster",
    "ticket_triage_tfidf",
    "wine_cross_validate",
)
REFUSED = ("anomaly_detector_zoo",)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("idioms") / "idioms"
    shutil.copytree(IDIOMS, target)
    return target


def _tag_build_verify(folder: Path, stem: str) -> tuple[str, int, str]:
    notebook = folder / f"{stem}.ipynb"
    tagged = run_module("tag", notebook, "--write", timeout=600)
    output = " ".join((tagged.stdout + tagged.stderr).split())
    if tagged.returncode != 0:
        return "tag", tagged.returncode, output
    built = run_module(
        "build", notebook, "-o", folder / f"out_{stem}", "--verify", timeout=900
    )
    return "build", built.returncode, output + "\n" + built.stdout + built.stderr


@pytest.fixture(scope="module")
def results(workspace: Path) -> dict[str, tuple[str, int, str]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {s: pool.submit(_tag_build_verify, workspace, s) for s in SERVED}
        return {s: f.result() for s, f in futures.items()}


def test_the_answer_key_knows_every_listed_notebook() -> None:
    assert set(SERVED) | set(REFUSED) <= set(EXPECTED)
    assert all(EXPECTED[s].model is None for s in REFUSED)
    assert all(EXPECTED[s].model is not None for s in SERVED)


@pytest.mark.parametrize("stem", SERVED)
def test_tag_serves_the_model_the_notebook_settles_on(
    results: dict[str, tuple[str, int, str]], stem: str
) -> None:
    step, code, output = results[stem]
    assert (step, code) == ("build", 0), output
    assert f"model: picked '{EXPECTED[stem].model}'" in output
    assert "the service matches the notebook" in output
    assert "checked: the tagged notebook runs as build runs it" in output


@pytest.mark.parametrize("stem", REFUSED)
def test_nothing_sensible_to_serve_is_refused_with_the_candidates(
    workspace: Path, stem: str
) -> None:
    notebook = workspace / f"{stem}.ipynb"
    before = notebook.read_bytes()
    tagged = run_module("tag", notebook, "--write", timeout=600)
    output = " ".join((tagged.stdout + tagged.stderr).split())
    assert tagged.returncode == ExitCode.USER_ERROR, output
    assert "tag cannot tell which model to serve" in output
    assert "NB1209" in output and "--model NAME" in output
    for candidate in EXPECTED[stem].candidates:
        assert candidate in output, candidate
    assert notebook.read_bytes() == before


def test_a_forecasting_model_is_refused_clearly(workspace: Path) -> None:
    notebook = workspace / "monthly_sales_forecast.ipynb"
    tagged = run_module("tag", notebook, timeout=600)
    output = " ".join((tagged.stdout + tagged.stderr).split())
    assert tagged.returncode == ExitCode.USER_ERROR, output
    assert "the model to serve is 'hw_final'" in output
    assert "a forecasting model: its service would take a horizon" in output
    assert "NB1212" in output
