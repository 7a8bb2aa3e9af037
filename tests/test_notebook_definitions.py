"""Models that refer to classes and functions defined in the notebook (issue 13).

Pickled in the notebook, a custom transformer or a FunctionTransformer over a notebook
function is saved as a reference to ``__main__.<name>``. The build exports those
definitions (cells marked helpers), finds in the capture kernel which of them the loaded
objects need, and the generated pipeline lends them to ``__main__`` while its load code
runs; a definition left in an unmarked cell is a build error (NB320), not a service
that cannot start. ``nb2svc tag`` marks such definition cells itself.
"""

from __future__ import annotations

import json
import pickle
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from nb2svc.capture.kernel_code import kernel_source
from nb2svc.definitions import check_definitions
from nb2svc.errors import ExitCode
from nb2svc.model import Cell, RawNotebook, Role
from tests.helpers import (
    CellSpec,
    assert_lint_clean,
    make_notebook,
    run_module,
    tree_snapshot,
)

HERE = Path(__file__).resolve().parent
IDIOMS = HERE / "notebooks" / "idioms"
sys.path.insert(0, str(HERE / "notebooks"))
try:
    import make_tagged
finally:
    sys.path.pop(0)

#: Idiom notebooks whose model holds the notebook's own definitions -> those names.
DEFINED = {
    "house_custom_transformer": ("QuantileClipper", "RatioFeatures"),
    "credit_function_transformer": ("engineer",),
    "comment_moderation": ("Normaliser", "shouting"),
}

IMPORTS: CellSpec = (
    "code",
    "# nb2svc: imports\n"
    "import joblib\n"
    "import numpy as np\n"
    "import pandas as pd\n"
    "from sklearn.base import BaseEstimator, TransformerMixin\n"
    "from sklearn.linear_model import Ridge\n"
    "from sklearn.pipeline import make_pipeline\n"
    "from sklearn.preprocessing import FunctionTransformer",
)
DEFINITIONS = """\
LOG_COLUMNS = ["area", "rooms"]


def log_sizes(frame):
    frame = frame.copy()
    frame[LOG_COLUMNS] = np.log1p(frame[LOG_COLUMNS])
    return frame


class PerRoom(BaseEstimator, TransformerMixin):
    \"\"\"Area per room, capped at what training saw.\"\"\"

    def fit(self, X, y=None):
        self.cap_ = float((X["area"] / X["rooms"]).max())
        return self

    def transform(self, X):
        X = X.copy()
        X["per_room"] = (X["area"] / X["rooms"]).clip(upper=self.cap_)
        return X
"""
TRAIN: CellSpec = (
    "code",
    "rng = np.random.default_rng(5)\n"
    "flats = pd.DataFrame({'area': rng.uniform(20, 140, 120).round(1),\n"
    "                      'rooms': rng.integers(1, 6, 120)})\n"
    "rent = 9 * flats['area'] + 40 * flats['rooms'] + rng.normal(0, 30, 120)\n"
    "rent_model = make_pipeline(PerRoom(), FunctionTransformer(log_sizes), Ridge())\n"
    "rent_model.fit(flats, rent)\n"
    "joblib.dump(rent_model, 'rent.joblib')",
)
LOAD: CellSpec = (
    "code",
    "# nb2svc: load artifacts=rent.joblib\nrent_model = joblib.load('rent.joblib')",
)
PREDICT: CellSpec = (
    "code",
    "# nb2svc: predict\n"
    "def predict(frame: pd.DataFrame):\n"
    "    return rent_model.predict(frame).round(2)",
)
EXAMPLE: CellSpec = ("code", "# nb2svc: example\nexamples = flats.head(3)")


def _notebook(tmp_path: Path, definitions: CellSpec) -> Path:
    return make_notebook(
        tmp_path, [IMPORTS, definitions, TRAIN, LOAD, PREDICT, EXAMPLE], "rent.ipynb"
    )


# --- what the capture kernel finds ---------------------------------------------------


def _main_refs(values: list[Any]) -> list[str]:
    namespace: dict[str, Any] = {}
    exec(kernel_source("main_refs"), namespace)
    found: list[str] = namespace["__nb2svc_main_refs"](values)
    return found


class _Scaler:
    def __init__(self, factor: float) -> None:
        self.factor = factor


def _halve(x: float) -> float:
    return x / 2


def _as_main(obj: Any, name: str) -> Any:
    obj.__module__ = "__main__"
    obj.__qualname__ = name
    return obj


