"""`nb2svc build` on bad input: a message naming file, cell and line, the documented exit
code, and nothing left behind — no output folder, no staging folder, and a pre-existing
output folder byte-for-byte as it was.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from nb2svc.errors import ExitCode
from tests.helpers import (
    EXAMPLE_CELL,
    IMPORTS_CELL,
    PREDICT_CELL,
    TINY,
    CellSpec,
    make_notebook,
    run_cli,
    run_module,
    staging_leftovers,
    tree_snapshot,
)

NAME = "churn_model.ipynb"  # distinctive, so "names the file" means something
PACKAGE = "churn_model"


@dataclass(frozen=True)
class Built:
    notebook: Path
    out: Path
    snapshot: dict[str, bytes]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One successful build of the tiny notebook, shared (read-only) by the module."""
    folder = tmp_path_factory.mktemp("good")
    notebook = make_notebook(folder, TINY, NAME)
    out = folder / "out"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == ExitCode.OK, output
    assert (out / "nb2svc.json").is_file()
    return Built(notebook, out, tree_snapshot(out))


def copy_built(built: Built, folder: Path, cells: tuple[CellSpec, ...] = TINY) -> Path:
    """A private copy of the good output, next to a notebook of the same name.

    Unchanged exported cells hit the capture cache, so rebuilding needs no kernel.
    """
    make_notebook(folder, cells, NAME)
    out = folder / "out"
    shutil.copytree(built.out, out)
    return out


# --- bad notebooks ---------------------------------------------------------------------


def _write_text(text: str) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / NAME
        path.write_text(text, encoding="utf-8")
        return path

    return write


def _cells(*cells: CellSpec) -> Callable[[Path], Path]:
    return lambda folder: make_notebook(folder, cells, NAME)


HIDDEN_STATE = (
    IMPORTS_CELL,
    ("code", "FACTOR = 3"),
    (
        "code",
        "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
        '    return {"y": x["a"] * FACTOR}',
    ),
    EXAMPLE_CELL,
)

BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], ExitCode, list[str]]] = {
    "not-json": (
        _write_text('{\n "cells": [\n  {"cell_type": "code",,}\n ]\n}\n'),
        ExitCode.INPUT,
        ["line 3", "not valid JSON"],
    ),
    "json-not-notebook": (
        _write_text('{"name": "churn", "rows": [1, 2, 3]}\n'),
        ExitCode.INPUT,
        ["not a Jupyter notebook"],
    ),
    "no-predict": (
        _cells(IMPORTS_CELL, EXAMPLE_CELL),
        ExitCode.USER_ERROR,
        ["no cell is marked 'predict'"],
    ),
    "unknown-role-tag": (
        _cells(
            IMPORTS_CELL,
            ("code", "def predict(x):\n    return x", ["nb2svc:predcit"]),
            EXAMPLE_CELL,
        ),
        ExitCode.USER_ERROR,
        ["cell 2", "unknown nb2svc role 'predcit'", "did you mean 'predict'"],
    ),
    "unknown-role-directive": (
        _cells(
            IMPORTS_CELL,
            ("code", "\n# nb2svc: predicts\ndef predict(x):\n    return x"),
            EXAMPLE_CELL,
        ),
        ExitCode.USER_ERROR,
        ["cell 2", "line 2", "'predicts'", "did you mean 'predict'"],
    ),
    "role-on-markdown": (
        _cells(IMPORTS_CELL, ("markdown", "# Model", ["nb2svc:load"]), *TINY[1:]),
        ExitCode.USER_ERROR,
        ["cell 2", "role 'load' on a markdown cell"],
    ),
    "hidden-state": (
        _cells(*HIDDEN_STATE),
        ExitCode.USER_ERROR,
        ["cell 3", "line 3", "'FACTOR'", "unmarked cell 2"],
    ),
    "shell-escape": (
        _cells(
            (
                "code",
                '# nb2svc: imports\nimport math\n!pip install "scikit-learn[alldeps]"',
            ),
            *TINY[1:],
        ),
        ExitCode.USER_ERROR,
        ["cell 1", "line 3", "shell escape", '!pip install "scikit-learn[alldeps]"'],
    ),
    "magic": (
        _cells(
            IMPORTS_CELL,
            (
                "code",
                "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
                '    return {"y": x["a"]}\n%time predict({"a": 1})',
            ),
            EXAMPLE_CELL,
        ),
        ExitCode.USER_ERROR,
        ["cell 2", "line 4", "IPython magic", "%time"],
    ),
    "config-not-literal": (
        _cells(("code", "# nb2svc: config\nBASE = 2\nFACTOR = BASE * 2"), *TINY),
        ExitCode.USER_ERROR,
        ["cell 1", "line 3", "config cells may only assign literals"],
    ),
}


