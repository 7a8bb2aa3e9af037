"""read_notebook: .ipynb v4 and v3, jupytext percent .py, and every way a file is not one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nb2svc.errors import ExitCode, InputError, Severity
from nb2svc.model import Cell
from nb2svc.notebook.reader import read_notebook
from tests.helpers import make_notebook

V3 = {
    "metadata": {"name": "legacy"},
    "nbformat": 3,
    "nbformat_minor": 0,
    "worksheets": [
        {
            "metadata": {},
            "cells": [
                {
                    "cell_type": "markdown",
                    "metadata": {},
                    "source": ["# Legacy model"],
                },
                {
                    "cell_type": "code",
                    "collapsed": False,
                    "input": [
                        "# nb2svc: predict\n",
                        "def predict(x):\n",
                        "    return x",
                    ],
                    "language": "python",
                    "metadata": {},
                    "outputs": [],
                    "prompt_number": 3,
                },
            ],
        }
    ],
}

PERCENT = """\
# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # Churn model

# %% tags=["nb2svc:imports"]
import math

# %%
# nb2svc: predict
def predict(x):
    return math.sqrt(x)
"""


def _error(exc: pytest.ExceptionInfo[InputError]) -> str:
    (diagnostic,) = exc.value.diagnostics
    assert diagnostic.severity is Severity.ERROR
    assert exc.value.exit_code == ExitCode.INPUT
    return str(diagnostic)


def test_v4_cells_ids_tags_and_sources(tmp_path: Path) -> None:
    path = make_notebook(
        tmp_path,
        [
            ("markdown", "# Title"),
            ("code", "import math\nx = 1", ["nb2svc:imports", "hide-input"]),
            ("raw", "raw text"),
        ],
        "model.ipynb",
    )
    nb, diagnostics = read_notebook(path)
    assert diagnostics == []
    assert nb.name == "model.ipynb"
    assert nb.nbformat == 4
    assert nb.cells == (
        Cell(0, "cell-0", "markdown", "# Title"),
        Cell(
            1, "cell-1", "code", "import math\nx = 1", ("nb2svc:imports", "hide-input")
        ),
        Cell(2, "cell-2", "raw", "raw text"),
    )


def test_v4_source_stored_as_a_list_of_lines(tmp_path: Path) -> None:
    path = make_notebook(tmp_path, [("code", "a = 1\nb = 2\n")])
    data = json.loads(path.read_text())
    data["cells"][0]["source"] = ["a = 1\n", "b = 2\n"]
    path.write_text(json.dumps(data))
    nb, _ = read_notebook(path)
    assert nb.cells[0].source == "a = 1\nb = 2\n"


def test_messages_name_the_file_not_its_path(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "model.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text("{")
    with pytest.raises(InputError) as exc:
        read_notebook(path)
    assert _error(exc).startswith("model.ipynb: ")
    assert str(tmp_path) not in _error(exc)


def test_v3_is_upgraded_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "legacy.ipynb"
    path.write_text(json.dumps(V3, indent=1))
    nb, diagnostics = read_notebook(path)
    assert [(d.severity, d.code) for d in diagnostics] == [(Severity.WARNING, "NB002")]
    assert "v3" in diagnostics[0].message and "legacy.ipynb" in str(diagnostics[0])
    assert nb.nbformat == 3
    assert [(c.cell_type, c.source) for c in nb.cells] == [
        ("markdown", "# Legacy model"),
        ("code", "# nb2svc: predict\ndef predict(x):\n    return x"),
    ]
    assert nb.cells[1].execution_count == 3


def test_invented_cell_ids_are_not_kept(tmp_path: Path) -> None:
    """Upgrading v3 and reading jupytext invent random ids; they would make every
    message and every build different (and --check report drift forever)."""
    legacy = tmp_path / "legacy.ipynb"
    legacy.write_text(json.dumps(V3))
    percent = tmp_path / "churn.py"
    percent.write_text(PERCENT)
    for path in (legacy, percent):
        first, _ = read_notebook(path)
        second, _ = read_notebook(path)
        assert first == second
        assert {c.cell_id for c in first.cells} == {None}


def test_v4_without_ids_reads_without_inventing_them(tmp_path: Path) -> None:
    path = make_notebook(tmp_path, [("code", "x = 1")])
    data = json.loads(path.read_text())
    data["nbformat_minor"] = 4
    del data["cells"][0]["id"]
    path.write_text(json.dumps(data))
    nb, diagnostics = read_notebook(path)
    assert nb.cells[0].cell_id is None
    assert diagnostics == []


def test_jupytext_percent_py(tmp_path: Path) -> None:
    path = tmp_path / "churn.py"
    path.write_text(PERCENT)
    nb, diagnostics = read_notebook(path)
    assert diagnostics == []
    assert nb.name == "churn.py"
    assert [(c.cell_type, c.source, c.tags) for c in nb.cells] == [
        ("markdown", "# Churn model", ()),
        ("code", "import math", ("nb2svc:imports",)),
        ("code", "# nb2svc: predict\ndef predict(x):\n    return math.sqrt(x)", ()),
    ]


def test_plain_py_is_not_a_notebook(tmp_path: Path) -> None:
    path = tmp_path / "script.py"
    path.write_text("print('hello')\n")
    with pytest.raises(InputError) as exc:
        read_notebook(path)
    text = _error(exc)
    assert text.startswith("script.py: ")
    assert "'# %%'" in text


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = make_notebook(tmp_path, [("code", "x = 1")], "broken.ipynb")
    lines = path.read_text().splitlines()
    lines[4] = lines[4] + ",,"  # a stray comma pair on line 5
    path.write_text("\n".join(lines))
    with pytest.raises(InputError) as exc:
        read_notebook(path)
    (diagnostic,) = exc.value.diagnostics
    assert diagnostic.location.line == 5
    assert _error(exc).startswith("broken.ipynb: line 5: ")
    assert "not valid JSON" in diagnostic.message


def test_truncated_file_names_the_last_line(tmp_path: Path) -> None:
    path = make_notebook(tmp_path, [("code", "x = 1")], "cut.ipynb")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(InputError) as exc:
        read_notebook(path)
    (diagnostic,) = exc.value.diagnostics
    assert diagnostic.location.line == text[: len(text) // 2].count("\n") + 1


@pytest.mark.parametrize(
    "text", ["[1, 2, 3]", '{"name": "churn"}', '"cells"', "null", "{}"]
)
def test_valid_json_but_not_a_notebook(tmp_path: Path, text: str) -> None:
    path = tmp_path / "data.ipynb"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        read_notebook(path)
    assert "not a Jupyter notebook" in _error(exc)
    assert _error(exc).startswith("data.ipynb: ")


def test_notebook_shaped_json_that_nbformat_rejects(tmp_path: Path) -> None:
    path = tmp_path / "odd.ipynb"
    path.write_text(json.dumps({"cells": [], "nbformat": 99, "nbformat_minor": 0}))
    with pytest.raises(InputError) as exc:
        read_notebook(path)
    assert _error(exc).startswith("odd.ipynb: ")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        read_notebook(tmp_path / "gone.ipynb")
    assert "gone.ipynb" in _error(exc) and "no such file" in _error(exc)
    folder = tmp_path / "folder.ipynb"
    folder.mkdir()
    with pytest.raises(InputError) as exc:
        read_notebook(folder)
    assert "is a directory" in _error(exc)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.ipynb"
    path.write_bytes('{"cells": [], "x": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(InputError) as exc:
        read_notebook(path)
    assert "UTF-8" in _error(exc)


def test_schema_problems_are_a_warning_not_an_error(tmp_path: Path) -> None:
    path = make_notebook(tmp_path, [("code", "x = 1")])
    data = json.loads(path.read_text())
    data["cells"][0]["unexpected_key"] = True
    path.write_text(json.dumps(data))
    nb, diagnostics = read_notebook(path)
    assert [(d.severity, d.code) for d in diagnostics] == [(Severity.WARNING, "NB003")]
    assert nb.cells[0].source == "x = 1"
