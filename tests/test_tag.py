"""`nb2svc tag --static` (no kernel): what it proposes for the unmarked test notebooks, how it
writes, and that weird notebooks give a message, never a traceback.

tests/test_tag_e2e.py builds and verifies the services of the tagged notebooks.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from nb2svc.errors import ExitCode
from nb2svc.lint import lint_notebook
from nb2svc.lint.outputs import NotebookExtras
from nb2svc.lint.secrets import find_secrets
from nb2svc.model import EXPORTED_ORDER
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from nb2svc.tag import TagResult, tag_notebook
from tests.helpers import TINY, make_notebook, run_cli

HERE = Path(__file__).resolve().parent
UNMARKED = HERE / "notebooks" / "unmarked"
BUILDABLE = [
    "churn_pipeline",
    "house_prices",
    "ticket_text",
    "sensor_out_of_order",
    "loan_magics",
    "churn_credentials",
]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of the unmarked notebooks (writing must never touch the repo)."""
    target = tmp_path_factory.mktemp("unmarked") / "unmarked"
    shutil.copytree(UNMARKED, target)
    return target


@pytest.fixture(scope="module")
def proposals(fixtures: Path) -> dict[str, TagResult]:
    return {
        p.stem: tag_notebook(p, static=True) for p in sorted(fixtures.glob("*.ipynb"))
    }


