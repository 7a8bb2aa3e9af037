"""`nb2svc lint`: every rule fires on a notebook made to break it and stays quiet on one
that does not; JSON output; --strict; and no crash on weird notebooks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nb2svc.errors import ExitCode, Severity
from nb2svc.lint import RULES, lint_notebook
from nb2svc.lint import content as lint_content
from tests.helpers import TINY, make_notebook, run_cli

#: A fake, well-formed credential for the tests (never a real one).
FAKE_KEY = "sk-proj-4f9XkL2mQ8vR1tY7uW3zA6bC0dE5gH9jK2nP4sT"


def saved_notebook(
    tmp_path: Path,
    cells: Sequence[dict[str, Any]],
    name: str = "nb.ipynb",
    language: str = "python",
) -> Path:
    """A notebook with saved outputs and execution counts: each cell is a dict with
    `source` and optionally `kind`, `count`, `outputs`, `tags`."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": language,
        "display_name": language,
        "language": language,
    }
    for i, spec in enumerate(cells):
        if spec.get("kind") == "markdown":
            cell = nbformat.v4.new_markdown_cell(spec["source"])
        else:
            cell = nbformat.v4.new_code_cell(spec["source"])
            cell.execution_count = spec.get("count")
            cell.outputs = [nbformat.from_dict(o) for o in spec.get("outputs", [])]
        if spec.get("tags"):
            cell.metadata["tags"] = list(spec["tags"])
        cell.id = f"cell-{i}"
        nb.cells.append(cell)
    path = tmp_path / name
    nbformat.write(nb, str(path))
    return path


def stream(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


def codes(path: Path) -> list[str]:
    return [d.code for d in lint_notebook(path).diagnostics]


def unmarked(tmp_path: Path, *sources: str) -> Path:
    """An unmarked notebook of code cells (NB1100 is always among its findings)."""
    return make_notebook(tmp_path, [("code", s) for s in sources])


def findings(path: Path) -> list[str]:
    """The codes found, without the 'no markers' note every unmarked notebook gets."""
    return [c for c in codes(path) if c != "NB1100"]


# --- NB1100 ---------------------------------------------------------------------


def test_unmarked_notebook_is_reported_and_marked_one_is_checked(
    tmp_path: Path,
) -> None:
    assert codes(unmarked(tmp_path, "x = 1")) == ["NB1100"]
    marked = make_notebook(tmp_path, TINY, "tiny.ipynb")
    report = lint_notebook(marked)
    assert report.marked and report.diagnostics == ()


def test_contract_errors_are_included(tmp_path: Path) -> None:
    path = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport math"),
            ("code", "scale = 3"),
            ("code", "# nb2svc: predcit\ndef predict(x):\n    return x * scale"),
        ],
    )
    found = codes(path)
    assert "NB101" in found  # unknown role, with "did you mean"
    assert "NB302" in found  # no predict (the misspelt cell is not one)


# --- NB1101 ---------------------------------------------------------------------


def test_shell_escapes_and_installs_fire(tmp_path: Path) -> None:
    path = unmarked(
        tmp_path,
        "!pip install xgboost",
        "%pip install lightgbm\nimport math",
        "files = !ls data\n%cd data",
        "pip install pandas",
    )
    report = lint_notebook(path)
    magic = [d for d in report.diagnostics if d.code == "NB1101"]
    assert [(d.location.cell, d.location.line) for d in magic] == [
        (0, 1),
        (1, 1),
        (2, 1),
        (2, 2),
        (3, 1),
    ]
    assert "installs packages" in magic[0].message
    assert "changes the working directory" in magic[3].message
    assert all(d.severity is Severity.WARNING for d in magic)


def test_harmless_magics_and_skip_cells_stay_quiet(tmp_path: Path) -> None:
    path = make_notebook(
        tmp_path,
        [
            ("code", "%load_ext autoreload\n%autoreload 2\n%time x = 1"),
            ("code", "%%time\ny = x + 1"),
            ("code", "len?"),
            ("code", "# nb2svc: skip\n!nvidia-smi"),
        ],
    )
    assert findings(path) == []


