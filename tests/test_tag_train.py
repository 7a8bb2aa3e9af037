"""Issue 17, item 1: `nb2svc tag` proposes `train` for the cells that fit the served
model from data, the data's path a config constant; the tagged notebook builds a
service whose `retrain` reruns them. Our own notebooks, written here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nb2svc.errors import ExitCode
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from nb2svc.tag import TagResult, tag_notebook
from tests.helpers import make_notebook, run_cli, tree_snapshot
from tests.retrain_support import shifted_customers
from tests.service_support import service_env

IMPORTS = """import joblib
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split"""

READ = """data = pd.read_csv("customers.csv")
data.describe()"""

SPLIT = """X = data[["tenure", "monthly"]]
y = data["churned"]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y
)"""

FIT = """clf = LogisticRegression(max_iter=500).fit(X_train, y_train)
print(roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1]))"""

SAVE = 'joblib.dump(clf, "churn_model.joblib")'

# The same model, its data made in the notebook: nothing to retrain from.
MADE = """import numpy as np
rng = np.random.default_rng(3)
data = pd.DataFrame({"tenure": rng.integers(1, 72, 400),
                     "monthly": rng.normal(60, 20, 400)})
data["churned"] = (rng.random(400) < 0.3).astype(int)"""


def reading_notebook(folder: Path) -> Path:
    shifted_customers(folder / "customers.csv", seed=5)
    cells = [("code", s) for s in (IMPORTS, READ, SPLIT, FIT, SAVE)]
    return make_notebook(folder, cells, "churn.ipynb")


def tagged_roles(result: TagResult, folder: Path) -> list[tuple[str, str | None]]:
    """(first line of code, role) of every code cell of the tagged notebook."""
    assert result.content is not None, [str(d) for d in result.diagnostics]
    path = folder / "tagged.ipynb"
    path.write_text(result.content, encoding="utf-8")
    nb, _ = read_notebook(path)
    marked, problems = mark_cells(nb)
    assert problems == []
    rows = []
    for mc in marked:
        if mc.cell.cell_type == "code":
            first = next(ln for ln in mc.code.splitlines() if ln.strip())
            rows.append((first, mc.role.value if mc.role else None))
    return rows


def options(result: TagResult) -> str:
    assert result.content is not None
    sources = ["".join(c["source"]) for c in json.loads(result.content)["cells"]]
    (line,) = [
        s.splitlines()[0] for s in sources if s.startswith("# nb2svc: train data=")
    ]
    return line


def test_static_tag_proposes_train_with_the_data_path_as_config(
    tmp_path: Path,
) -> None:
    result = tag_notebook(reading_notebook(tmp_path), static=True)
    rows = tagged_roles(result, tmp_path)
    assert ('TRAIN_PATH = "customers.csv"', "config") in rows
    assert ("data = pd.read_csv(TRAIN_PATH)", "train") in rows
    assert ('X = data[["tenure", "monthly"]]', "train") in rows
    assert (
        "clf = LogisticRegression(max_iter=500).fit(X_train, y_train)",
        "train",
    ) in rows
    assert ('joblib.dump(clf, "churn_model.joblib")', "train") in rows
    assert [r for _, r in rows].count("train") == 4
    line = options(result)
    assert line == (
        "# nb2svc: train data=TRAIN_PATH holdout=X_test,y_test metric=roc_auc_score"
    )
    # the config cell comes before the first train cell
    roles = [r for _, r in rows]
    assert roles.index("config") < roles.index("train")
    assert any(
        n.startswith("train: cell 2, cell 3, cell 4, cell 5 fit 'clf'")
        for n in result.notes
    )
    assert not any(n.startswith("training: ") for n in result.notes)
    assert not [d for d in result.diagnostics if d.severity.value == "error"]


def test_no_train_proposal_when_the_data_is_made_in_the_notebook(
    tmp_path: Path,
) -> None:
    cells = [("code", s) for s in (IMPORTS, MADE, SPLIT, FIT, SAVE)]
    result = tag_notebook(make_notebook(tmp_path, cells, "made.ipynb"), static=True)
    assert "train" not in [r for _, r in tagged_roles(result, tmp_path)]
    assert any(
        n.startswith("train: not proposed: the training data is not read from one file")
        for n in result.notes
    ), result.notes


@pytest.mark.slow
def test_the_traced_proposal_builds_a_service_that_retrains(tmp_path: Path) -> None:
    """tag (traced, checked by running) -> write -> build -> retrain on the same
    data reproduces the packaged model; on shifted data it passes the gate."""
    notebook = reading_notebook(tmp_path / "nb")
    result = tag_notebook(notebook)
    assert result.exit_code == ExitCode.OK, [str(d) for d in result.diagnostics]
    assert any(n.startswith("checked: ") for n in result.notes)
    assert options(result).startswith("# nb2svc: train data=TRAIN_PATH")
    tagged = tmp_path / "nb" / "churn_tagged.ipynb"
    tagged.write_text(result.content or "", encoding="utf-8")
    out = tmp_path / "service" / "churn"
    code, output = run_cli("build", tagged, "-o", out)
    assert code == ExitCode.OK, output
    plan = json.loads((out / "src/churn/retrain.json").read_text())
    assert [c["role"] for c in plan["cells"]].count("train") == 4

    def retrain(data: Path, target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "churn",
                "retrain",
                "--data",
                str(data),
                "--out",
                target,
                "--json",
            ],
            cwd=tmp_path,
            env=service_env(out),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    same = retrain(tmp_path / "nb" / "customers.csv", "same")
    assert same.returncode == 0, same.stdout + same.stderr
    assert tree_snapshot(tmp_path / "same") == tree_snapshot(
        out / "src/churn/artifacts"
    )
    other = shifted_customers(tmp_path / "later.csv", seed=29)
    done = retrain(other, "later")
    assert done.returncode in (0, 14), done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["metric"] == "roc_auc_score"
    assert report["new"]["artifacts"] != json.loads(same.stdout)["new"]["artifacts"]
