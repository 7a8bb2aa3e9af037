"""`nb2svc tag` proposes the `reference` cell: the raw rows the served model was trained
on, in the shape the service takes, so that a service built from a tagged notebook
measures drift like one built from a hand-marked notebook. Where there are no such rows
(a forecasting model, a model fitted inside a function, `--static` without a training
split, held-out rows) it proposes none and says why in one note.

The unmarked notebooks of tests/notebooks/ with a training split go through a real
`tag` (traced, checked by running), `build`, and the built service on loopback; the
other cases run tag in a real kernel or, for `--static`, read the code only.
"""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from nb2svc.errors import ExitCode
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from nb2svc.tag import TagResult, tag_notebook
from tests.helpers import CellSpec, make_notebook, run_module
from tests.service_support import golden_examples, package_of, serving
from tests.test_tag import BUILDABLE, UNMARKED

HERE = Path(__file__).resolve().parent
IDIOMS = HERE / "notebooks" / "idioms"

#: What each unmarked notebook's model is trained on, as the notebook writes it.
TRAINED_ON = {
    "churn_pipeline": "X_train",
    "house_prices": "train",  # the frame still holds the label: NB603 drops it
    "ticket_text": "X_train",
    "sensor_out_of_order": "X_train",
    "loan_magics": "X_train",
    "churn_credentials": "X_train",
}
NONE = "reference: none proposed: "


def reference_code(content: str | None, folder: Path) -> str | None:
    """The code of the tagged notebook's reference cell (None: it has none)."""
    assert content is not None
    path = folder / "tagged-reference-check.ipynb"
    path.write_text(content, encoding="utf-8")
    nb, _ = read_notebook(path)
    marked, problems = mark_cells(nb)
    assert problems == []
    found = [mc.code.strip() for mc in marked if mc.role is not None]
    codes = [
        mc.code.strip()
        for mc in marked
        if mc.role is not None and mc.role.value == "reference"
    ]
    assert len(codes) <= 1, found
    return codes[0] if codes else None


def notes(result: TagResult) -> str:
    return "\n".join(result.notes)


# --- the unmarked notebooks: tag -> build -> the service's drift report ------------