def _assert_failed_cleanly(
    code: int,
    output: str,
    expected_code: ExitCode,
    expected: list[str],
    out: Path,
    before: dict[str, bytes],
) -> None:
    assert code == expected_code, output
    assert NAME in output
    for text in expected:
        assert text in output, f"{text!r} not in:\n{output}"
    assert tree_snapshot(out) == before
    assert staging_leftovers(out.parent) == []


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_and_writes_nothing(tmp_path: Path, case: str) -> None:
    write, expected_code, expected = BAD_INPUTS[case]
    notebook = write(tmp_path)
    out = tmp_path / "build" / "out"

    code, output = run_cli("build", notebook, "-o", out)

    _assert_failed_cleanly(code, output, expected_code, expected, out, {})
    assert not out.parent.exists()  # not even the parent of --out was created


@pytest.mark.parametrize("case", ["not-json", "hidden-state", "shell-escape"])
def test_bad_input_leaves_existing_output_byte_identical(
    tmp_path: Path, built: Built, case: str
) -> None:
    write, expected_code, expected = BAD_INPUTS[case]
    out = copy_built(built, tmp_path)
    notebook = write(tmp_path)  # replaces the good notebook: same name, same package
    before = tree_snapshot(out)
    assert before == built.snapshot

    code, output = run_cli("build", notebook, "-o", out)

    _assert_failed_cleanly(code, output, expected_code, expected, out, before)


def test_every_problem_is_reported_in_one_run(tmp_path: Path) -> None:
    notebook = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport math\n!ls"),
            ("code", "x = 1", ["nb2svc:lod"]),
            *HIDDEN_STATE[1:],
        ],
        NAME,
    )
    code, output = run_cli("build", notebook, "-o", tmp_path / "out")
    assert code == ExitCode.USER_ERROR
    assert "shell escape" in output
    assert "did you mean 'load'" in output
    assert "'FACTOR'" in output


def test_missing_notebook_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = run_cli("build", tmp_path / NAME, "-o", out)
    _assert_failed_cleanly(code, output, ExitCode.INPUT, ["no such file"], out, {})


def test_declared_artifact_that_does_not_exist(tmp_path: Path) -> None:
    notebook = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport json"),
            (
                "code",
                "# nb2svc: load artifacts=weights.json\n"
                "with open('weights.json') as fh:\n    WEIGHTS = json.load(fh)",
            ),
            (
                "code",
                "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
                '    return {"y": x["a"] * WEIGHTS["a"]}',
            ),
            EXAMPLE_CELL,
        ],
        NAME,
    )
    out = tmp_path / "out"

    code, output = run_cli("build", notebook, "-o", out)

    _assert_failed_cleanly(
        code,
        output,
        ExitCode.USER_ERROR,
        ["cell 2", "line 1", "declared artifact 'weights.json' does not exist"],
        out,
        {},
    )
    assert not (tmp_path / "weights.json").exists()


def test_declared_artifact_the_notebook_creates_is_fine(tmp_path: Path) -> None:
    """The counterpart: the whole notebook runs and its training cell saves the file."""
    notebook = make_notebook(
        tmp_path,
        [
            ("code", "# nb2svc: imports\nimport json"),
            (
                "code",
                "with open('weights.json', 'w') as fh:\n    json.dump({'a': 4}, fh)",
            ),
            (
                "code",
                "with open('weights.json') as fh:\n    WEIGHTS = json.load(fh)",
                ["nb2svc:load", "nb2svc:artifact=weights.json"],
            ),
            (
                "code",
                "# nb2svc: predict\ndef predict(x: dict) -> dict:\n"
                '    return {"y": x["a"] * WEIGHTS["a"]}',
            ),
            EXAMPLE_CELL,
        ],
        NAME,
    )
    out = tmp_path / "out"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == ExitCode.OK, output
    assert (out / "src" / PACKAGE / "artifacts" / "weights.json").read_bytes() == (
        tmp_path / "weights.json"
    ).read_bytes()
    golden = json.loads((out / "tests/golden/examples.json").read_text())
    assert golden["examples"] == [{"input": {"a": 1.5}, "output": {"y": 6.0}}]


# --- the notebook itself fails ---------------------------------------------------------


