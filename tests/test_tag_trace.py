"""`nb2svc tag` runs the notebook once in a real kernel under its tracer: what the
tracer records (fits, uses, saves inside tuples and dicts, the notebook's own
functions, never data), and how the model to serve is chosen from it (saved, else
last used on held-out data, else it says it cannot tell and `--model` picks).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from nb2svc.errors import ExitCode
from nb2svc.notebook.reader import read_notebook
from nb2svc.tag import TagResult, tag_notebook
from nb2svc.tag.choose import choose_model
from nb2svc.tag.trace import Trace, trace_notebook
from tests.helpers import CellSpec, make_notebook, run_cli, run_module

IMPORTS: CellSpec = (
    "code",
    "import pickle\n"
    "import joblib\n"
    "import numpy as np\n"
    "import pandas as pd\n"
    "from sklearn.cluster import KMeans\n"
    "from sklearn.feature_extraction import DictVectorizer\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.model_selection import cross_validate, train_test_split\n"
    "from sklearn.neighbors import KNeighborsClassifier",
)
DATA: CellSpec = (
    "code",
    "rng = np.random.default_rng(0)\n"
    "df = pd.DataFrame({'a': rng.normal(size=200), 'b': rng.normal(size=200),\n"
    "                   'c': rng.normal(size=200),\n"
    "                   'plan': rng.choice(['PLANTED-VALUE-x', 'basic'], 200)})\n"
    "y = (df.a + df.b > 0).astype(int)\n"
    "X_train, X_test, y_train, y_test = train_test_split(\n"
    "    df[['a', 'b', 'c']], y, random_state=0)",
)


def traced(tmp_path: Path, cells: Sequence[CellSpec]) -> Trace:
    path = make_notebook(tmp_path, [IMPORTS, DATA, *cells])
    nb, _ = read_notebook(path)
    return trace_notebook(nb, path.parent, 120)


def tagged(tmp_path: Path, cells: Sequence[CellSpec], **options: object) -> TagResult:
    path = make_notebook(tmp_path, [IMPORTS, DATA, *cells])
    return tag_notebook(path, **options)  # type: ignore[arg-type]


# --- what the tracer records --------------------------------------------------------


def test_helper_built_models_saved_as_a_tuple(tmp_path: Path) -> None:
    trace = traced(
        tmp_path,
        [
            (
                "code",
                "def train(frame, target):\n"
                "    dv = DictVectorizer(sparse=False)\n"
                "    X = dv.fit_transform(frame.to_dict(orient='records'))\n"
                "    model = LogisticRegression().fit(X, target)\n"
                "    return dv, model\n"
                "\n"
                "dv, model = train(X_train, y_train)",
            ),
            (
                "code",
                "with open('model.bin', 'wb') as f_out:\n    pickle.dump((dv, model), f_out)",
            ),
            (
                "code",
                "def predict_one(customer):\n"
                "    return model.predict_proba(dv.transform([customer]))[0, 1]\n"
                "\n"
                "predict_one({'a': 1.0, 'b': 0.5, 'c': 0.0})",
            ),
        ],
    )
    by_type = {m.short_type: m for m in trace.models}
    dv, model = by_type["DictVectorizer"], by_type["LogisticRegression"]
    assert (dv.name, dv.predicts, model.name, model.predicts) == (
        "dv",
        False,
        "model",
        True,
    )
    [dv_fit] = [f for f in trace.fits if f.model == dv.key]
    assert (dv_fit.method, dv_fit.inside) == ("fit_transform", "train")
    assert dv_fit.x is not None and dv_fit.x.item == "builtins.dict"
    fit = next(f for f in trace.fits if f.model == model.key)
    assert (fit.cell, fit.inside, fit.method) == (2, "train", "fit")
    assert fit.x is not None and fit.x.shape == (150, 3)
    assert fit.y is not None and fit.y.names == ("y_train",)
    [save] = trace.saves
    assert (save.cell, save.path, save.fmt) == (3, "model.bin", "pickle")
    assert save.contents == (("[0]", dv.key), ("[1]", model.key))
    use = next(u for u in trace.uses if u.model == model.key)
    assert (use.cell, use.method, use.inside) == (4, "predict_proba", "predict_one")
    assert use.x is not None and use.x.shape == (1, 3)
    [train, predict_one] = trace.functions
    assert (train.name, train.cell, predict_one.name) == ("train", 2, "predict_one")
    assert train.args[0] is not None and train.args[0].names == ("X_train",)
    assert (
        predict_one.args[0] is not None and predict_one.args[0].type == "builtins.dict"
    )
    choice = choose_model(trace)
    assert choice.model == model
    assert "saved to model.bin in cell 4 (item [1] of what it saves)" in choice.why


def test_search_cv_cross_validate_fit_predict_and_joblib_in_a_dict(
    tmp_path: Path,
) -> None:
    trace = traced(
        tmp_path,
        [
            (
                "code",
                "from sklearn.model_selection import GridSearchCV\n"
                "search = GridSearchCV(LogisticRegression(), {'C': [0.1, 1.0]}, cv=3)\n"
                "search.fit(X_train, y_train)\n"
                "cv = cross_validate(KNeighborsClassifier(), X_train, y_train, cv=3,\n"
                "                    return_estimator=True)",
            ),
            (
                "code",
                "km = KMeans(2, n_init=2, random_state=0)\nlabels = km.fit_predict(X_train)",
            ),
            ("code", "joblib.dump({'best': search.best_estimator_}, 'best.joblib')"),
        ],
    )
    search = next(f for f in trace.fits if f.best is not None)
    best = trace.model(search.best or "")
    assert best.origin.startswith("best_estimator_ of")
    folds = [m for m in trace.models if m.origin.startswith("cross_validate fold")]
    assert [m.name for m in folds] == [f"cv['estimator'][{i}]" for i in range(3)]
    km = next(f for f in trace.fits if f.method == "fit_predict")
    assert trace.model(km.model).name == "km"
    [save] = trace.saves
    assert (save.fmt, save.path, save.contents) == (
        "joblib",
        "best.joblib",
        (("['best']", best.key),),
    )
    assert choose_model(trace).model == best


def test_records_descriptions_never_data(tmp_path: Path) -> None:
    trace = traced(
        tmp_path,
        [
            (
                "code",
                "clf = LogisticRegression().fit(X_train, y_train)\nclf.predict(df[['a', 'b', 'c']])",
            )
        ],
    )
    assert "PLANTED-VALUE" not in repr(trace)
    fit = trace.fits[0]
    assert fit.x is not None
    assert (fit.x.columns, fit.x.dtypes) == (("a", "b", "c"), ("float64",) * 3)


def test_a_fit_in_a_timed_cell_is_seen(tmp_path: Path) -> None:
    trace = traced(
        tmp_path, [("code", "%%time\nclf = LogisticRegression().fit(X_train, y_train)")]
    )
    assert [(f.cell, trace.model(f.model).name) for f in trace.fits] == [(2, "clf")]


# --- the model the notebook settles on ----------------------------------------------


def test_the_model_used_on_held_out_data_not_a_later_demo(tmp_path: Path) -> None:
    """The static choice takes the demo (fitted last, its subset made by a function)
    and calls it the full feature set; the traced run sees which model meets X_test."""
    cells: list[CellSpec] = [
        (
            "code",
            "full = LogisticRegression().fit(X_train, y_train)\nfull.predict_proba(X_test)",
        ),
        (
            "code",
            "def first_two(frame):\n    return frame[['a', 'b']]\n\n"
            "demo = LogisticRegression().fit(first_two(X_train), y_train)\n"
            "demo.score(first_two(X_train), y_train)",
        ),
    ]
    result = tagged(tmp_path, cells)
    assert result.exit_code is ExitCode.OK, result.diagnostics
    note = result.notes[0]
    assert note.startswith(
        "model: picked 'full' (cell 3, LogisticRegression, fitted on X_train (150x3 "
        "DataFrame)), the model the notebook uses last to predict on data it was not "
        "trained on: predict_proba on X_test (50x3 DataFrame) in cell 3"
    ), note
    assert "full feature set" not in note
    assert (
        "other candidates: 'demo' (cell 4, LogisticRegression, fitted on a 150x2 DataFrame): not saved"
        in note
    )
    static = tag_notebook(tmp_path / "nb.ipynb", static=True)
    assert "picked 'demo'" in static.notes[0]


def test_the_saved_model_not_an_exercise_at_the_end(tmp_path: Path) -> None:
    cells: list[CellSpec] = [
        (
            "code",
            "clf = LogisticRegression().fit(X_train, y_train)\njoblib.dump({'model': clf}, 'clf.joblib')",
        ),
        (
            "code",
            "# Exercise: try a neighbours model\nknn = KNeighborsClassifier().fit(X_train, y_train)\nknn.predict(X_test)",
        ),
    ]
    result = tagged(tmp_path, cells)
    assert result.exit_code is ExitCode.OK, result.diagnostics
    assert "picked 'clf'" in result.notes[0]
    assert (
        "the model the notebook saves: saved to clf.joblib in cell 3 (item ['model']"
        in result.notes[0]
    )
    assert (
        "'knn' (cell 4, KNeighborsClassifier, fitted on X_train (150x3 DataFrame)): predict on X_test"
        in result.notes[0]
    )


def test_nothing_to_tell_them_apart_is_refused_and_model_picks(tmp_path: Path) -> None:
    cells: list[CellSpec] = [
        (
            "code",
            "clf = LogisticRegression().fit(X_train, y_train)\nknn = KNeighborsClassifier().fit(X_train, y_train)",
        ),
        ("code", "print(clf.score(X_train, y_train), knn.predict(X_train)[:3])"),
    ]
    path = make_notebook(tmp_path, [IMPORTS, DATA, *cells])
    code, output = run_cli("tag", path)
    assert code == ExitCode.USER_ERROR, output
    assert "tag cannot tell which model to serve" in output
    assert "'clf' (cell 3, LogisticRegression" in output
    assert "'knn' (cell 3, KNeighborsClassifier" in output
    assert "--model NAME" in output
    code, output = run_cli("tag", path, "--model", "knn")
    assert code == ExitCode.OK, output
    assert "picked 'knn' (cell 3, KNeighborsClassifier, fitted on X_train" in output
    assert "the model named with --model (knn)" in output
    code, output = run_cli("tag", path, "--model", "forest")
    assert code == ExitCode.USER_ERROR, output
    assert "--model forest: no model has that name" in output


def test_a_model_built_inside_a_helper_is_named_not_missed(tmp_path: Path) -> None:
    """Until tag proposes cells for it, it says which model it is (never another)."""
    cells: list[CellSpec] = [
        (
            "code",
            "def train(frame, target):\n"
            "    model = LogisticRegression().fit(frame, target)\n"
            "    return model\n\n"
            "model = train(X_train, y_train)\n"
            "baseline = KNeighborsClassifier().fit(X_train, y_train)",
        ),
        ("code", "joblib.dump(model, 'model.joblib')"),
    ]
    result = tagged(tmp_path, cells)
    assert result.exit_code is ExitCode.USER_ERROR
    [d] = result.diagnostics
    assert "the model to serve is 'model' (cell 3, LogisticRegression" in d.message
    assert "built inside the notebook's function 'train'" in d.message
    static = tag_notebook(tmp_path / "nb.ipynb", static=True)
    assert "picked 'baseline'" in static.notes[0]


# --- running it ---------------------------------------------------------------------


def test_a_failing_run_points_at_the_cell_and_suggests_static(tmp_path: Path) -> None:
    cells: list[CellSpec] = [
        ("code", "clf = LogisticRegression().fit(X_train, y_train)"),
        ("code", "x = 1\nundefined_name + 1"),
    ]
    result = tagged(tmp_path, cells)
    assert result.exit_code is ExitCode.NOTEBOOK_FAILED
    [d] = result.diagnostics
    assert d.location.cell == 3 and d.location.line == 2, d
    assert "the run failed: raised NameError" in d.message
    assert d.hint is not None and "nb2svc tag --static" in d.hint
    assert tag_notebook(tmp_path / "nb.ipynb", static=True).exit_code is ExitCode.OK


def test_static_runs_nothing(tmp_path: Path) -> None:
    cells: list[CellSpec] = [
        (
            "code",
            "clf = LogisticRegression().fit(X_train, y_train)\nclf.predict(X_test)",
        ),
        ("code", "open('ran.txt', 'w').close()"),
    ]
    path = make_notebook(tmp_path, [IMPORTS, DATA, *cells])
    assert tag_notebook(path, static=True).trace is None
    assert not (tmp_path / "ran.txt").exists()
    result = tag_notebook(path)
    assert result.trace is not None
    assert (tmp_path / "ran.txt").exists()  # traced as build runs it, from its folder


@pytest.mark.parametrize("static", [True, False])
def test_both_modes_give_the_same_proposal_when_they_agree(
    tmp_path: Path, static: bool
) -> None:
    cells: list[CellSpec] = [
        (
            "code",
            "clf = LogisticRegression().fit(X_train, y_train)\nclf.predict(X_test)",
        )
    ]
    result = tagged(tmp_path, cells, static=static)
    assert result.exit_code is ExitCode.OK
    assert "picked 'clf'" in result.notes[0]
    assert "return clf.predict(features)" in result.diff


# --- checked before it is proposed ----------------------------------------------------


@pytest.mark.parametrize(
    ("split", "fitted", "guard"),
    [
        (
            "list(df['plan'])",
            "make_pipeline(TfidfVectorizer(), LogisticRegression())",
            "x = [raw] if isinstance(raw, str) else raw",
        ),
        (
            "df[['a', 'b']].to_numpy().tolist()",
            "LogisticRegression()",
            "x = np.asarray(raw).reshape(1, -1) if np.ndim(raw) == 1 else raw",
        ),
    ],
    ids=["one-text-becomes-a-list", "one-row-becomes-a-2d-batch"],
)
def test_one_input_is_batched_the_way_the_model_was_fed(
    tmp_path: Path, split: str, fitted: str, guard: str
) -> None:
    """Static reading cannot tell these lists' kind: build then rejected the
    proposal ('Iterable over raw text documents expected', 'Expected 2D array')."""
    cells: list[CellSpec] = [
        (
            "code",
            "from sklearn.feature_extraction.text import TfidfVectorizer\n"
            "from sklearn.pipeline import make_pipeline\n"
            f"rows = {split}\n"
            "R_train, R_test, t_train, t_test = train_test_split(rows, y, random_state=0)\n"
            f"model = {fitted}.fit(R_train, t_train)\n"
            "model.predict(R_test)",
        )
    ]
    result = tagged(tmp_path, cells)
    assert result.exit_code is ExitCode.OK, result.diagnostics
    assert guard in result.diff
    assert result.notes[-1].startswith(
        "checked: the tagged notebook runs as build runs it"
    )


def test_a_proposal_build_would_reject_is_reported_not_written(tmp_path: Path) -> None:
    """A notebook that cannot run twice (os.mkdir of a folder the first run made):
    build would fail on it, so tag says so instead of offering the proposal."""
    cells: list[CellSpec] = [
        ("code", "import os\nos.mkdir('outputs')"),
        (
            "code",
            "clf = LogisticRegression().fit(X_train, y_train)\nclf.predict(X_test)",
        ),
    ]
    path = make_notebook(tmp_path, [IMPORTS, DATA, *cells])
    before = path.read_bytes()
    code, output = run_cli("tag", path, "--write")
    assert code == ExitCode.USER_ERROR, output
    assert "the proposal fails when build runs it" in output
    assert "FileExistsError" in output
    assert "cell 4 (id=cell-2): line 2: error NB1211" in output
    assert path.read_bytes() == before
    assert not path.with_suffix(".ipynb.bak").exists()


# --- idioms, end to end: tag, then build --verify -------------------------------------

HELPER_TUPLE: list[CellSpec] = [
    (
        "code",
        "import pickle\n"
        "import numpy as np\n"
        "import pandas as pd\n"
        "from sklearn.feature_extraction import DictVectorizer\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.metrics import roc_auc_score\n"
        "from sklearn.model_selection import train_test_split",
    ),
    (
        "code",
        "rng = np.random.default_rng(1)\n"
        "n = 400\n"
        "df = pd.DataFrame({'tenure': rng.integers(1, 72, n),\n"
        "                   'monthlycharges': rng.normal(70, 20, n).round(2),\n"
        "                   'contract': rng.choice(['monthly', 'one_year', 'two_year'], n)})\n"
        "df['churn'] = ((df.contract == 'monthly') & (df.tenure < 20)).astype(int)\n"
        "categorical = ['contract']\n"
        "numerical = ['tenure', 'monthlycharges']\n"
        "C = 1.0\n"
        "df_full_train, df_test = train_test_split(df, test_size=0.2, random_state=1)",
    ),
    (
        "code",
        "def train(df_train, y_train, C=1.0):\n"
        "    dicts = df_train[categorical + numerical].to_dict(orient='records')\n"
        "    dv = DictVectorizer(sparse=False)\n"
        "    X_train = dv.fit_transform(dicts)\n"
        "    model = LogisticRegression(C=C, max_iter=1000)\n"
        "    model.fit(X_train, y_train)\n"
        "    return dv, model\n"
        "\n"
        "\n"
        "def predict(df, dv, model):\n"
        "    dicts = df[categorical + numerical].to_dict(orient='records')\n"
        "    return model.predict_proba(dv.transform(dicts))[:, 1]\n"
        "\n"
        "\n"
        "dv, model = train(df_full_train, df_full_train.churn.values, C=C)\n"
        "roc_auc_score(df_test.churn.values, predict(df_test, dv, model))",
    ),
    (
        "code",
        "output_file = f'model_C{C}.bin'\n"
        "with open(output_file, 'wb') as f_out:\n"
        "    pickle.dump((dv, model), f_out)",
    ),
    (
        "code",
        "customer = {'tenure': 3, 'monthlycharges': 85.5, 'contract': 'monthly'}\n"
        "X = dv.transform([customer])\n"
        "model.predict_proba(X)[0, 1]",
    ),
]


@pytest.mark.slow
def test_helper_built_tuple_saved_with_pickle_scored_on_a_customer(
    tmp_path: Path,
) -> None:
    path = make_notebook(tmp_path, HELPER_TUPLE, "churn.ipynb")
    tagged_run = run_module("tag", path, "--write")
    output = " ".join((tagged_run.stdout + tagged_run.stderr).split())
    assert tagged_run.returncode == 0, output
    assert (
        "picked 'model' (cell 3, LogisticRegression, fitted on a 320x5 ndarray, "
        "inside 'train'), the model the notebook saves: saved to model_C1.0.bin in "
        "cell 4 (item [1] of what it saves)"
    ) in output
    assert "example: [customer], what the notebook scores in cell 5" in output
    tagged_nb = path.read_text(encoding="utf-8")
    assert "dv, model = pickle.load(handle)" in tagged_nb
    assert "x = [raw] if isinstance(raw, dict) else raw" in tagged_nb
    built = run_module("build", path, "-o", tmp_path / "out", "--verify", timeout=600)
    output = built.stdout + built.stderr
    assert built.returncode == 0, output
    assert "the service matches the notebook (1/1 examples)" in output


def test_progress_shows_each_cell_of_both_runs(tmp_path: Path) -> None:
    cells: list[CellSpec] = [
        (
            "code",
            "clf = LogisticRegression().fit(X_train, y_train)\nclf.predict(X_test)",
        )
    ]
    path = make_notebook(tmp_path, [IMPORTS, DATA, *cells])
    code, output = run_cli("tag", path)
    assert code == ExitCode.OK, output
    # the traced run: the notebook's 3 cells (not the tracer's own)
    assert "cell 3/3 (notebook cell 3): clf = LogisticRegression()" in output
    assert "cell 4/3" not in output
    # the check: the tagged notebook, run the way build runs it
    assert "capturing the examples' outputs" in output
