"""Files the service reads: exported code may open only declared artifacts, and a
declared artifact must be a regular file inside the notebook's folder (symlinks
followed). Each refusal names the file, the cell and the line; nothing is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nb2svc.lint import lint_notebook
from tests.helpers import IMPORTS_CELL, TINY, CellSpec, make_notebook, run_cli

PREDICT: CellSpec = (
    "code",
    "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
    "    return {'y': x['a'] * SCALE}",
)
EXAMPLE: CellSpec = ("code", "# nb2svc: example\nexample = {'a': 1.5}")


def notebook_with_load(folder: Path, load: str) -> Path:
    cells: tuple[CellSpec, ...] = (IMPORTS_CELL, ("code", load), PREDICT, EXAMPLE)
    return make_notebook(folder, cells)


def refused(notebook: Path, out: Path) -> str:
    code, output = run_cli("build", notebook, "--out", out)
    assert code == 1, output
    assert not out.exists()  # nothing written, the notebook never ran
    return " ".join(output.split())


def test_load_code_opening_an_absolute_path_is_refused(tmp_path: Path) -> None:
    notebook = notebook_with_load(
        tmp_path / "nb",
        "# nb2svc: load\nwith open('/etc/hostname') as fh:\n    SCALE = len(fh.read())",
    )
    text = refused(notebook, tmp_path / "out")
    assert (
        "nb.ipynb: cell 2 (id=cell-1): line 2: error NB1105 absolute path "
        "'/etc/hostname'" in text
    )


def test_load_code_leaving_the_notebooks_folder_is_refused(tmp_path: Path) -> None:
    notebook = notebook_with_load(
        tmp_path / "nb",
        "# nb2svc: load\nimport json\n"
        "SCALE = json.load(open('../shared/scale.json'))",
    )
    text = refused(notebook, tmp_path / "out")
    assert (
        "cell 2 (id=cell-1): line 3: error NB1106 path '../shared/scale.json'" in text
    )


def test_an_undeclared_relative_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "nb"
    notebook = notebook_with_load(
        folder,
        "# nb2svc: load\nimport json\n\n"
        "with open('scale.json') as fh:\n    SCALE = json.load(fh)",
    )
    (folder / "scale.json").write_text("2")
    text = refused(notebook, tmp_path / "out")
    assert (
        "cell 2 (id=cell-1): line 4: error NB1114 exported code opens 'scale.json', "
        "which is not declared as an artifact" in text
    )
    # lint says the same, in one implementation
    codes = [d.code for d in lint_notebook(notebook).errors]
    assert "NB1114" in codes


@pytest.mark.slow
def test_a_declared_relative_file_builds(tmp_path: Path) -> None:
    folder = tmp_path / "nb"
    notebook = notebook_with_load(
        folder,
        "# nb2svc: load artifacts=scale.json\nimport json\n\n"
        "with open('scale.json') as fh:\n    SCALE = json.load(fh)",
    )
    (folder / "scale.json").write_text("2")
    code, output = run_cli("build", notebook, "--out", tmp_path / "out")
    assert code == 0, output
    assert (tmp_path / "out/src/nb/artifacts/scale.json").read_text() == "2"


def artifact_notebook(folder: Path) -> Path:
    return notebook_with_load(
        folder,
        "# nb2svc: load artifacts=scale.json\nimport json\n\n"
        "with open('scale.json') as fh:\n    SCALE = json.load(fh)",
    )


def test_an_artifact_symlinked_outside_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "host-secret.json"
    outside.parent.mkdir()
    outside.write_text("3")
    notebook = artifact_notebook(tmp_path / "nb")
    (tmp_path / "nb" / "scale.json").symlink_to(outside)
    text = refused(notebook, tmp_path / "out")
    assert (
        "nb.ipynb: cell 2 (id=cell-1): line 1: error NB404 declared artifact "
        "'scale.json' resolves to a file outside the notebook's folder" in text
    )


def test_an_artifact_symlinked_inside_the_folder_is_followed(tmp_path: Path) -> None:
    notebook = artifact_notebook(tmp_path / "nb")
    (tmp_path / "nb" / "models").mkdir()
    (tmp_path / "nb" / "models" / "scale-v2.json").write_text("2")
    (tmp_path / "nb" / "scale.json").symlink_to(Path("models") / "scale-v2.json")
    code, output = run_cli("build", notebook, "--out", tmp_path / "out")
    assert code == 0, output
    packaged = tmp_path / "out/src/nb/artifacts/scale.json"
    assert not packaged.is_symlink() and packaged.read_text() == "2"


@pytest.mark.parametrize("kind", ["directory", "fifo", "dangling"])
def test_an_artifact_that_is_no_regular_file_is_refused(
    tmp_path: Path, kind: str
) -> None:
    notebook = artifact_notebook(tmp_path / "nb")
    target = tmp_path / "nb" / "scale.json"
    if kind == "directory":
        target.mkdir()
        expected = "is a directory"
    elif kind == "fifo":
        os.mkfifo(target)  # reading it would hang the build
        expected = "is not a regular file"
    else:
        target.symlink_to(tmp_path / "nb" / "gone.json")
        expected = "is a symlink to nothing"
    text = refused(notebook, tmp_path / "out")
    assert (
        f"cell 2 (id=cell-1): line 1: error NB404 declared artifact 'scale.json' "
        f"{expected}" in text
    )


def test_bundled_style_load_code_is_not_flagged(tmp_path: Path) -> None:
    """Strings that are no file the code opens stay quiet: names, formats, columns."""
    notebook = make_notebook(
        tmp_path,
        (
            *TINY[:1],
            (
                "code",
                "# nb2svc: load\nFORMAT = 'v1.json'\nNAMES = {'a': 'x.y'}\n"
                "SCALE = len(str.upper('model.joblib'))",
            ),
            PREDICT,
            EXAMPLE,
        ),
    )
    assert [d.code for d in lint_notebook(notebook).errors] == []