def test_failing_unmarked_cell_names_cell_and_line(
    tmp_path: Path, built: Built
) -> None:
    notebook = make_notebook(
        tmp_path,
        [
            IMPORTS_CELL,
            ("code", "scale = 2\n1 / 0\n"),  # training code the example depends on
            PREDICT_CELL,
            ("code", '# nb2svc: example\nexample = {"a": 1.5 * scale}'),
        ],
        NAME,
    )
    out = tmp_path / "out"
    shutil.copytree(built.out, out)
    before = tree_snapshot(out)

    code, output = run_cli("build", notebook, "-o", out)

    _assert_failed_cleanly(
        code,
        output,
        ExitCode.NOTEBOOK_FAILED,
        ["cell 2", "line 2", "ZeroDivisionError"],
        out,
        before,
    )


def test_failing_exported_cell_names_cell_and_line(tmp_path: Path) -> None:
    notebook = make_notebook(
        tmp_path,
        [
            IMPORTS_CELL,
            (
                "code",
                "# nb2svc: load\nMODEL = None\nraise RuntimeError('no model yet')",
            ),
            PREDICT_CELL,
            EXAMPLE_CELL,
        ],
        NAME,
    )
    out = tmp_path / "out"
    code, output = run_cli("build", notebook, "-o", out)
    _assert_failed_cleanly(
        code,
        output,
        ExitCode.NOTEBOOK_FAILED,
        ["cell 2", "line 3", "RuntimeError", "no model yet"],
        out,
        {},
    )


# --- output that cannot be written -----------------------------------------------------


def test_output_under_a_regular_file(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, TINY, NAME)
    blocker = tmp_path / "somefile"
    blocker.write_bytes(b"not a folder\n")
    out = blocker / "out"

    code, output = run_cli("build", notebook, "-o", out)

    assert code == ExitCode.OUTPUT, output
    assert str(out) in output
    assert f"{blocker} is not a directory" in output
    assert blocker.read_bytes() == b"not a folder\n"
    assert staging_leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME, "somefile"]


def test_output_is_a_regular_file(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, TINY, NAME)
    out = tmp_path / "out"
    out.write_bytes(b"keep me\n")

    code, output = run_cli("build", notebook, "-o", out)

    assert code == ExitCode.OUTPUT, output
    assert f"{out}: error" in output and "not a directory" in output
    assert out.read_bytes() == b"keep me\n"
    assert staging_leftovers(tmp_path) == []


def test_non_empty_foreign_directory_needs_force(tmp_path: Path, built: Built) -> None:
    notebook = make_notebook(tmp_path, TINY, NAME)
    out = tmp_path / "project"
    (out / "src").mkdir(parents=True)
    (out / "src" / "main.py").write_text("print('mine')\n")
    (out / "README.md").write_text("my project\n")
    before = tree_snapshot(out)

    code, output = run_cli("build", notebook, "-o", out)

    assert code == ExitCode.OUTPUT, output
    assert "not generated by nb2svc" in output and "--force" in output
    assert str(out) in output
    assert tree_snapshot(out) == before
    assert staging_leftovers(tmp_path) == []

    code, output = run_cli("build", notebook, "-o", out, "--force")

    assert code == ExitCode.OK, output
    after = tree_snapshot(out)
    assert after["src/main.py"] == b"print('mine')\n"  # unknown to nb2svc: kept
    assert after["README.md"] == built.snapshot["README.md"]  # generated: overwritten
    assert {k: v for k, v in after.items() if k != "src/main.py"} == built.snapshot


def test_output_problems_are_found_before_the_notebook_runs(tmp_path: Path) -> None:
    """The notebook below would fail in the kernel; the output check comes first."""
    notebook = make_notebook(
        tmp_path,
        [
            IMPORTS_CELL,
            ("code", "scale = 2\n1 / 0\n"),
            PREDICT_CELL,
            ("code", '# nb2svc: example\nexample = {"a": 1.5 * scale}'),
        ],
        NAME,
    )
    (tmp_path / "somefile").write_text("")
    code, output = run_cli("build", notebook, "-o", tmp_path / "somefile" / "out")
    assert code == ExitCode.OUTPUT, output
    assert "ZeroDivisionError" not in output


def test_new_output_folder_gets_ordinary_permissions(
    tmp_path: Path, built: Built
) -> None:
    """Not the private 0700 of the staging folder it was renamed from."""
    sibling = tmp_path / "plain"
    sibling.mkdir()
    assert built.out.stat().st_mode & 0o777 == sibling.stat().st_mode & 0o777


