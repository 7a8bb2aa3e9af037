"""Issue 17: a retrained model gets a drift baseline of its own data.

``python -m <pkg> retrain`` reruns the notebook's reference cell after the train
cells (so it sees the new data) and profiles it with the new model, with the code the
build runs; the build checks that the reference cell can be rerun (NB337)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from nb2svc.analysis import Analysis, analyse
from nb2svc.errors import ExitCode
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from nb2svc_runtime.profile import compare
from tests.helpers import CellSpec, make_notebook, run_cli, tree_snapshot
from tests.retrain_support import CELLS, churn_notebook, shifted_customers
from tests.service_support import service_env

NOTEBOOK = "churn.ipynb"
PROFILE = "reference_profile.json"
REFERENCE_CELL = len(CELLS) - 1  # 0-based: the churn notebook's last cell
POSTPROCESS_CELL = 6

# Unmarked, as in retrain_support, with a segment column the train cells don't read.
MAKE_DATA_WITH_SEGMENT = CELLS[2][1].replace(
    "customers.to_csv(", 'customers["segment"] = "retail"\ncustomers.to_csv('
)
# A reference cell that reads the training data itself, through the data constant.
READING_REFERENCE = """# nb2svc: reference
history = pd.read_csv(TRAIN_PATH)
retail = history[history["segment"] == "retail"]
reference = retail[["tenure", "monthly"]]"""


def with_cells(cells: Sequence[CellSpec], changes: dict[int, str]) -> list[CellSpec]:
    changed = list(cells)
    for index, source in changes.items():
        changed[index] = ("code", source)
    return changed


READING_CELLS = with_cells(
    CELLS, {2: MAKE_DATA_WITH_SEGMENT, REFERENCE_CELL: READING_REFERENCE}
)


def build(folder: Path, cells: Sequence[CellSpec]) -> Path:
    notebook = make_notebook(folder / "notebook", cells, NOTEBOOK)
    out = folder / "service" / "churn"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == ExitCode.OK, output
    return out


def retrain(
    out: Path, cwd: Path, *args: str | Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "churn", "retrain", *(str(a) for a in args)],
        cwd=cwd,
        env=service_env(out),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def train_split(csv: Path) -> pd.DataFrame:
    """The churn notebook's X_train on ``csv``: what its reference cell holds."""
    data = pd.read_csv(csv)
    x_train, _, _, _ = train_test_split(
        data[["tenure", "monthly"]],
        data["churned"],
        test_size=0.25,
        random_state=0,
        stratify=data["churned"],
    )
    assert isinstance(x_train, pd.DataFrame)
    return x_train