def test_shell_escape_in_exported_code_is_a_contract_error(tmp_path: Path) -> None:
    path = make_notebook(
        tmp_path,
        [("code", "# nb2svc: imports\n!pip install x\nimport math"), *TINY[1:]],
    )
    found = codes(path)
    assert "NB202" in found and "NB1101" not in found


# --- NB1102 ---------------------------------------------------------------------


def test_names_used_before_any_cell_defines_them(tmp_path: Path) -> None:
    path = unmarked(
        tmp_path,
        "model.fit(features)",
        "features = [1, 2]\nmodel = object()",
        "total = scale_factor * 2",
    )
    hidden = [d for d in lint_notebook(path).diagnostics if d.code == "NB1102"]
    assert [(d.location.cell, d.message.split("'")[1]) for d in hidden] == [
        (0, "features"),
        (0, "model"),
        (2, "scale_factor"),
    ]
    assert "cell 2, further down" in hidden[0].message
    assert "no cell defines it" in hidden[2].message


def test_names_defined_in_order_or_late_bound_stay_quiet(tmp_path: Path) -> None:
    path = unmarked(
        tmp_path,
        "import pandas as pd\ndef score(x):\n    return model.predict(x)",  # later
        "model = None\nfiles = !ls\nrows = [f for f in files]",
        "class Box:\n    size = len(rows)\ndisplay(Box, In, Out, _, _i1)",
        "try:\n    import ujson as json\nexcept ImportError:\n    import json",
        "json.dumps(1)",
    )
    assert [c for c in findings(path) if c == "NB1102"] == []


def test_star_import_and_run_stop_the_hidden_state_check(tmp_path: Path) -> None:
    path = unmarked(tmp_path, "from math import *", "pi_twice = pi * 2")
    assert "NB1102" not in findings(path)
    path = unmarked(tmp_path, "from math import *\nroot = sqrt(2)")
    assert "NB1102" not in findings(path)
    path = unmarked(tmp_path, "%run helpers.py", "helper()")
    assert "NB1102" not in findings(path)


# --- NB1103 / NB1104 ------------------------------------------------------------


def test_secret_in_source_is_an_error_and_shown_redacted(tmp_path: Path) -> None:
    path = unmarked(tmp_path, "import os", f'OPENAI_API_KEY = "{FAKE_KEY}"')
    report = lint_notebook(path)
    secret = [d for d in report.diagnostics if d.code == "NB1103"]
    assert len(secret) == 1
    assert secret[0].severity is Severity.ERROR
    assert (secret[0].location.cell, secret[0].location.line) == (1, 1)
    assert FAKE_KEY not in str(secret[0]) and "sk-p" in secret[0].message
    code, output = run_cli("lint", path, "--json")
    assert code == ExitCode.USER_ERROR and FAKE_KEY not in output


@pytest.mark.parametrize(
    "line",
    [
        'conn = connect("postgresql://analyst:Tr0ub4dor-and-3@db.internal/sales")',
        "-----BEGIN RSA PRIVATE KEY-----",
        'token = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"',
        "card = '4539 1488 0343 6467'",
        'aws = "AKIA4Q7XK2M9R8T3WZ5N"',
        'password = "hunter2-Correct-Horse"',
    ],
)
def test_kinds_of_secrets_are_found(tmp_path: Path, line: str) -> None:
    assert "NB1103" in findings(unmarked(tmp_path, line))


@pytest.mark.parametrize(
    "line",
    [
        'password = os.environ["DB_PASSWORD"]',
        "token = getpass.getpass()",
        'card_number = "4539 1488 0343 6468"',  # fails the Luhn check
        'key = "AKIA4Q7XK2M9R8T3WZ5N"  # pragma: allowlist secret',
        'model_path = "models/model.joblib"',
        'user_id = "a3f2c9e1-b7d8-4f0e-9c2a-1b3d4e5f6a7b"',
    ],
)
def test_non_secrets_stay_quiet(tmp_path: Path, line: str) -> None:
    assert "NB1103" not in findings(unmarked(tmp_path, line))