def test_write_failure_after_staging_cleans_up(tmp_path: Path, built: Built) -> None:
    """A folder where a generated file belongs: the move fails, the staging goes."""
    out = copy_built(built, tmp_path)
    (out / "Dockerfile").unlink()
    (out / "Dockerfile").mkdir()
    (out / "Dockerfile" / "keep.txt").write_text("x")
    before = tree_snapshot(out)

    code, output = run_cli("build", tmp_path / NAME, "-o", out)

    assert code == ExitCode.OUTPUT, output
    assert "cannot write the output" in output
    assert tree_snapshot(out) == before
    assert staging_leftovers(tmp_path) == []


# --- rebuilding: hand edits, unknown files, --check ------------------------------------


def test_hand_edit_is_refused_and_force_overwrites(
    tmp_path: Path, built: Built
) -> None:
    out = copy_built(built, tmp_path)
    pipeline = out / "src" / PACKAGE / "pipeline.py"
    pipeline.write_bytes(pipeline.read_bytes() + b"\nTWEAK = 1\n")
    before = tree_snapshot(out)

    code, output = run_cli("build", tmp_path / NAME, "-o", out)

    assert code == ExitCode.HAND_EDITED, output
    assert f"src/{PACKAGE}/pipeline.py" in output
    assert "edited by hand" in output and "--force" in output
    assert tree_snapshot(out) == before
    assert staging_leftovers(tmp_path) == []

    code, output = run_cli("build", tmp_path / NAME, "-o", out, "--force")

    assert code == ExitCode.OK, output
    assert "captured by running the notebook" not in output  # the cache was used
    assert tree_snapshot(out) == built.snapshot


MOVED = (("markdown", "# Churn model\nA new first cell."), *TINY)


def test_rebuild_keeps_files_unknown_to_the_manifest(
    tmp_path: Path, built: Built
) -> None:
    out = copy_built(built, tmp_path, MOVED)  # cells moved: provenance lines change
    mine = {
        "NOTES.md": b"my notes\n",
        f"src/{PACKAGE}/extension.py": b"EXTRA = 1\n",
        ".venv/pyvenv.cfg": b"home = /usr\n",
    }
    for rel, content in mine.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(content)

    code, output = run_cli("build", tmp_path / NAME, "-o", out)

    assert code == ExitCode.OK, output
    after = tree_snapshot(out)
    for rel, content in mine.items():
        assert after[rel] == content
    pipeline = f"src/{PACKAGE}/pipeline.py"
    assert after[pipeline] != built.snapshot[pipeline]
    assert f"generated from {NAME} cell 3" in after[pipeline].decode()


def test_check_is_quiet_when_fresh(tmp_path: Path, built: Built) -> None:
    out = copy_built(built, tmp_path)

    code, output = run_cli("build", tmp_path / NAME, "-o", out, "--check")

    assert code == ExitCode.OK, output
    assert "up to date" in output
    assert tree_snapshot(out) == built.snapshot


def test_check_reports_drift_with_a_diff_and_writes_nothing(
    tmp_path: Path, built: Built
) -> None:
    out = copy_built(built, tmp_path, MOVED)

    code, output = run_cli("build", tmp_path / NAME, "-o", out, "--check")

    assert code == ExitCode.DRIFT, output
    assert f"src/{PACKAGE}/pipeline.py" in output
    assert f"--- a/src/{PACKAGE}/pipeline.py" in output
    assert f"-# --- predict: generated from {NAME} cell 2" in output
    assert f"+# --- predict: generated from {NAME} cell 3" in output
    assert "would change" in output
    assert tree_snapshot(out) == built.snapshot
    assert staging_leftovers(tmp_path) == []


# --- a real process ---------------------------------------------------------------------


def test_subprocess_exit_code_and_message_for_bad_input(tmp_path: Path) -> None:
    write, expected_code, expected = BAD_INPUTS["not-json"]
    notebook = write(tmp_path)
    out = tmp_path / "out"

    proc = run_module("build", notebook, "-o", out, cwd=tmp_path)

    assert proc.returncode == expected_code == 3, proc.stderr
    assert NAME in proc.stderr
    assert all(text in proc.stderr for text in expected), proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME]


def test_subprocess_hand_edit_and_check(tmp_path: Path, built: Built) -> None:
    out = copy_built(built, tmp_path)

    proc = run_module("build", NAME, "-o", "out", "--check", cwd=tmp_path)
    assert proc.returncode == ExitCode.OK, proc.stderr

    (out / "README.md").write_text("edited\n")
    proc = run_module("build", NAME, "-o", "out", cwd=tmp_path)
    assert proc.returncode == ExitCode.HAND_EDITED == 10, proc.stderr
    assert "README.md" in proc.stderr