def roles(content: str, name: str, tmp_path: Path) -> dict[str, list[str]]:
    """role -> sources of the cells that carry it, in the tagged notebook."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    nb, _ = read_notebook(path)
    marked, problems = mark_cells(nb)
    assert problems == []
    found: dict[str, list[str]] = {}
    for mc in marked:
        if mc.role is not None:
            found.setdefault(mc.role.value, []).append(mc.code.strip())
    return found


def notes(result: TagResult) -> str:
    return "\n".join(result.notes)


# --- the fixtures ---------------------------------------------------------------


def test_fixture_notebooks_match_their_generator() -> None:
    sys.path.insert(0, str(HERE / "notebooks"))
    try:
        import make_unmarked
    finally:
        sys.path.pop(0)
    for rel, text in make_unmarked.render().items():
        assert (UNMARKED / rel).read_text(
            encoding="utf-8"
        ) == text, f"{rel} is stale: run python tests/notebooks/make_unmarked.py"


def test_fixtures_are_clean_of_outputs_except_where_tests_need_them() -> None:
    with_outputs = set()
    for path in UNMARKED.glob("*.ipynb"):
        nb = nbformat.read(str(path), as_version=4)
        if any(c.get("outputs") or c.get("execution_count") for c in nb.cells):
            with_outputs.add(path.stem)
    # saved outputs: out-of-order counts, a secret in an output, hidden state
    assert with_outputs == {"sensor_out_of_order", "churn_credentials", "hidden_state"}


# --- what tag proposes ----------------------------------------------------------


@pytest.mark.parametrize("stem", BUILDABLE)
def test_proposal_passes_the_contract_statically(
    proposals: dict[str, TagResult], stem: str
) -> None:
    result = proposals[stem]
    assert result.exit_code == ExitCode.OK
    assert result.proposed and result.diff.startswith(f"--- a/{stem}.ipynb")
    assert not [d for d in result.diagnostics if d.code in ("NB1202", "NB1208")]


def test_pipeline_the_full_model_not_the_baseline(
    proposals: dict[str, TagResult], tmp_path: Path
) -> None:
    result = proposals["churn_pipeline"]
    assert "picked 'model' (cell 10, Pipeline)" in notes(result)
    assert "'baseline' (cell 8, LogisticRegression, on a column subset" in notes(result)
    found = roles(result.content or "", "churn_pipeline.ipynb", tmp_path)
    assert found["predict"] == [
        "def predict(features):\n    return model.predict_proba(features)[:, 1]"
    ]
    assert found["load"] == ['model = joblib.load("model.joblib")']
    assert found["example"] == ["examples = X_test[:5]"]
    assert '+joblib.dump(model, "model.joblib")' in result.diff
    assert "preprocess" not in found


def test_hand_rolled_features_become_preprocess(
    proposals: dict[str, TagResult], tmp_path: Path
) -> None:
    result = proposals["house_prices"]
    text = notes(result)
    assert "picked 'gbr' (cell 11, GradientBoostingRegressor)" in text
    assert "the last one fitted, not on a column subset" in text
    assert "'quick' (cell 10, GradientBoostingRegressor, on a column subset" in text
    found = roles(result.content or "", "house_prices.ipynb", tmp_path)
    assert found["preprocess"][0].startswith("def add_features(df):")
    assert found["helpers"][0].startswith("NEIGHBOURHOODS = ")
    # the training statistic add_features uses is saved with the model
    assert found["load"] == [
        'gbr = joblib.load("gbr.joblib")\n'
        'median_energy = joblib.load("median_energy.joblib")'
    ]
    assert found["example"] == ['examples = test[:5].drop(columns=["price"])']


def test_text_model_uses_the_notebooks_own_function(
    proposals: dict[str, TagResult], tmp_path: Path
) -> None:
    result = proposals["ticket_text"]
    found = roles(result.content or "", "ticket_text.ipynb", tmp_path)
    assert found["predict"][0].startswith("def route(text):")
    assert found["helpers"][0].startswith("def clean_text(text):")
    assert "import re" in found["imports"][0]
    assert "vectorizer = joblib.load" in found["load"][0]
    # the call below the function and the use of clean_text stay unmarked
    assert '+route("I was charged twice for my premium plan!!")' not in result.diff
    assert found["example"] == ["examples = X_test[:5]"]


def test_saved_model_is_picked_and_its_file_reused(
    proposals: dict[str, TagResult], tmp_path: Path
) -> None:
    result = proposals["sensor_out_of_order"]
    assert "picked 'svc' (cell 7, SVC), the model the notebook saves" in notes(result)
    found = roles(result.content or "", "sensor.ipynb", tmp_path)
    assert found["load"][0].startswith('with open("pump_model.pkl", "rb") as handle:')
    assert 'scaler = joblib.load("scaler.joblib")' in found["load"][0]
    preprocess = found["preprocess"][0]
    assert "reshape(1, -1)" in preprocess and "scaler.transform(x)" in preprocess


def test_magics_do_not_hide_the_model(
    proposals: dict[str, TagResult], tmp_path: Path
) -> None:
    result = proposals["loan_magics"]
    found = roles(result.content or "", "loan_magics.ipynb", tmp_path)
    assert "picked 'model' (cell 7, HistGradientBoostingClassifier)" in notes(result)
    assert found["predict"] == [
        "def predict(features):\n    return model.predict_proba(features)[:, 1]"
    ]
    # the imports cell has magics in it: the service gets a clean one of its own
    assert found["imports"] == ["import joblib"]


def test_a_cell_with_a_secret_is_never_exported(
    proposals: dict[str, TagResult], tmp_path: Path
) -> None:
    result = proposals["churn_credentials"]
    path = tmp_path / "churn_credentials.ipynb"
    path.write_text(result.content or "", encoding="utf-8")
    nb, _ = read_notebook(path)
    marked, _ = mark_cells(nb)
    exported = {mc.cell.index for mc in marked if mc.role in EXPORTED_ORDER}
    secrets = find_secrets(nb, NotebookExtras())
    assert secrets and not [s for s in secrets if s.cell in exported]
    found = roles(result.content or "", "churn_credentials.ipynb", tmp_path)
    assert found["helpers"] == ["REVIEW_THRESHOLD = 0.35"]
    assert found["predict"][0].startswith("def needs_review(account):")


def test_hidden_state_notebook_falls_back_to_training_rows(
    proposals: dict[str, TagResult],
) -> None:
    result = proposals["hidden_state"]
    assert [d.code for d in result.diagnostics] == ["NB1204"]


#: What each notebook was written to contain, in lint's terms (once it is tagged).
PLANTED = {
    "churn_pipeline": [],
    "house_prices": [],
    "ticket_text": [],
    "sensor_out_of_order": ["NB1108", "NB1108"],  # two cells ran out of order
    "loan_magics": ["NB1101", "NB1101"],  # !pip install, data_files = !ls
    "churn_credentials": ["NB1103", "NB1104"],  # a password, a key in an output
}


@pytest.mark.parametrize("stem", BUILDABLE)
def test_lint_finds_exactly_the_planted_problems(
    proposals: dict[str, TagResult], tmp_path: Path, stem: str
) -> None:
    before = lint_notebook(UNMARKED / f"{stem}.ipynb")
    assert sorted(d.code for d in before.diagnostics) == ["NB1100", *PLANTED[stem]]
    tagged = tmp_path / f"{stem}.ipynb"
    tagged.write_text(proposals[stem].content or "", encoding="utf-8")
    after = lint_notebook(tagged)
    assert sorted(d.code for d in after.diagnostics) == PLANTED[stem]


def test_lint_finds_the_hidden_state(tmp_path: Path) -> None:
    report = lint_notebook(UNMARKED / "hidden_state.ipynb")
    assert [(d.code, d.location.cell) for d in report.diagnostics] == [
        ("NB1100", None),
        ("NB1102", 2),
        ("NB1102", 2),
        ("NB1108", 3),
        ("NB1102", 4),
    ]


def test_tag_is_deterministic(fixtures: Path, proposals: dict[str, TagResult]) -> None:
    again = tag_notebook(fixtures / "house_prices.ipynb", static=True)
    assert again == proposals["house_prices"]


# --- writing --------------------------------------------------------------------


def test_without_flags_nothing_is_written(fixtures: Path, tmp_path: Path) -> None:
    source = shutil.copy(fixtures / "churn_pipeline.ipynb", tmp_path)
    before = Path(source).read_bytes()
    code, output = run_cli("tag", "--static", source)
    assert code == ExitCode.OK
    assert "+# nb2svc: predict" in output and "nothing written" in output
    assert Path(source).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["churn_pipeline.ipynb"]


def test_write_keeps_a_backup_and_output_leaves_the_input(
    fixtures: Path, tmp_path: Path
) -> None:
    source = Path(shutil.copy(fixtures / "churn_pipeline.ipynb", tmp_path))
    before = source.read_bytes()
    code, output = run_cli("tag", "--static", source, "-o", tmp_path / "tagged.ipynb")
    assert code == ExitCode.OK and source.read_bytes() == before
    tagged = (tmp_path / "tagged.ipynb").read_text()
    code, output = run_cli("tag", "--static", source, "--write")
    assert code == ExitCode.OK and "the original is kept as" in output
    assert (tmp_path / "churn_pipeline.ipynb.bak").read_bytes() == before
    assert source.read_text() == tagged
    # Everything tag did not touch is as Jupyter wrote it: ids, outputs, metadata.
    old = json.loads(before)
    new = json.loads(tagged)
    kept = [c for c in new["cells"] if not c["id"].startswith("nb2svc-")]
    assert [c["id"] for c in kept] == [c["id"] for c in old["cells"]]
    # ... but the service's name, kept so that a copy builds the same service.
    assert new["metadata"] == {**old["metadata"], "nb2svc": {"name": "churn_pipeline"}}
    nbformat.validate(nbformat.reads(tagged, as_version=4))
    # Tagging the tagged notebook again proposes nothing.
    code, output = run_cli("tag", "--static", source, "--write")
    assert code == ExitCode.OK and "NB1201" in output
    assert not (tmp_path / "churn_pipeline.ipynb.bak.1").exists()


def test_bad_write_options(fixtures: Path, tmp_path: Path) -> None:
    source = fixtures / "churn_pipeline.ipynb"
    code, _ = run_cli("tag", "--static", source, "--write", "-o", tmp_path / "x.ipynb")
    assert code == ExitCode.USAGE
    code, _ = run_cli("tag", "--static", source, "-o", tmp_path / "x.py")
    assert code == ExitCode.USAGE


def test_unwritable_output(fixtures: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, output = run_cli(
        "tag", "--static", fixtures / "churn_pipeline.ipynb", "-o", blocker / "x.ipynb"
    )
    assert code == ExitCode.OUTPUT and "NB1210" in output


def test_percent_format_notebook(tmp_path: Path) -> None:
    source = tmp_path / "lines.py"
    source.write_text(
        "# %%\nimport numpy as np\nfrom sklearn.linear_model import LinearRegression\n"
        "from sklearn.model_selection import train_test_split\n\n"
        "# %%\nX = np.arange(40.0).reshape(20, 2)\ny = X.sum(axis=1)\n"
        "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n\n"
        "# %%\nreg = LinearRegression()\nreg.fit(X_train, y_train)\n",
        encoding="utf-8",
    )
    result = tag_notebook(source, static=True)
    assert result.exit_code == ExitCode.OK and result.content is not None
    assert "# nb2svc: load artifacts=reg.joblib" in result.content
    assert "examples = X_test[:5]" in result.content


# --- notebooks tag cannot help with, and weird ones -----------------------------


def _pipeline_notebook(tmp_path: Path, step: str, setup: str) -> Path:
    return make_notebook(
        tmp_path,
        [
            (
                "code",
                "import numpy as np\nfrom sklearn.linear_model import LinearRegression\n"
                "from sklearn.model_selection import train_test_split\n"
                "from sklearn.pipeline import make_pipeline\n"
                "from sklearn.preprocessing import FunctionTransformer",
            ),
            ("code", setup),
            (
                "code",
                "X = np.arange(40.0).reshape(20, 2)\ny = X.sum(axis=1)\n"
                "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
                f"pipe = make_pipeline({step}, LinearRegression())\n"
                "pipe.fit(X_train, y_train)",
            ),
        ],
    )


def test_model_built_from_notebook_classes_exports_them(tmp_path: Path) -> None:
    setup = (
        "class Clip:\n    def fit(self, X, y=None):\n        return self\n"
        "    def transform(self, X):\n        return np.clip(X, 0, 10)\n\n"
        "def halve(X):\n    return X / 2\n\n"
        "def scaler():\n    return FunctionTransformer(np.log1p)"
    )
    for step in ("Clip()", "FunctionTransformer(halve)"):
        result = tag_notebook(_pipeline_notebook(tmp_path, step, setup), static=True)
        assert result.diagnostics == (), step
        assert "+# nb2svc: helpers" in result.diff, result.diff
        assert any("as __main__.<name>" in n for n in result.notes), result.notes
    # A lambda has no name to import: refused (build could not load it either).
    lam = "FunctionTransformer(lambda X: X / 2)"
    result = tag_notebook(_pipeline_notebook(tmp_path, lam, setup), static=True)
    assert [d.code for d in result.diagnostics] == ["NB1207"]
    assert "'pipe' holds a lambda" in result.diagnostics[0].message
    # Calling a notebook function that returns a library object is fine.
    result = tag_notebook(_pipeline_notebook(tmp_path, "scaler()", setup), static=True)
    assert result.diagnostics == ()


def test_already_marked_notebook_is_left_alone(tmp_path: Path) -> None:
    path = make_notebook(tmp_path, TINY)
    result = tag_notebook(path, static=True)
    assert result.content is None and result.exit_code == ExitCode.OK
    assert [d.code for d in result.diagnostics] == ["NB1201"]


def test_no_model_is_a_clear_error(tmp_path: Path) -> None:
    path = make_notebook(
        tmp_path, [("code", "import pandas as pd\ndf = pd.DataFrame()")]
    )
    code, output = run_cli("tag", "--static", path)
    assert code == ExitCode.USER_ERROR and "NB1200" in output
    assert "no model is fitted" in output


def test_internal_failure_is_a_diagnostic_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nb2svc.tag as tag

    def broken(nb: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(tag, "plan_tags", broken)
    path = make_notebook(tmp_path, [("code", "m.fit(X, y)")])
    code, output = run_cli("tag", "--static", path)
    assert code == ExitCode.INTERNAL
    assert "NB1299" in output and "Traceback" not in output


def weird_notebooks(folder: Path) -> Iterator[Path]:
    """Notebooks as they come from the wild: empty, broken, odd, huge."""
    yield make_notebook(folder, [], "empty.ipynb")
    yield make_notebook(folder, [("markdown", "# only words")], "words.ipynb")
    yield make_notebook(folder, [("raw", "raw text"), ("code", "")], "raw.ipynb")
    yield make_notebook(
        folder,
        [("code", "print 'py2'\nexec 'x = 1'"), ("code", "clf.fit(X, y)")],
        "py2.ipynb",
    )
    yield make_notebook(folder, [("code", "(" * 5000 + ")" * 5000)], "deep.ipynb")
    yield make_notebook(folder, [("code", "x = '" + "a" * 200_000 + "'")], "long.ipynb")
    yield make_notebook(
        folder,
        [
            ("code", "for m in models:\n    m.fit(X, y)"),
            ("code", "def train():\n    model.fit(X, y)"),
            ("code", "model = fit_model()\nmodel.fit()"),
        ],
        "loops.ipynb",
    )
    yield make_notebook(
        folder,
        [
            ("code", "import sklearn.linear_model\nimport numpy as np"),
            ("code", "x = np.c_[[1.0, 2.0, 3.0]]\ny = np.c_[[2.0, 4.0, 6.0]]"),
            ("code", "model = sklearn.linear_model.LinearRegression()"),
            ("code", "model.fit(x, y)"),
            ("code", "X_new = [[22587]]\nprint(model.predict(X_new))"),
        ],
        "textbook.ipynb",
    )
    yield make_notebook(
        folder,
        [
            ("code", "%%writefile helper.py\ndef f(): pass"),
            (
                "code",
                "from helper import *\nlr = LogisticRegression(**params).fit(*data)",
            ),
            ("code", "a, *b = c = d = e.fit(X)\nf = lambda: g.fit(h, i)"),
            (
                "code",
                "with open('/etc/x', 'wb') as fh, other() as (p, q):\n    pickle.dump(z, fh)",
            ),
            ("code", "x = y = None\nx.fit(y, y)\ndel x\nglobal q"),
        ],
        "odd.ipynb",
    )
    v3 = folder / "old.ipynb"
    v3.write_text(
        json.dumps(
            {
                "nbformat": 3,
                "nbformat_minor": 0,
                "metadata": {"name": "old"},
                "worksheets": [
                    {
                        "cells": [
                            {
                                "cell_type": "code",
                                "input": "clf.fit(X_train, y_train)",
                                "language": "python",
                                "outputs": [],
                                "prompt_number": 3,
                            }
                        ]
                    }
                ],
            }
        )
    )
    yield v3
    r = folder / "r.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    nb.cells.append(nbformat.v4.new_code_cell("fit <- lm(y ~ x)"))
    nbformat.write(nb, str(r))
    yield r
    nul = folder / "nul.ipynb"
    nul.write_text(
        json.dumps(
            {
                "nbformat": 4,
                "nbformat_minor": 2,
                "metadata": {},
                "cells": [
                    {
                        "cell_type": "code",
                        "metadata": {},
                        "execution_count": None,
                        "outputs": [
                            {"output_type": "stream", "name": "stdout"},
                            "junk",
                        ],
                        "source": ["x = 1\u0000\n", "m.fit(x, x)"],
                    }
                ],
            }
        )
    )
    yield nul


def test_weird_notebooks_never_crash_lint_or_tag(tmp_path: Path) -> None:
    for path in weird_notebooks(tmp_path):
        code, output = run_cli("lint", path)  # re-raises anything that escaped
        assert code in (ExitCode.OK, ExitCode.USER_ERROR, ExitCode.INPUT), (
            path,
            output,
        )
        assert "NB1199" not in output, (path, output)
        code, output = run_cli("tag", "--static", path)
        assert code in (ExitCode.OK, ExitCode.USER_ERROR, ExitCode.INPUT), (
            path,
            output,
        )
        assert "Traceback" not in output, (path, output)
