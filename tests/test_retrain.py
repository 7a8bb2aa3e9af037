"""Issue 17, item 2: the ``train`` role, its data parameter and options, checked at
build (NB108, NB330-336); and the generated ``python -m <pkg> retrain`` on its own:
deterministic, bad data refused with the cell and line, nothing half-written."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from nb2svc.analysis import Analysis, analyse
from nb2svc.errors import Diagnostic, ExitCode
from nb2svc.model import Role
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from nb2svc_runtime.retrain.gate import Gate, greater_is_better
from tests.helpers import CellSpec, make_notebook, run_cli, tree_snapshot
from tests.retrain_support import (
    CELLS,
    CONFIG,
    LOAD,
    TRAIN,
    TRAIN_CELL,
    churn_notebook,
    shifted_customers,
)
from tests.service_support import service_env

NOTEBOOK = "churn.ipynb"


def with_cell(cells: Sequence[CellSpec], index: int, source: str) -> list[CellSpec]:
    changed = list(cells)
    changed[index] = ("code", source)
    return changed


def analysed(tmp_path: Path, cells: Sequence[CellSpec]) -> Analysis:
    nb, _ = read_notebook(make_notebook(tmp_path, cells, NOTEBOOK))
    marked, problems = mark_cells(nb)
    assert problems == [], [str(p) for p in problems]
    return analyse(nb, marked, "CHURN_")


def one(analysis: Analysis, code: str) -> Diagnostic:
    found = [d for d in analysis.diagnostics if d.code == code]
    assert len(found) == 1, [str(d) for d in analysis.diagnostics]
    return found[0]


# --- the marker ------------------------------------------------------------------------


def test_train_directive_takes_data_holdout_and_metric(tmp_path: Path) -> None:
    nb, _ = read_notebook(churn_notebook(tmp_path))
    marked, problems = mark_cells(nb)
    assert problems == []
    train = marked[TRAIN_CELL]
    assert train.role is Role.TRAIN
    assert train.params == (
        ("data", "TRAIN_PATH"),
        ("holdout", "X_test,y_test"),
        ("metric", "roc_auc_score"),
    )


def test_train_options_as_cell_tags(tmp_path: Path) -> None:
    body = TRAIN.split("\n", 1)[1]
    tags = ["nb2svc:train", "nb2svc:data=TRAIN_PATH", "nb2svc:holdout=X_test+y_test"]
    cells = list(CELLS)
    cells[TRAIN_CELL] = ("code", body, tags)
    analysis = analysed(tmp_path, cells)
    assert analysis.errors == []
    assert analysis.retrain is not None
    assert analysis.retrain.data == "TRAIN_PATH"
    assert analysis.retrain.holdout == ("X_test", "y_test")
    assert analysis.retrain.metric is None


def test_a_train_option_on_another_cell_is_nb108(tmp_path: Path) -> None:
    cells = with_cell(CELLS, 4, LOAD.replace("load ", "load data=TRAIN_PATH ", 1))
    nb, _ = read_notebook(make_notebook(tmp_path, cells, NOTEBOOK))
    _, problems = mark_cells(nb)
    assert [p.code for p in problems] == ["NB108"]
    assert str(problems[0]).startswith(f"{NOTEBOOK}: cell 5 (id=cell-4): line 1:")


# --- the analysis ----------------------------------------------------------------------


def test_the_retrain_plan_of_a_training_notebook(tmp_path: Path) -> None:
    analysis = analysed(tmp_path, CELLS)
    assert analysis.errors == []
    plan = analysis.retrain
    assert plan is not None
    assert [b.role for b in plan.cells] == [Role.IMPORTS, Role.CONFIG, Role.TRAIN]
    assert [b.cell for b in plan.cells] == [0, 1, TRAIN_CELL]
    assert [b.role for b in plan.evaluate] == [Role.LOAD, Role.PREDICT]
    assert plan.call == "predict(raw)"  # postprocess is presentation, not the model
    assert plan.trained == ("churn_model.joblib",)
    assert plan.metric == "roc_auc_score"


def test_a_notebook_without_train_cells_has_no_plan(tmp_path: Path) -> None:
    unmarked = TRAIN.split("\n", 1)[1]  # the same training, without its marker
    analysis = analysed(tmp_path, with_cell(CELLS, TRAIN_CELL, unmarked))
    assert analysis.errors == []
    assert analysis.retrain is None


@pytest.mark.parametrize(
    ("train", "config", "code", "line", "words"),
    [
        (
            TRAIN.replace(" data=TRAIN_PATH", ""),
            CONFIG,
            "NB330",
            None,
            "do not say which config constant holds the path",
        ),
        (
            TRAIN.replace("data=TRAIN_PATH", "data=DATA_FILE"),
            CONFIG,
            "NB331",
            None,
            "'DATA_FILE' is not a constant of a config cell",
        ),
        (
            TRAIN,
            CONFIG.replace('"customers.csv"', "3"),
            "NB332",
            None,
            "TRAIN_PATH = 3 is not a path",
        ),
        (
            TRAIN.replace("data=TRAIN_PATH", "data=THRESHOLD").replace(
                "data = pd.read_csv(TRAIN_PATH)", 'data = pd.read_csv("x.csv")'
            ),
            CONFIG.replace("THRESHOLD = 0.5", 'THRESHOLD = "0.5"'),
            "NB332",
            None,
            "no train cell reads THRESHOLD",
        ),
        (
            TRAIN.replace(" holdout=X_test,y_test", ""),
            CONFIG,
            "NB333",
            None,
            "do not name their held-out slice",
        ),
        (
            TRAIN.replace("holdout=X_test,y_test", "holdout=X_valid,y_valid"),
            CONFIG,
            "NB333",
            None,
            "no train cell assigns X_valid, y_valid",
        ),
        (
            TRAIN.replace("metric=roc_auc_score", "metric=roc-auc"),
            CONFIG,
            "NB334",
            None,
            "is not a function name",
        ),
        (
            TRAIN.replace("max_iter=500", "max_iter=ITERATIONS"),
            CONFIG,
            "NB335",
            8,
            "uses 'ITERATIONS', which retraining would not define",
        ),
    ],
)
def test_train_cell_problems_name_the_cell(
    tmp_path: Path, train: str, config: str, code: str, line: int | None, words: str
) -> None:
    cells = with_cell(with_cell(CELLS, TRAIN_CELL, train), 1, config)
    problem = one(analysed(tmp_path, cells), code)
    assert words in problem.message, str(problem)
    expected = f"{NOTEBOOK}: cell {TRAIN_CELL + 1} (id=cell-{TRAIN_CELL})"
    assert str(problem.location).startswith(expected), str(problem)
    assert problem.location.line == line
    assert problem.hint


def test_a_name_from_an_unmarked_cell_is_pointed_at(tmp_path: Path) -> None:
    cells = with_cell(CELLS, TRAIN_CELL, TRAIN.replace("n_rows = 0", ""))
    cells.insert(TRAIN_CELL, ("code", "ITERATIONS = 300"))
    cells[TRAIN_CELL + 1] = (
        "code",
        TRAIN.replace("max_iter=500", "max_iter=ITERATIONS"),
    )
    problem = one(analysed(tmp_path, cells), "NB335")
    assert problem.hint is not None
    assert f"defined in unmarked cell {TRAIN_CELL + 1}" in problem.hint


def test_train_cells_need_an_artifact_to_write(tmp_path: Path) -> None:
    cells = with_cell(CELLS, 4, LOAD.replace(" artifacts=churn_model.joblib", ""))
    problem = one(analysed(tmp_path, cells), "NB336")
    assert "declares no artifact" in problem.message


def test_build_stops_on_a_bad_train_marker_and_writes_nothing(tmp_path: Path) -> None:
    cells = with_cell(
        CELLS, TRAIN_CELL, TRAIN.replace("data=TRAIN_PATH", "data=DATA_FILE")
    )
    notebook = make_notebook(tmp_path, cells, NOTEBOOK)
    code, output = run_cli("build", notebook, "-o", tmp_path / "out")
    assert code == ExitCode.USER_ERROR, output
    assert f"{NOTEBOOK}: cell 4 (id=cell-3): error NB331 data=DATA_FILE" in output
    assert not (tmp_path / "out").exists()


# --- the gate --------------------------------------------------------------------------


def test_the_metric_direction_follows_sklearn_names() -> None:
    assert greater_is_better("roc_auc_score")
    assert greater_is_better("r2_score")
    assert not greater_is_better("mean_absolute_error")
    assert not greater_is_better("log_loss")
    assert not greater_is_better("mean_poisson_deviance")


def test_the_gate_measures_improvement_in_the_better_direction() -> None:
    assert Gate().judge(0.80, 0.81, greater=True).passed
    assert not Gate().judge(0.80, 0.79, greater=True).passed
    assert Gate(-0.02).judge(0.80, 0.79, greater=True).passed  # --max-regression 0.02
    assert not Gate(0.05).judge(0.80, 0.81, greater=True).passed  # --min-delta 0.05
    lower = Gate().judge(10.0, 9.0, greater=False)
    assert lower.passed and lower.delta == 1.0
    assert not Gate().judge(0.8, float("nan"), greater=True).passed


# --- python -m churn retrain -----------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("churn")
    notebook = churn_notebook(folder / "notebook")
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


@pytest.mark.slow
def test_the_package_ships_its_retrain_plan(built: Path) -> None:
    plan = json.loads((built / "src/churn/retrain.json").read_text())
    assert plan["data"] == "TRAIN_PATH"
    assert plan["trained"] == ["churn_model.joblib"]
    assert plan["kept"] == []  # the drift profile is rebuilt (test_retrain_profile)
    assert [c["cell"] for c in plan["cells"]] == [1, 2, TRAIN_CELL + 1]
    manifest = json.loads((built / "nb2svc.json").read_text())
    assert "src/churn/retrain.json" in manifest["files"]
    pyproject = (built / "pyproject.toml").read_text()
    assert "retrain = [" in pyproject and '"nbclient==' in pyproject
    assert '"retrain.json"' in pyproject  # package data: installed with the package


@pytest.mark.slow
def test_retraining_is_deterministic_and_reproduces_the_build(
    built: Path, tmp_path: Path
) -> None:
    """The notebook's own data, twice: the same bytes each time, and the same bytes
    the build packaged (the kernel's environment is the build's)."""
    data = built.parent.parent / "notebook" / "customers.csv"
    reports = []
    for run in ("one", "two"):
        done = retrain(built, tmp_path, "--data", data, "--out", run, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        reports.append(json.loads(done.stdout))
    assert tree_snapshot(tmp_path / "one") == tree_snapshot(tmp_path / "two")
    packaged = tree_snapshot(built / "src/churn/artifacts")
    assert tree_snapshot(tmp_path / "one") == packaged
    assert reports[0]["new"]["artifacts"] == reports[1]["new"]["artifacts"]
    assert reports[0]["delta"] == 0.0 and reports[0]["passed"]


@pytest.mark.slow
def test_the_gate_refuses_a_model_that_is_not_better(
    built: Path, tmp_path: Path
) -> None:
    data = built.parent.parent / "notebook" / "customers.csv"
    done = retrain(built, tmp_path, "--data", data, "--min-delta", "0.01")
    assert done.returncode == 14, done.stdout + done.stderr
    assert "gate: FAILED, nothing registered" in done.stdout


@pytest.mark.slow
def test_bad_data_is_refused_with_the_cell_and_nothing_is_replaced(
    built: Path, tmp_path: Path
) -> None:
    good = retrain(
        built, tmp_path, "--data", shifted_customers(tmp_path / "s.csv"), "--out", "m"
    )
    assert good.returncode == 0, good.stdout + good.stderr
    before = tree_snapshot(tmp_path / "m")

    missing = retrain(built, tmp_path, "--data", "nowhere.csv", "--out", "m")
    assert missing.returncode == 3, missing.stdout + missing.stderr
    assert "--data nowhere.csv: no such file" in missing.stderr

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("tenure,price,churned\n1,2.0,0\n3,4.0,1\n")
    failed = retrain(built, tmp_path, "--data", wrong, "--out", "m")
    assert failed.returncode == 4, failed.stdout + failed.stderr
    assert (
        f"error: {NOTEBOOK}: cell 4 (id=cell-3): line 3: train cell raised KeyError"
        in failed.stderr
    )
    assert "Traceback" not in failed.stderr
    assert tree_snapshot(tmp_path / "m") == before  # the last good output stands
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "s.csv", "wrong.csv"]


@pytest.mark.slow
def test_a_metric_the_notebook_does_not_have_is_named(
    built: Path, tmp_path: Path
) -> None:
    data = built.parent.parent / "notebook" / "customers.csv"
    done = retrain(built, tmp_path, "--data", data, "--metric", "no_such_score")
    assert done.returncode == 4, done.stdout + done.stderr
    assert (
        f"error: {NOTEBOOK}: compute no_such_score for both models: NameError: "
        "no_such_score is neither a function of the notebook nor one of "
        "sklearn.metrics" in done.stderr
    )
    assert not (tmp_path / "retrained").exists()


@pytest.mark.slow
def test_register_without_a_registry_is_refused_before_training(
    built: Path, tmp_path: Path
) -> None:
    data = built.parent.parent / "notebook" / "customers.csv"
    env = {k: v for k, v in service_env(built).items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [sys.executable, "-m", "churn", "retrain", "--data", str(data), "--register"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--register needs a registry: --registry URI or MLFLOW_TRACKING_URI" in (
        done.stderr
    )
    assert list(tmp_path.iterdir()) == []  # nothing trained, nothing written


@pytest.mark.slow
def test_ctrl_c_stops_the_kernel_and_writes_nothing(tmp_path: Path) -> None:
    """A retrain interrupted while a train cell runs: exit 130, one line, the
    kernel stopped, no output folder and no temporary folder left."""
    slow = TRAIN.replace(
        'joblib.dump(clf, "churn_model.joblib")',
        "import time\n"
        'if TRAIN_PATH != "customers.csv":  # retraining, not the build\'s run\n'
        '    open("started", "w").close()\n'
        "    time.sleep(120)\n"
        'joblib.dump(clf, "churn_model.joblib")',
    )
    cells = with_cell(CELLS, TRAIN_CELL, slow)
    folder = tmp_path / "notebook"
    make_notebook(folder, cells, NOTEBOOK)
    out = tmp_path / "service" / "churn"
    code, output = run_cli("build", folder / NOTEBOOK, "-o", out)
    assert code == ExitCode.OK, output
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "churn", "retrain", "--data", "customers.csv"],
        cwd=folder,
        env={**service_env(out), "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(scratch.glob("nb2svc-retrain-*/work/started")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the train cell never ran"
        time.sleep(0.2)
    time.sleep(1)  # inside time.sleep(120) by now
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted: nothing written" in stderr
    assert "Traceback" not in stderr
    assert not (folder / "retrained").exists()
    assert list(scratch.iterdir()) == []