def test_secret_in_saved_output_is_found(tmp_path: Path) -> None:
    path = saved_notebook(
        tmp_path,
        [
            {"source": "import os", "count": 1},
            {
                "source": 'print("key:", os.environ.get("KEY"))',
                "count": 2,
                "outputs": [stream("ok\nkey: AKIA4Q7XK2M9R8T3WZ5N\n")],
            },
            {"source": "x = 1", "count": 3, "outputs": [stream("accuracy: 0.93\n")]},
        ],
    )
    report = lint_notebook(path)
    out = [d for d in report.diagnostics if d.code == "NB1104"]
    assert len(out) == 1 and out[0].location.cell == 1
    assert "output 1, line 2" in out[0].message
    assert "AKIA4Q7XK2M9R8T3WZ5N" not in out[0].message


# --- NB1105 / NB1106 ------------------------------------------------------------


def test_absolute_paths_warn_in_training_and_fail_in_exported_code(
    tmp_path: Path,
) -> None:
    path = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport pandas as pd"),
            ("code", 'train = pd.read_csv("/home/alice/data/train.csv")'),
            ("code", "# nb2svc: load\nlookup = pd.read_csv('C:\\\\data\\\\codes.csv')"),
            (
                "code",
                "# nb2svc: predict\ndef predict(x: dict) -> dict:\n    return x",
            ),
            ("code", '# nb2svc: example\nexample = {"a": 1}'),
        ],
    )
    found = [d for d in lint_notebook(path).diagnostics if d.code == "NB1105"]
    assert [(d.location.cell, d.severity) for d in found] == [
        (1, Severity.WARNING),
        (2, Severity.ERROR),
    ]


def test_paths_outside_the_folder(tmp_path: Path) -> None:
    path = unmarked(tmp_path, 'df = open("../shared/data.csv")', 'f"../{name}/x.csv"')
    assert findings(path).count("NB1106") == 2


def test_relative_paths_urls_and_routes_stay_quiet(tmp_path: Path) -> None:
    path = unmarked(
        tmp_path,
        'df = open("data/train.csv")\nurl = "https://example.com/a/b.csv"',
        'route = "/api/v1/predict"\npattern = r"/\\d+/"\nsep = "/"',
        'def f():\n    """Reads /home/alice/notes.txt in the docs only."""',
    )
    assert [c for c in findings(path) if c in ("NB1105", "NB1106")] == []


# --- NB1107 ---------------------------------------------------------------------


def _with_predict(tmp_path: Path, imports: str, body: str) -> Path:
    return make_notebook(
        tmp_path,
        [
            ("code", f"# nb2svc: imports\n{imports}"),
            ("code", f"# nb2svc: predict\ndef predict(x: dict) -> dict:\n{body}"),
            ("code", '# nb2svc: example\nexample = {"a": 1.0}'),
        ],
    )


@pytest.mark.parametrize(
    ("imports", "body"),
    [
        ("import numpy as np", "    return {'y': x['a'] + np.random.rand()}"),
        ("import random", "    return {'y': random.choice([1, 2])}"),
        (
            "from numpy.random import default_rng",
            "    return {'y': default_rng().random()}",
        ),
        ("import pandas as pd", "    return pd.DataFrame([x]).sample(1).to_dict()"),
    ],
)
def test_unseeded_randomness_in_exported_code(
    tmp_path: Path, imports: str, body: str
) -> None:
    assert "NB1107" in codes(_with_predict(tmp_path, imports, body))


@pytest.mark.parametrize(
    ("imports", "body"),
    [
        ("import numpy as np", "    return {'y': np.random.default_rng(0).random()}"),
        ("import numpy as np\nnp.random.seed(0)", "    return {'y': np.random.rand()}"),
        (
            "import pandas as pd",
            "    return pd.DataFrame([x]).sample(1, random_state=0)",
        ),
        ("import math", "    return {'y': math.sqrt(x['a'])}"),
    ],
)
def test_seeded_or_no_randomness_stays_quiet(
    tmp_path: Path, imports: str, body: str
) -> None:
    assert "NB1107" not in codes(_with_predict(tmp_path, imports, body))


def test_randomness_in_training_cells_is_fine(tmp_path: Path) -> None:
    path = unmarked(tmp_path, "import numpy as np", "noise = np.random.rand(10)")
    assert "NB1107" not in findings(path)


# --- NB1108 / NB1109 ------------------------------------------------------------