def test_the_kernel_finds_the_main_definitions_a_pickle_refers_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scaler = type("Scaler", (_Scaler,), {"__module__": "__main__"})
    fn = _as_main(lambda x: x, "halve")
    inner = _as_main(lambda x: x, "outer.<locals>.inner")
    box = type("Box", (), {"__module__": "__main__"})
    box.In = type("In", (), {"__module__": "__main__", "__qualname__": "Box.In"})
    main = sys.modules["__main__"]
    for obj in (scaler, fn, box):  # as in the notebook's kernel
        monkeypatch.setattr(main, obj.__qualname__, obj, raising=False)
    values = [
        {"steps": [("scale", scaler(2.0)), ("f", fn)]},
        (box.In(), _halve, _Scaler(1.0)),
    ]
    # Instances and classes, functions kept as values, a nested class by its
    # top-level name; the test module's own objects are not __main__'s.
    assert _main_refs(values) == ["Box", "Scaler", "halve"]
    # What stdlib pickle cannot save by reference (a nested function, a lambda) is
    # not lent: its value stops the search, values after it are still searched.
    assert _main_refs([inner, lambda y: y, [scaler(1.0)]]) == ["Scaler"]
    assert _main_refs([pickle, 1.5]) == []


# --- NB320: a needed definition must be exported ------------------------------------


def _nb(sources: list[str]) -> RawNotebook:
    cells = tuple(
        Cell(index=i, cell_type="code", source=s, cell_id=f"c{i}")
        for i, s in enumerate(sources)
    )
    return RawNotebook(name="rent.ipynb", cells=cells)


def test_a_needed_definition_in_an_unmarked_cell_is_named_with_its_cell() -> None:
    sources = ["class PerRoom: ...\ndef log_sizes(f): ...", "m = joblib.load('x')"]
    nb = _nb(sources)
    cells = [(None, 0, sources[0]), (Role.LOAD, 1, sources[1])]
    problems = check_definitions(nb, cells, ["PerRoom", "log_sizes"])
    assert [d.code for d in problems] == ["NB320", "NB320"]
    first = problems[0]
    assert first.location.cell == 1  # the load cell
    assert "__main__.PerRoom" in first.message
    assert "defined only in unmarked cell 1" in first.message
    assert first.hint is not None and "mark cell 1 as helpers" in first.hint
    exported = [(Role.HELPERS, 0, sources[0]), (Role.LOAD, 1, sources[1])]
    assert check_definitions(nb, exported, ["PerRoom", "log_sizes"]) == []
    # Defined in the load cell: local to the load function, so not importable either.
    in_load = [(Role.LOAD, 1, "class PerRoom: ...\nm = joblib.load('x')")]
    (problem,) = check_definitions(nb, in_load, ["PerRoom"])
    assert "defined only in load cell 2" in problem.message


# --- end to end: hand-marked notebooks ------------------------------------------------


@pytest.mark.slow
def test_a_hand_marked_custom_transformer_builds_and_verifies(tmp_path: Path) -> None:
    notebook = _notebook(tmp_path, ("code", "# nb2svc: helpers\n" + DEFINITIONS))
    out = tmp_path / "out"
    built = run_module("build", notebook, "-o", out, "--verify", timeout=900)
    output = built.stdout + built.stderr
    assert built.returncode == 0, output
    assert "the service matches the notebook (3/3 examples)" in output
    pipeline = (out / "src" / "rent" / "pipeline.py").read_text(encoding="utf-8")
    assert "class PerRoom(BaseEstimator, TransformerMixin):" in pipeline
    assert "def log_sizes(frame):" in pipeline
    assert '_NOTEBOOK_MAIN = ["PerRoom", "log_sizes"]' in pipeline
    golden = json.loads((out / "tests/golden/examples.json").read_text("utf-8"))
    assert golden["nb2svc"]["notebook_definitions"] == ["PerRoom", "log_sizes"]
    assert_lint_clean(out, tmp_path)
    # Rebuilt from the cached capture (no kernel): the same files.
    before = tree_snapshot(out)
    again = run_module("build", notebook, "-o", out, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "examples captured by running the notebook" not in again.stdout
    assert tree_snapshot(out) == before


@pytest.mark.slow
def test_a_definition_left_unmarked_is_a_build_error_naming_its_cell(
    tmp_path: Path,
) -> None:
    notebook = _notebook(tmp_path, ("code", DEFINITIONS))
    out = tmp_path / "out"
    built = run_module("build", notebook, "-o", out, timeout=600)
    output = " ".join((built.stdout + built.stderr).split())
    assert built.returncode == ExitCode.USER_ERROR, output
    assert "error NB320" in output and "__main__.PerRoom" in output, output
    assert "__main__.log_sizes" in output
    assert "defined only in unmarked cell 2" in output
    assert "mark cell 2 as helpers" in output
    assert "Traceback" not in output
    assert not out.exists()


# --- end to end: unmarked idiom notebooks through tag, build and verify ----------------


def test_the_idioms_listed_here_are_in_the_answer_key() -> None:
    for stem, names in DEFINED.items():
        expected = make_tagged.EXPECTED[stem]
        assert expected.model is not None, stem
        assert set(names) <= set(expected.companions), stem


@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(DEFINED))
def test_tag_build_verify_a_model_holding_notebook_definitions(
    tmp_path: Path, stem: str
) -> None:
    folder = tmp_path / "idioms"
    folder.mkdir()
    notebook = folder / f"{stem}.ipynb"
    shutil.copy(IDIOMS / notebook.name, notebook)
    tagged = run_module("tag", notebook, "--write", timeout=600)
    said = " ".join((tagged.stdout + tagged.stderr).split())
    assert tagged.returncode == 0, said
    assert f"model: picked '{make_tagged.EXPECTED[stem].model}'" in said
    assert "refers to " + ", ".join(DEFINED[stem]) + " as __main__.<name>" in said
    assert "checked: the tagged notebook runs as build runs it" in said
    out = folder / "out"
    built = run_module("build", notebook, "-o", out, "--verify", timeout=900)
    output = built.stdout + built.stderr
    assert built.returncode == 0, output
    assert "the service matches the notebook" in output
    golden = json.loads((out / "tests/golden/examples.json").read_text("utf-8"))
    assert golden["nb2svc"]["notebook_definitions"] == list(DEFINED[stem])


