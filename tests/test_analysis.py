"""analyse: magics, self-containment, role functions, config, artifacts, imports, load."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from nb2svc.analysis import RESERVED_NAMES, Analysis, analyse
from nb2svc.errors import Diagnostic, Severity
from nb2svc.model import Role, RoleFunction, Setting
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from tests.helpers import EXAMPLE_CELL, PREDICT_CELL, CellSpec, make_notebook

PREFIX = "CHURN_"


def analysed(tmp_path: Path, cells: Sequence[CellSpec]) -> Analysis:
    nb, _ = read_notebook(make_notebook(tmp_path, cells, "churn.ipynb"))
    marked, problems = mark_cells(nb)
    assert problems == [], [str(p) for p in problems]
    return analyse(nb, marked, PREFIX)


def with_code(analysis: Analysis, code: str) -> list[Diagnostic]:
    return [d for d in analysis.diagnostics if d.code == code]


def one(analysis: Analysis, code: str) -> Diagnostic:
    found = with_code(analysis, code)
    assert len(found) == 1, [str(d) for d in analysis.diagnostics]
    return found[0]


def block(analysis: Analysis, role: Role) -> str:
    (code,) = [b.code for b in analysis.blocks if b.role is role]
    return code


def test_tiny_notebook_is_clean(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [("code", "# nb2svc: imports\nimport math"), PREDICT_CELL, EXAMPLE_CELL],
    )
    assert a.diagnostics == []
    assert a.imports == ["import math"]
    assert a.functions == [RoleFunction(Role.PREDICT, "predict", "dict", "dict")]
    assert a.example_needs_notebook is False


# --- magics ----------------------------------------------------------------------------


def test_harmless_magic_is_removed_with_a_warning(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            (
                "code",
                "# nb2svc: imports\n%matplotlib inline\nimport math\n%load_ext autoreload",
            ),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    warnings = with_code(a, "NB201")
    assert [(w.severity, w.location.cell, w.location.line) for w in warnings] == [
        (Severity.WARNING, 0, 2),
        (Severity.WARNING, 0, 4),
    ]
    assert "'%matplotlib' removed" in warnings[0].message
    assert a.errors == []
    assert a.imports == ["import math"]
    assert "%" not in "".join(b.code for b in a.blocks)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("!pip install scikit-learn", "shell escape"),
        ("%pip install scikit-learn", "IPython magic"),
        ("%time y = predict({'a': 1})", "IPython magic"),
        ("files = !ls", "shell escape"),
        ("%env MODE=prod", "IPython magic"),
    ],
)
def test_other_magics_are_errors_with_their_line(
    tmp_path: Path, line: str, kind: str
) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport math"),
            ("code", f"# nb2svc: helpers\ndef double(x):\n    return 2 * x\n{line}"),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    problem = one(a, "NB202")
    assert problem.severity is Severity.ERROR
    assert (problem.location.cell, problem.location.line) == (1, 4)
    assert problem.message == f"{kind} in exported code: {line!r}"
    assert str(problem).startswith("churn.ipynb: cell 2 (id=cell-1): line 4: error")


def test_cell_magic_in_exported_code_is_an_error(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: predict\n%%time\ndef predict(x):\n    return x"),
            EXAMPLE_CELL,
        ],
    )
    assert one(a, "NB202").location.line == 2


def test_magics_in_unmarked_and_example_cells_are_fine(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "!pip install scikit-learn\n%matplotlib inline\nrows = [1]"),
            PREDICT_CELL,
            ("code", '# nb2svc: example\n%time x = 1\nexample = {"a": rows[0]}'),
            ("code", "%%bash\necho hi", ["nb2svc:skip"]),
        ],
    )
    assert a.diagnostics == []
    assert a.example_needs_notebook is True  # uses rows, defined in an unmarked cell


def test_syntax_error_in_exported_code(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [("code", "# nb2svc: predict\ndef predict(x):\nreturn x"), EXAMPLE_CELL],
    )
    problem = one(a, "NB203")
    assert (problem.location.cell, problem.location.line) == (0, 3)


# --- self-containment ------------------------------------------------------------------


def test_hidden_state_names_the_name_and_both_cells(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport math"),
            ("markdown", "Training"),
            ("code", "scaler = 2.0\nmodel = object()"),
            (
                "code",
                "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
                "    y = x['a'] * scaler\n    return {'y': y}",
            ),
            EXAMPLE_CELL,
        ],
    )
    problem = one(a, "NB304")
    assert problem.severity is Severity.ERROR
    assert (problem.location.cell, problem.location.line) == (3, 3)
    assert problem.message == "predict uses 'scaler', defined only in unmarked cell 3"
    assert problem.hint is not None and "mark cell 3 as load or helpers" in problem.hint
    assert str(problem).startswith("churn.ipynb: cell 4 (id=cell-3): line 3: error")
    assert with_code(a, "NB305") == []  # 'model' is defined there but not used


def test_hidden_state_lists_every_defining_cell(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "k = 1"),
            ("code", "k = 2"),
            ("code", "# nb2svc: helpers\ndef f(x):\n    return x + k"),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    problem = one(a, "NB304")
    assert "'k', defined only in unmarked cell 1, 2" in problem.message
    assert problem.location.cell == 2 and problem.location.line == 3


def test_name_no_cell_defines(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: predict\ndef predict(x):\n    return np.log(x)"),
            EXAMPLE_CELL,
        ],
    )
    problem = one(a, "NB305")
    assert "'np', which no cell defines" in problem.message
    assert problem.location.line == 3


def test_skip_cells_do_not_count_as_definitions(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: skip\nscale = 2"),
            ("code", "# nb2svc: predict\ndef predict(x):\n    return x * scale"),
            EXAMPLE_CELL,
        ],
    )
    assert "'scale'" in one(a, "NB305").message


def test_exported_cells_may_use_each_other_and_builtins(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport math"),
            ("code", "# nb2svc: config\nSCALE = 2"),
            (
                "code",
                "# nb2svc: helpers\ndef double(x):\n    return SCALE * len(str(x))",
            ),
            ("code", "# nb2svc: load\nTABLE = {k: double(k) for k in range(3)}"),
            (
                "code",
                "# nb2svc: predict\ndef predict(x):\n    return math.floor(TABLE[x])",
            ),
            ("code", "SCALE = 3\nTABLE = {}"),  # unmarked redefinitions do not matter
            ("code", "# nb2svc: example\nexample = 1"),
        ],
    )
    assert a.errors == []


def test_star_import_disables_the_check_with_a_warning(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nfrom math import *"),
            (
                "code",
                "# nb2svc: predict\ndef predict(x):\n    return floor(x) * hidden",
            ),
            ("code", "hidden = 2"),
            EXAMPLE_CELL,
        ],
    )
    assert one(a, "NB306").severity is Severity.WARNING
    assert with_code(a, "NB304") == with_code(a, "NB305") == []


# --- role functions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "def helper(x):\n    return x\ndef predict(df: 'pd.DataFrame') -> list:\n"
            "    return helper(df)",
            RoleFunction(Role.PREDICT, "predict", "'pd.DataFrame'", "list"),
        ),
        (
            "def score_churn(x):\n    return x",
            RoleFunction(Role.PREDICT, "score_churn", None, None),
        ),
        (
            "def predict(x, threshold=0.5):\n    return x > threshold",
            RoleFunction(Role.PREDICT, "predict", None, None),
        ),
    ],
    ids=["named", "only-function", "defaults-ok"],
)
def test_role_function_selection(
    tmp_path: Path, source: str, expected: RoleFunction
) -> None:
    a = analysed(tmp_path, [("code", f"# nb2svc: predict\n{source}"), EXAMPLE_CELL])
    assert a.errors == []
    assert a.functions == [expected]


@pytest.mark.parametrize(
    ("source", "code", "text"),
    [
        ("def f(x):\n    return x\ndef g(x):\n    return x", "NB312", "(found: f, g)"),
        ("model = 1", "NB312", "(found: none)"),
        ("async def predict(x):\n    return x", "NB313", "not async"),
        ("def predict(x, y):\n    return x", "NB314", "takes 2"),
        ("def predict():\n    return 1", "NB314", "exactly one required argument"),
    ],
    ids=["ambiguous", "none", "async", "two-args", "no-args"],
)
def test_bad_role_function(tmp_path: Path, source: str, code: str, text: str) -> None:
    a = analysed(tmp_path, [("code", f"# nb2svc: predict\n{source}"), EXAMPLE_CELL])
    problem = one(a, code)
    assert text in problem.message
    assert problem.location.cell == 0
    assert a.functions == []


def test_each_function_role_is_chosen_independently(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            (
                "code",
                "# nb2svc: postprocess\ndef to_label(p):\n    return {'churn': p}",
            ),
            (
                "code",
                "# nb2svc: preprocess\ndef preprocess(raw: dict) -> float:\n    return raw['a']",
            ),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    assert a.errors == []
    assert [(f.role, f.name) for f in a.functions] == [
        (Role.PREPROCESS, "preprocess"),
        (Role.PREDICT, "predict"),
        (Role.POSTPROCESS, "to_label"),
    ]


def test_two_predict_cells(tmp_path: Path) -> None:
    a = analysed(tmp_path, [PREDICT_CELL, EXAMPLE_CELL, PREDICT_CELL])
    problem = one(a, "NB301")
    assert problem.location.cell == 0 and "also cell 3" in problem.message


def test_no_predict_and_no_example(tmp_path: Path) -> None:
    a = analysed(tmp_path, [("code", "# nb2svc: imports\nimport math")])
    assert "no cell is marked 'predict'" in one(a, "NB302").message
    assert "no cell is marked 'example'" in one(a, "NB310").message


def test_no_predict_points_at_the_cell_that_defines_it(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport math"),
            ("code", "import math\n\n\ndef predict(x):\n    return math.floor(x)"),
            EXAMPLE_CELL,
        ],
    )
    problem = one(a, "NB302")
    assert (problem.location.cell, problem.location.line) == (1, 4)
    assert "this cell defines predict()" in problem.message
    assert problem.hint is not None and problem.hint.startswith("mark this cell")


def test_no_predict_in_a_cell_of_another_role(tmp_path: Path) -> None:
    source = "# nb2svc: preprocess\ndef preprocess(x):\n    return x\n\n\n"
    a = analysed(
        tmp_path, [("code", source + "def predict(x):\n    return x"), EXAMPLE_CELL]
    )
    problem = one(a, "NB302")
    assert (problem.location.cell, problem.location.line) == (0, 6)
    assert problem.hint is not None and "'preprocess' cell" in problem.hint


def test_example_must_assign_example_or_examples(tmp_path: Path) -> None:
    a = analysed(tmp_path, [PREDICT_CELL, ("code", "# nb2svc: example\nsample = 1")])
    assert one(a, "NB311").location.cell == 1


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_reserved_names(tmp_path: Path, name: str) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", f"# nb2svc: helpers\n\ndef {name}(x):\n    return x"),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    problem = one(a, "NB303")
    assert (
        f"'{name}' is a name the generated pipeline defines itself" in problem.message
    )
    assert (problem.location.cell, problem.location.line) == (0, 3)


def test_reserved_name_by_assignment_and_import(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport math\nfrom json import dumps as score"),
            ("code", "# nb2svc: load\nmodel = 1\nload_resources = None"),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    assert [(d.location.cell, d.location.line) for d in with_code(a, "NB303")] == [
        (0, 3),
        (1, 3),
    ]


# --- config ----------------------------------------------------------------------------


def test_config_literals_become_settings(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            (
                "code",
                '# nb2svc: config\n"""Settings."""\nTHRESHOLD = 0.7\nmaxItems: int = 5\n'
                'LABELS = ["no", "yes"]\nDEBUG = False\nMODE = None\nNAME = "churn"',
            ),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    assert a.errors == []
    assert a.settings == [
        Setting("threshold", "THRESHOLD", "CHURN_THRESHOLD", "float", "0.7"),
        Setting("maxitems", "maxItems", "CHURN_MAXITEMS", "int", "5"),
        Setting("labels", "LABELS", "CHURN_LABELS", "list[Any]", "['no', 'yes']"),
        Setting("debug", "DEBUG", "CHURN_DEBUG", "bool", "False"),
        Setting("mode", "MODE", "CHURN_MODE", "str | None", "None"),
        Setting("name", "NAME", "CHURN_NAME", "str", "'churn'"),
    ]
    assert [b.role for b in a.blocks] == [Role.PREDICT]  # config is not code


def test_papermill_parameters_become_settings(tmp_path: Path) -> None:
    a = analysed(
        tmp_path, [("code", "RATE = 0.25", ["parameters"]), PREDICT_CELL, EXAMPLE_CELL]
    )
    assert [s.env for s in a.settings] == ["CHURN_RATE"]


@pytest.mark.parametrize(
    ("statement", "shown"),
    [
        ("FACTOR = BASE * 2", "FACTOR = BASE * 2"),
        ("PATH = os.getcwd()", "PATH = os.getcwd()"),
        ("A, B = 1, 2", "A, B = (1, 2)"),
        ("A = B = 1", "A = B = 1"),
        ("COUNT += 1", "COUNT += 1"),
        ("print(BASE)", "print(BASE)"),
    ],
)
def test_config_must_be_literal_assignments(
    tmp_path: Path, statement: str, shown: str
) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport os"),
            ("code", f"# nb2svc: config\nBASE = 2\n{statement}"),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    problem = one(a, "NB501")
    assert (problem.location.cell, problem.location.line) == (1, 3)
    assert f"(found: {shown})" in problem.message
    assert [s.constant for s in a.settings] == ["BASE"]


def test_config_names_that_collide_as_settings(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: config\nMAX_N = 1\nmax_n = 2"),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    assert "same setting 'max_n'" in one(a, "NB502").message


# --- artifacts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "../model.joblib",
        "/etc/passwd",
        "data/../../model.joblib",
        "C:/models/m.bin",
        "..",
    ],
)
def test_artifact_outside_the_notebook_folder(tmp_path: Path, path: str) -> None:
    a = analysed(
        tmp_path,
        [
            (
                "code",
                f"# nb2svc: load\nmodel = open({path!r}).read()",
                ["nb2svc:artifact=" + path],
            ),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    problem = one(a, "NB401")
    assert f"'{path}'" in problem.message and problem.location.cell == 0
    assert a.artifacts == []


def test_artifact_paths_are_normalised(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            (
                "code",
                "# nb2svc: load artifacts=./model.joblib,data/x/../vocab.json\nm = 1",
            ),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    assert a.errors == []
    assert a.artifacts == ["data/vocab.json", "model.joblib"]


def test_artifact_strings_are_rewritten(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport json"),
            (
                "code",
                "# nb2svc: load artifacts=data/vocab.json\n"
                "with open('./data/vocab.json') as fh:\n"
                '    VOCAB = json.load(fh)\nSOURCE = "data/vocab.json"  # kept as a comment\n'
                "OTHER = 'data/other.json'",
            ),
            (
                "code",
                "# nb2svc: predict\ndef predict(x):\n    return {'v': VOCAB, 'p': r'data\\vocab.json'}",
            ),
            EXAMPLE_CELL,
        ],
    )
    assert a.errors == []
    assert block(a, Role.LOAD) == (
        "with open(artifact_path('data/vocab.json')) as fh:\n"
        "    VOCAB = json.load(fh)\n"
        "SOURCE = artifact_path('data/vocab.json')  # kept as a comment\n"
        "OTHER = 'data/other.json'"
    )
    assert "artifact_path('data/vocab.json')" in block(a, Role.PREDICT)


def test_undeclared_path_is_not_rewritten(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: load\nmodel = open('model.joblib').read()"),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    assert block(a, Role.LOAD) == "model = open('model.joblib').read()"


# --- imports, blocks, load globals -----------------------------------------------------


def test_imports_are_hoisted_from_every_exported_cell(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            (
                "code",
                "# nb2svc: imports\nimport math\nimport os.path\nfrom json import (\n    dumps,\n)",
            ),
            ("code", "import pandas as pd\nimport sklearn"),  # unmarked: not exported
            (
                "code",
                "# nb2svc: predict\nimport math\nfrom statistics import mean\n\n"
                "def predict(x):\n    import re\n    return mean([math.floor(x)])",
            ),
            EXAMPLE_CELL,
        ],
    )
    assert a.errors == []
    assert a.imports == [
        "import math",
        "import os.path",
        "from json import dumps",
        "from statistics import mean",
    ]
    assert (
        block(a, Role.PREDICT)
        == "def predict(x):\n    import re\n    return mean([math.floor(x)])"
    )
    assert {"math", "os", "json", "statistics", "re"} <= a.modules
    assert not {"pandas", "sklearn"} & a.modules
    assert [b.role for b in a.blocks] == [Role.PREDICT]  # imports-only cell: no block


def test_relative_import_is_an_error(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport math\nfrom . import utils"),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
    )
    assert one(a, "NB307").location.line == 3


def test_top_level_expressions_are_dropped_with_a_warning(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            (
                "code",
                "# nb2svc: predict\ndef predict(x):\n    return x\n\npredict(2)\n'''a note'''",
            ),
            EXAMPLE_CELL,
        ],
    )
    warning = one(a, "NB308")
    assert warning.severity is Severity.WARNING and warning.location.line == 5
    assert block(a, Role.PREDICT) == "def predict(x):\n    return x\n\n'''a note'''"


def test_load_globals_and_block_order(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            (
                "code",
                "# nb2svc: load\nimport json\nwith open('m.json') as fh:\n    MODEL = fh.read()\nclass Box: ...\nTHRESHOLD: float = 0.5",
            ),
            ("code", "# nb2svc: helpers\ndef clip(x):\n    return min(x, 1)"),
            (
                "code",
                "# nb2svc: predict\ndef predict(x):\n    return clip(x) > THRESHOLD",
            ),
            ("code", "# nb2svc: imports\nimport math"),
            EXAMPLE_CELL,
        ],
    )
    assert a.errors == []
    assert a.load_globals == ["Box", "MODEL", "THRESHOLD", "fh"]
    assert a.imports == ["import math", "import json"]  # pipeline order, not cell order
    assert [(b.role, b.cell, b.cell_id) for b in a.blocks] == [
        (Role.HELPERS, 1, "cell-1"),
        (Role.LOAD, 0, "cell-0"),
        (Role.PREDICT, 2, "cell-2"),
    ]


def test_example_needs_the_notebook_only_for_unexported_names(tmp_path: Path) -> None:
    a = analysed(
        tmp_path,
        [
            ("code", "# nb2svc: config\nBASE = 2"),
            ("code", "X_test = [{'a': 1}]"),
            PREDICT_CELL,
            ("code", "# nb2svc: example\nexamples = [{'a': BASE}, *X_test]"),
        ],
    )
    assert a.errors == []
    assert a.example_needs_notebook is True
    b = analysed(
        tmp_path / "b",
        [
            ("code", "# nb2svc: config\nBASE = 2"),
            PREDICT_CELL,
            ("code", "# nb2svc: example\nexamples = [{'a': BASE}, {'a': len('ab')}]"),
        ],
    )
    assert b.example_needs_notebook is False