def test_execution_counts_out_of_order(tmp_path: Path) -> None:
    path = saved_notebook(
        tmp_path,
        [
            {"source": "a = 1", "count": 1},
            {"source": "b = a", "count": 5},
            {"source": "c = b", "count": 3},
            {"source": "d = c", "count": 4},
            {"source": "e = d", "count": None},
        ],
    )
    order = [d for d in lint_notebook(path).diagnostics if d.code == "NB1108"]
    assert [d.location.cell for d in order] == [2]
    assert "In [3]" in order[0].message and "In [5]" in order[0].message


def test_increasing_counts_with_gaps_stay_quiet(tmp_path: Path) -> None:
    path = saved_notebook(
        tmp_path,
        [{"source": "a = 1", "count": 2}, {"source": "b = 2", "count": 7}],
    )
    assert "NB1108" not in codes(path)


def test_very_large_outputs(tmp_path: Path) -> None:
    big = "x" * (lint_content.LARGE_OUTPUT_BYTES + 10)
    path = saved_notebook(
        tmp_path,
        [
            {"source": "print(big)", "count": 1, "outputs": [stream(big)]},
            {"source": "print(1)", "count": 2, "outputs": [stream("1\n")]},
        ],
    )
    large = [d for d in lint_notebook(path).diagnostics if d.code == "NB1109"]
    assert [d.location.cell for d in large] == [0]


# --- NB1111 / NB1112 / NB1199 ---------------------------------------------------


def test_cell_that_is_not_python(tmp_path: Path) -> None:
    path = unmarked(tmp_path, "print 'hello'", "%%bash\necho hi", "x = 1")
    syntax = [d for d in lint_notebook(path).diagnostics if d.code == "NB1111"]
    assert [(d.location.cell, d.location.line) for d in syntax] == [(0, 1)]


def test_notebook_in_another_language(tmp_path: Path) -> None:
    path = saved_notebook(
        tmp_path,
        [{"source": "library(ggplot2)\nx <- 1", "count": 1}],
        language="R",
    )
    assert findings(path) == ["NB1112"]
    python = saved_notebook(tmp_path, [{"source": "x = 1", "count": 1}], "py.ipynb")
    assert "NB1112" not in codes(python)


def test_a_failing_rule_becomes_a_warning_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ctx: object) -> list[object]:
        raise RuntimeError("boom")

    import nb2svc.lint as lint

    monkeypatch.setattr(lint, "_CODE_CHECKS", (broken, *lint._CODE_CHECKS[1:]))
    path = unmarked(tmp_path, f'KEY = "{FAKE_KEY}"', "!pip install x")
    found = lint_notebook(path).diagnostics
    internal = [d for d in found if d.code == "NB1199"]
    assert len(internal) == 1 and "boom" in internal[0].message
    assert {"NB1103", "NB1101"} <= {d.code for d in found}


# --- the command ----------------------------------------------------------------


def test_cli_json_strict_and_exit_codes(tmp_path: Path) -> None:
    path = unmarked(tmp_path, "!pip install x")
    code, output = run_cli("lint", path)
    assert code == ExitCode.OK
    assert "NB1101" in output and "0 error(s), 2 warning(s)" in output
    code, _ = run_cli("lint", path, "--strict")
    assert code == ExitCode.USER_ERROR
    code, output = run_cli("lint", path, "--json", "--strict")
    data = json.loads(output)
    assert data["exit_code"] == 1 and data["warnings"] == 2 and data["errors"] == 0
    first = data["diagnostics"][0]
    assert set(first) >= {"code", "severity", "file", "cell", "line", "message", "hint"}
    clean = make_notebook(tmp_path, TINY, "tiny.ipynb")
    code, output = run_cli("lint", clean, "--strict")
    assert code == ExitCode.OK and "no problems found" in output


def test_cli_not_a_notebook(tmp_path: Path) -> None:
    bad = tmp_path / "nb.ipynb"
    bad.write_text("{not json")
    code, output = run_cli("lint", bad)
    assert code == ExitCode.INPUT and "not valid JSON" in output


def test_every_rule_code_is_documented() -> None:
    assert all(code.startswith("NB11") for code in RULES)
    assert {"NB1103", "NB1104", "NB1108"} <= set(RULES)