def _tag_and_build(folder: Path, stem: str) -> dict[str, Any]:
    notebook = folder / f"{stem}.ipynb"
    tagged = folder / f"{stem}_tagged.ipynb"
    tag = run_module("tag", notebook, "-o", tagged)
    done: dict[str, Any] = {"tag": tag, "tagged": tagged, "out": folder / f"out_{stem}"}
    if tag.returncode == 0:
        done["build"] = run_module("build", tagged, "-o", done["out"], timeout=600)
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every buildable unmarked notebook tagged, then its tagged copy built."""
    folder = tmp_path_factory.mktemp("reference") / "unmarked"
    shutil.copytree(UNMARKED, folder)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {s: pool.submit(_tag_and_build, folder, s) for s in BUILDABLE}
        return {stem: f.result() for stem, f in futures.items()}


def _profile(done: dict[str, Any]) -> dict[str, Any]:
    out: Path = done["out"]
    path = out / "src" / package_of(out) / "artifacts" / "reference_profile.json"
    assert path.is_file(), done["build"].stdout + done["build"].stderr
    profile: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return profile


def _input_features(example: Any) -> set[str] | int:
    """The features the service receives: a table's columns, a text's length and
    words; for an array, the number of items in a row."""
    if isinstance(example, list) and example and isinstance(example[0], dict):
        return set(example[0])
    if isinstance(example, dict):
        return set(example)
    if isinstance(example, str) or (
        isinstance(example, list) and example and isinstance(example[0], str)
    ):
        return {"length", "words"}
    row = example[0] if isinstance(example[0], list) else example
    return len(row)


@pytest.mark.slow
@pytest.mark.parametrize("stem", BUILDABLE)
def test_tag_proposes_the_training_rows_and_build_profiles_the_inputs(
    built: dict[str, dict[str, Any]], stem: str
) -> None:
    done = built[stem]
    tag = done["tag"]
    said = tag.stdout + tag.stderr
    assert tag.returncode == 0, said
    expected = TRAINED_ON[stem]
    tagged = done["tagged"].read_text(encoding="utf-8")
    assert reference_code(tagged, done["tagged"].parent) == (f"reference = {expected}")
    # the note names the cell and where the rows come from
    assert f"reference: {expected}, the raw rows " in said
    assert "the training half of train_test_split in cell " in said
    assert "build profiles its reference" in said  # tag's check profiled it
    build = done["build"]
    assert build.returncode == 0, build.stdout + build.stderr
    profile = _profile(done)
    trained = re.search(r"is trained on in cell \d+ \((\d+) rows\)", said)
    assert trained is not None, said
    assert profile["rows"] == int(trained.group(1))
    features = _input_features(golden_examples(done["out"])[0]["input"])
    if isinstance(features, int):
        assert len(profile["features"]) == features
    else:
        assert set(profile["features"]) == features
    if stem == "house_prices":  # the label is left out, with build's warning
        assert "price" not in profile["features"]
        assert "NB603" in build.stdout + build.stderr


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["churn_pipeline", "house_prices", "ticket_text"])
def test_the_built_service_measures_drift_against_the_reference(
    built: dict[str, dict[str, Any]], stem: str, tmp_path: Path
) -> None:
    out: Path = built[stem]["out"]
    profile = _profile(built[stem])
    example = golden_examples(out)[0]["input"]
    settings = {"drift_window": 10, "drift_min_rows": 5, "drift_interval": 0}
    log = tmp_path / "service.log"
    with (
        serving(out, log, "--workers", "1", **settings) as svc,
        httpx.Client(base_url=svc.url, timeout=30, trust_env=False) as client,
    ):
        assert client.get("/monitoring/drift").json()["status"] == "collecting"
        for _ in range(10):
            answer = client.post("/predict", json=example)
            assert answer.status_code == 200, answer.text
        report = client.get("/monitoring/drift").json()
    assert report["status"] in {"ok", "drift"}, report
    assert report["window"]["rows"] >= 10
    assert set(report["features"]) == set(profile["features"])


# --- where tag proposes none, and says why --------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stem", "why"),
    [
        (
            "monthly_sales_forecast",
            "a forecasting model takes a horizon, not rows to profile",
        ),
        (
            "churn_course_book",
            "'model' is fitted where tag cannot follow its training rows "
            "(inside a function, or by a formula)",
        ),
    ],
)
def test_no_reference_without_training_rows_of_the_input_shape(
    tmp_path: Path, stem: str, why: str
) -> None:
    shutil.copy(IDIOMS / f"{stem}.ipynb", tmp_path)
    tagged = tmp_path / "tagged.ipynb"
    done = run_module("tag", tmp_path / f"{stem}.ipynb", "-o", tagged)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    (line,) = [ln for ln in said.splitlines() if NONE in ln]
    assert NONE + why + "; the service measures no drift until" in line
    assert reference_code(tagged.read_text(encoding="utf-8"), tmp_path) is None


IMPORTS: CellSpec = (
    "code",
    "import numpy as np\n"
    "import pandas as pd\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.model_selection import train_test_split",
)
FRAME: CellSpec = (
    "code",
    "rng = np.random.default_rng(4)\n"
    "df = pd.DataFrame({'a': rng.normal(size=300), 'b': rng.normal(size=300),\n"
    "                   'c': rng.normal(size=300)})\n"
    "y = (df.a - df.c > 0).astype(int)",
)
SPLIT: CellSpec = (
    "code",
    "X_train, X_valid, y_train, y_valid = train_test_split(df, y, random_state=0)",
)


def test_static_proposes_the_training_half_of_a_split(tmp_path: Path) -> None:
    path = make_notebook(
        tmp_path,
        [
            IMPORTS,
            FRAME,
            SPLIT,
            ("code", "clf = LogisticRegression().fit(X_train, y_train)"),
            ("code", "clf.predict(X_valid)"),
        ],
    )
    result = tag_notebook(path, static=True)
    assert reference_code(result.content, tmp_path) == "reference = X_train"
    assert (
        "reference: X_train, the raw rows 'clf' is trained on in cell 4, the "
        "training half of train_test_split in cell 3 (the example comes from "
        "X_valid)" in notes(result)
    )


def test_static_proposes_none_without_a_training_split(tmp_path: Path) -> None:
    path = make_notebook(
        tmp_path,
        [IMPORTS, FRAME, ("code", "clf = LogisticRegression().fit(df, y)")],
    )
    result = tag_notebook(path, static=True)
    assert reference_code(result.content, tmp_path) is None
    assert (
        NONE + "with --static tag cannot tell that df are the rows the model is "
        "trained on (no training split in the code)" in notes(result)
    )


def test_no_reference_when_the_model_is_fitted_on_held_out_rows(
    tmp_path: Path,
) -> None:
    path = make_notebook(
        tmp_path,
        [
            IMPORTS,
            FRAME,
            SPLIT,
            ("code", "clf = LogisticRegression().fit(X_valid, y_valid)"),
        ],
    )
    result = tag_notebook(path, static=True)
    assert reference_code(result.content, tmp_path) is None
    assert NONE + "'clf' is fitted on X_valid, which looks like held-out rows" in notes(
        result
    )


# --- tag's fallback: the only model it fits, neither saved nor predicted with -----


@pytest.mark.slow
def test_the_only_model_fitted_is_served_with_its_training_rows(
    tmp_path: Path,
) -> None:
    """choose.py's last resort: no save, no prediction on held-out data (the notebook
    only scores it with .score), one model fitted: that model is served, and its
    training split becomes the reference, checked by running as build runs it."""
    path = make_notebook(
        tmp_path,
        [
            IMPORTS,
            FRAME,
            SPLIT,
            ("code", "clf = LogisticRegression().fit(X_train, y_train)"),
            ("code", "print(clf.score(X_valid, y_valid))"),
        ],
    )
    result = tag_notebook(path)
    assert result.exit_code == ExitCode.OK, [str(d) for d in result.diagnostics]
    said = notes(result)
    assert "model: picked 'clf'" in said
    assert "the only model the notebook fits" in said
    assert reference_code(result.content, tmp_path) == "reference = X_train"
    assert "(225 rows)" in said
    assert "build profiles its reference" in said


@pytest.mark.slow
def test_the_raw_frame_without_a_split_is_the_reference(tmp_path: Path) -> None:
    """No split: the example is training rows (NB1204), and the reference the frame
    the model was fitted on."""
    path = make_notebook(
        tmp_path,
        [IMPORTS, FRAME, ("code", "clf = LogisticRegression().fit(df, y)")],
    )
    result = tag_notebook(path)
    assert result.exit_code == ExitCode.OK, [str(d) for d in result.diagnostics]
    assert reference_code(result.content, tmp_path) == "reference = df"
    assert "reference: df, the raw rows 'clf' is trained on in cell 3 (300 rows)" in (
        notes(result)
    )
    assert "build profiles its reference" in notes(result)


@pytest.mark.slow
def test_a_reference_cell_that_fails_in_builds_run_is_dropped_with_the_reason(
    tmp_path: Path,
) -> None:
    """The notebook frees its training rows at the end: the proposed reference cell
    fails in the check's run, so tag proposes the rest without it, and says why."""
    path = make_notebook(
        tmp_path,
        [
            IMPORTS,
            FRAME,
            SPLIT,
            ("code", "clf = LogisticRegression().fit(X_train, y_train)"),
            ("code", "clf.predict(X_valid)"),
            ("code", "del X_train  # free the memory"),
        ],
    )
    result = tag_notebook(path)
    assert result.exit_code == ExitCode.OK, [str(d) for d in result.diagnostics]
    assert reference_code(result.content, tmp_path) is None
    assert (
        NONE + "the proposed one fails: executing the notebook failed: raised "
        "NameError: name 'X_train' is not defined" in notes(result)
    )
    assert any(n.startswith("checked: ") for n in result.notes)


def test_rows_the_notebook_changes_later_are_taken_where_they_are_made(
    tmp_path: Path,
) -> None:
    """The notebook adds its predictions to X_train after fitting: the reference is
    taken right after the split, as the rows the model was trained on."""
    path = make_notebook(
        tmp_path,
        [
            IMPORTS,
            FRAME,
            SPLIT,
            ("code", "clf = LogisticRegression().fit(X_train, y_train)"),
            ("code", "clf.predict(X_valid)"),
            ("code", 'X_train["predicted"] = clf.predict(X_train)'),
        ],
    )
    result = tag_notebook(path, static=True)
    assert result.content is not None
    assert reference_code(result.content, tmp_path) == "reference = X_train.copy()"
    cells = ["".join(c["source"]) for c in json.loads(result.content)["cells"]]
    split = next(i for i, s in enumerate(cells) if "train_test_split(df" in s)
    assert cells[split + 1].endswith("reference = X_train.copy()")
    assert "taken right after cell 3, before the notebook changes them" in notes(result)