LAMBDA_NOTEBOOK: list[CellSpec] = [
    (
        "code",
        "import numpy as np\n"
        "from sklearn.linear_model import LinearRegression\n"
        "from sklearn.model_selection import train_test_split\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import FunctionTransformer",
    ),
    (
        "code",
        "X = np.arange(60.0).reshape(30, 2)\ny = X.sum(axis=1)\n"
        "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
        "reg = make_pipeline(FunctionTransformer(lambda a: a / 10), LinearRegression())\n"
        "reg.fit(X_train, y_train)\n"
        "reg.predict(X_test)",
    ),
]


@pytest.mark.slow
def test_a_lambda_in_the_model_is_refused_saying_why(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, LAMBDA_NOTEBOOK)
    before = notebook.read_bytes()
    tagged = run_module("tag", notebook, "--write", timeout=600)
    said = " ".join((tagged.stdout + tagged.stderr).split())
    assert tagged.returncode == ExitCode.USER_ERROR, said
    assert "error NB1207" in said and "'reg' holds a lambda" in said, said
    assert "define it with 'def' at the top level of a cell" in said
    assert "Traceback" not in said
    assert notebook.read_bytes() == before


@pytest.mark.slow
def test_a_load_that_needs_an_unrun_definition_says_which_cell_to_mark(
    tmp_path: Path,
) -> None:
    """With every artifact there and an example of literals, build runs only the
    exported cells: the load then fails in the kernel, and the hint says why."""
    notebook = _notebook(tmp_path, ("code", DEFINITIONS))
    first = run_module("build", notebook, "-o", tmp_path / "out", timeout=600)
    assert first.returncode == ExitCode.USER_ERROR  # NB320; rent.joblib was saved
    literal: CellSpec = (
        "code",
        "# nb2svc: example\nexamples = pd.DataFrame({'area': [50.0], 'rooms': [2]})",
    )
    cells = [IMPORTS, ("code", DEFINITIONS), TRAIN, LOAD, PREDICT, literal]
    notebook = make_notebook(tmp_path, cells, "rent.ipynb")
    built = run_module("build", notebook, "-o", tmp_path / "out", timeout=600)
    said = " ".join((built.stdout + built.stderr).split())
    assert built.returncode == ExitCode.NOTEBOOK_FAILED, said
    assert "running 4 cells" in said, said  # the exported ones only
    assert "Can't get attribute 'PerRoom'" in said
    assert "the file was saved with the notebook's own 'PerRoom'" in said
    assert "mark the cell that defines it helpers" in said


@pytest.mark.slow
def test_build_capture_saves_a_model_holding_exported_definitions(
    tmp_path: Path,
) -> None:
    """`build --capture`: an in-memory model holding the notebook's classes is saved
    and served when their cell is marked helpers; refused, saying so, when not."""
    fit_only: CellSpec = ("code", str(TRAIN[1]).rsplit("\n", 1)[0])  # no joblib.dump
    for marked, folder in ((False, "unmarked"), (True, "marked")):
        definitions: CellSpec = (
            "code",
            ("# nb2svc: helpers\n" if marked else "") + DEFINITIONS,
        )
        notebook = make_notebook(
            tmp_path / folder,
            [IMPORTS, definitions, fit_only, PREDICT, EXAMPLE],
            "rent.ipynb",
        )
        out = tmp_path / folder / "out"
        args = ("build", notebook, "-o", out, "--capture", "rent_model", "--verify")
        built = run_module(*args, timeout=900)
        said = " ".join((built.stdout + built.stderr).split())
        if not marked:
            assert built.returncode == ExitCode.NOTEBOOK_FAILED, said
            assert "it uses PerRoom, log_sizes, defined in the notebook" in said, said
            assert "Mark that cell helpers" in said
            assert not out.exists()
            continue
        assert built.returncode == 0, said
        assert "the service matches the notebook" in said
        golden = json.loads((out / "tests/golden/examples.json").read_text("utf-8"))
        assert golden["nb2svc"]["notebook_definitions"] == ["PerRoom", "log_sizes"]