def profile_of(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((folder / PROFILE).read_text("utf-8"))
    return loaded


# --- build: the plan carries the reference cell; NB337 ---------------------------------


def analysed(tmp_path: Path, cells: Sequence[CellSpec]) -> Analysis:
    nb, _ = read_notebook(make_notebook(tmp_path, cells, NOTEBOOK))
    marked, problems = mark_cells(nb)
    assert problems == [], [str(p) for p in problems]
    return analyse(nb, marked, "CHURN_")


def nb337(analysis: Analysis) -> list[str]:
    return [str(d) for d in analysis.diagnostics if d.code == "NB337"]


def test_the_retrain_plan_holds_the_reference_and_postprocess_cells(
    tmp_path: Path,
) -> None:
    analysis = analysed(tmp_path, CELLS)
    assert analysis.diagnostics == []
    assert analysis.retrain is not None
    blocks = analysis.retrain.reference
    assert [b.cell for b in blocks] == [POSTPROCESS_CELL, REFERENCE_CELL]
    assert blocks[-1].code.endswith("reference = X_train")
    assert dict(analysis.retrain.functions) == {
        "predict": "predict",
        "postprocess": "postprocess",
    }


def test_a_reference_name_only_an_unmarked_cell_defines_is_nb337(
    tmp_path: Path,
) -> None:
    cells = with_cells(
        CELLS,
        {REFERENCE_CELL: '# nb2svc: reference\n\nreference = customers[["tenure"]]'},
    )
    found = nb337(analysed(tmp_path, cells))
    assert len(found) == 1, found
    assert f"{NOTEBOOK}: cell 9 (id=cell-8): line 3" in found[0]
    assert "reference cell uses 'customers', which retraining would not define" in (
        found[0]
    )
    assert "defined in unmarked cell 3: mark that cell train" in found[0]


def test_a_reference_built_from_the_example_is_nb337(tmp_path: Path) -> None:
    cells = with_cells(
        CELLS, {REFERENCE_CELL: "# nb2svc: reference\nreference = examples"}
    )
    found = nb337(analysed(tmp_path, cells))
    assert len(found) == 1, found
    assert "line 2" in found[0] and "'examples'" in found[0]
    assert "defined in the example cell (cell 8), which retraining does not run" in (
        found[0]
    )


def test_without_train_cells_the_reference_may_use_any_cell(tmp_path: Path) -> None:
    cells = [
        c
        for i, c in enumerate(
            with_cells(
                CELLS,
                {REFERENCE_CELL: "# nb2svc: reference\nreference = customers.head()"},
            )
        )
        if i != 3  # no train cell: the unmarked cells' names are the build's business
    ]
    analysis = analysed(tmp_path, cells)
    assert analysis.retrain is None and nb337(analysis) == []


def test_build_stops_on_nb337_and_writes_nothing(tmp_path: Path) -> None:
    cells = with_cells(
        CELLS, {REFERENCE_CELL: "# nb2svc: reference\nreference = customers"}
    )
    notebook = make_notebook(tmp_path / "nb", cells, NOTEBOOK)
    out = tmp_path / "out"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == ExitCode.USER_ERROR, output
    assert "NB337" in output and "cell 9" in output
    assert "Traceback" not in output
    assert not out.exists()


# --- retrain rebuilds the profile ------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("churn")
    churn_notebook(folder / "notebook")
    return build(folder, CELLS)


@pytest.mark.slow
def test_the_package_ships_the_reference_cell_to_rerun(built: Path) -> None:
    plan = json.loads((built / "src/churn/retrain.json").read_text())
    reference = plan["reference"]
    assert PROFILE not in plan["kept"]
    assert reference["file"] == PROFILE
    assert [c["cell"] for c in reference["cells"]] == [
        POSTPROCESS_CELL + 1,
        REFERENCE_CELL + 1,
    ]
    assert [c["role"] for c in reference["cells"]] == ["postprocess", "reference"]
    assert reference["names"] == ["monthly", "tenure"]
    assert reference["functions"] == {
        "postprocess": "postprocess",
        "predict": "predict",
    }
    assert [c for c, _ in reference["columns"]] == ["tenure", "monthly"]


@pytest.mark.slow
def test_the_notebooks_own_data_gives_the_packaged_profile_byte_for_byte(
    built: Path, tmp_path: Path
) -> None:
    data = built.parent.parent / "notebook" / "customers.csv"
    done = retrain(built, tmp_path, "--data", data, "--out", "own", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    packaged = built / "src/churn/artifacts" / PROFILE
    assert (tmp_path / "own" / PROFILE).read_bytes() == packaged.read_bytes()
    report = json.loads(done.stdout)
    assert report["profile"] == {
        "file": PROFILE,
        "rebuilt": True,
        "rows": 600,  # X_train: three quarters of 800 customers
        "prediction_rows": 600,
        "notes": [],
    }
    digest = hashlib.sha256(packaged.read_bytes()).hexdigest()
    assert report["new"]["artifacts"][PROFILE] == digest
    text = retrain(built, tmp_path, "--data", data, "--out", "own-text")
    assert text.returncode == 0, text.stdout + text.stderr
    assert (
        f"drift profile rebuilt from 600 reference rows of the new data: {PROFILE}"
        in text.stdout
    )


@pytest.mark.slow
def test_shifted_data_gives_a_profile_of_the_shifted_data(
    built: Path, tmp_path: Path
) -> None:
    shifted = shifted_customers(tmp_path / "shifted.csv")
    done = retrain(built, tmp_path, "--data", shifted, "--out", "new", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    old = profile_of(built / "src/churn/artifacts")
    new = profile_of(tmp_path / "new")
    assert new != old
    report = json.loads(done.stdout)
    assert (
        report["new"]["artifacts"][PROFILE]
        != json.loads((built / "nb2svc.json").read_text())["artifacts"][PROFILE]
    )

    # The numbers are the new training split's, not the notebook's.
    x_train = train_split(shifted)
    assert new["rows"] == len(x_train) == 600
    for name in ("tenure", "monthly"):
        feature = new["features"][name]
        assert feature["min"] == pytest.approx(x_train[name].min())
        assert feature["max"] == pytest.approx(x_train[name].max())
        assert feature["mean"] == pytest.approx(x_train[name].mean(), rel=1e-6)
        assert feature["count"] == 600
    assert old["features"]["tenure"]["max"] < 72 <= new["features"]["tenure"]["max"]
    assert new["features"]["monthly"]["mean"] > old["features"]["monthly"]["mean"] + 10
    # The predictions profiled are the new model's on the new data.
    assert new["predictions"] != old["predictions"]

    # Drift of the shifted population: large against the old baseline, small
    # against the rebuilt one (what the service measures after promotion).
    rows = train_split(shifted_customers(tmp_path / "later.csv", seed=29))
    for name in ("tenure", "monthly"):
        values = rows[name].tolist()
        assert compare(old["features"][name], values)["psi"] > 0.25, name
        assert compare(new["features"][name], values)["psi"] < 0.1, name


@pytest.fixture(scope="module")
def reading(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The churn notebook whose reference cell reads the data path itself."""
    return build(tmp_path_factory.mktemp("reading"), READING_CELLS)


@pytest.mark.slow
def test_a_reference_cell_reading_the_data_path_reads_the_new_data(
    reading: Path, tmp_path: Path
) -> None:
    frame = pd.read_csv(shifted_customers(tmp_path / "s.csv"))
    frame["segment"] = ["retail" if i % 4 else "online" for i in range(len(frame))]
    frame.to_csv(tmp_path / "segmented.csv", index=False)
    done = retrain(reading, tmp_path, "--data", tmp_path / "segmented.csv", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    retail = frame[frame["segment"] == "retail"]
    new = profile_of(tmp_path / "retrained")
    assert json.loads(done.stdout)["profile"]["rows"] == len(retail) == 600
    assert new["features"]["tenure"]["mean"] == pytest.approx(
        retail["tenure"].mean(), rel=1e-6
    )
    assert new["features"]["tenure"]["min"] >= 12  # the shifted population's


@pytest.mark.slow
def test_a_reference_cell_failing_on_the_new_data_names_it_and_writes_nothing(
    reading: Path, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    frame = pd.read_csv(shifted_customers(tmp_path / "s.csv"))
    frame.assign(segment="retail").to_csv(good, index=False)
    done = retrain(reading, tmp_path, "--data", good, "--out", "m")
    assert done.returncode == 0, done.stdout + done.stderr
    before = tree_snapshot(tmp_path / "m")

    # The train cells train on it; the reference cell's segment column is missing.
    failed = retrain(reading, tmp_path, "--data", tmp_path / "s.csv", "--out", "m")
    assert failed.returncode == 4, failed.stdout + failed.stderr
    assert (
        f"error: {NOTEBOOK}: cell 9 (id=cell-8): line 3: reference cell raised "
        "KeyError" in failed.stderr
    )
    assert "Traceback" not in failed.stderr
    assert tree_snapshot(tmp_path / "m") == before

    # A reference of no rows: the profiling fails, and names the reference cell.
    online = tmp_path / "online.csv"
    frame.assign(segment="online").to_csv(online, index=False)
    empty = retrain(reading, tmp_path, "--data", online, "--out", "m")
    assert empty.returncode == 4, empty.stdout + empty.stderr
    assert (
        f"error: {NOTEBOOK}: cell 9 (id=cell-8): profiling the reference data with "
        "the new model failed: ValueError: 'reference' holds no rows" in empty.stderr
    )
    assert tree_snapshot(tmp_path / "m") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "good.csv",
        "m",
        "online.csv",
        "s.csv",
    ]
