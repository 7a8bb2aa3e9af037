"""The idiom notebooks (tests/notebooks/idioms/, answer key make_tagged.EXPECTED) through
`nb2svc tag --write`, then `nb2svc build --verify`: the service serves the model the
notebook settles on, asserted by name, and answers what the notebook computes; it takes
the raw input of the answer key (kind, columns in order, text as text), and the tagged
notebook exports the companions and the config settings the key names. The notebooks
with nothing to serve are refused with their candidates named.

SERVED lists the idioms tag serves; a forecasting model (monthly_sales_forecast) takes
a horizon, {"horizon": n}, and returns dated values. Models built from the notebook's
own classes or functions are tested in test_notebook_definitions.py.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nb2svc.errors import ExitCode
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
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
    "monthly_sales_forecast",
    "subscription_rf_vs_booster",
    "ticket_triage_tfidf",
    "wine_cross_validate",
)
REFUSED = ("anomaly_detector_zoo",)

pytestmark = pytest.mark.slow
NUMERIC = re.compile(r"^(u?int|float|bool)")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("idioms") / "idioms"
    shutil.copytree(IDIOMS, target)
    return target


def _exported(notebook: Path) -> dict[str, str]:
    """role -> the code of the cells the tagged notebook marks with it."""
    nb, _ = read_notebook(notebook)
    marked, problems = mark_cells(nb)
    assert problems == []
    found: dict[str, str] = {}
    for mc in marked:
        if mc.role is not None:
            found[mc.role.value] = found.get(mc.role.value, "") + mc.code + "\n"
    return found


def _served_input(out: Path) -> tuple[str, list[tuple[str, str]]]:
    """The built service's input kind and its columns (a frame) or keys (a record),
    each with "text" or "number" (another dtype: its name, which no key has)."""
    golden = json.loads((out / "tests" / "golden" / "examples.json").read_text())
    kind = golden["nb2svc"]["input_kind"]
    if kind == "frame":
        dtypes = {"str": "text", "object": "text"}
        return kind, [
            (name, "number" if NUMERIC.match(dtype) else dtypes.get(dtype, dtype))
            for name, dtype in golden["nb2svc"]["columns"]
        ]
    first = golden["examples"][0]["input"]
    if not isinstance(first, dict):
        return kind, []
    return kind, [
        (key, "text" if isinstance(value, str) else "number")
        for key, value in first.items()
    ]


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


@pytest.mark.parametrize("stem", SERVED)
def test_tag_serves_the_raw_input_companions_and_config_of_the_answer_key(
    workspace: Path, results: dict[str, tuple[str, int, str]], stem: str
) -> None:
    """The service takes the raw input the notebook scores, before its own cleaning
    (its columns in order, a category as text, not the notebook's codes), and the
    tagged notebook exports what serving needs and the settings the key names."""
    step, code, output = results[stem]
    assert (step, code) == ("build", 0), output
    expected = EXPECTED[stem]
    served = _served_input(workspace / f"out_{stem}")
    if expected.input_kind == "horizon":  # a record: how many steps ahead
        assert served == ("record", [("horizon", "number")]), output
    else:
        assert served == (expected.input_kind, list(expected.raw_columns)), output
    exported = _exported(workspace / f"{stem}.ipynb")
    code_text = "".join(exported.values())
    for name in expected.companions:
        assert re.search(rf"\b{re.escape(name)}\b", code_text), name
    for name in expected.config:
        assert re.search(rf"^{re.escape(name)} = ", exported["config"], re.M), name


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
