"""Helpers shared by the tests: tiny notebooks written inline, the CLI run in-process
or as a real subprocess, and byte-exact snapshots of folders.

Import them as ``from tests.helpers import make_notebook, run_cli``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

#: A cell: ("code" | "markdown" | "raw", source) or (kind, source, tags).
CellSpec = tuple[str, str] | tuple[str, str, Sequence[str]]

#: The smallest notebook that builds: one import, a predict function, one example.
IMPORTS_CELL: CellSpec = ("code", "# nb2svc: imports\nimport math")
PREDICT_CELL: CellSpec = (
    "code",
    '# nb2svc: predict\ndef predict(x: dict) -> dict:\n    return {"y": x["a"] * 2}',
)
EXAMPLE_CELL: CellSpec = ("code", '# nb2svc: example\nexample = {"a": 1.5}')
TINY: tuple[CellSpec, ...] = (IMPORTS_CELL, PREDICT_CELL, EXAMPLE_CELL)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_FACTORIES = {
    "code": nbformat.v4.new_code_cell,
    "markdown": nbformat.v4.new_markdown_cell,
    "raw": nbformat.v4.new_raw_cell,
}


def make_notebook(
    tmp_path: Path, cells: Sequence[CellSpec], name: str = "nb.ipynb"
) -> Path:
    """Write a valid nbformat v4 notebook; cell ids are ``cell-0``, ``cell-1``, ..."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for index, (kind, source, *tags) in enumerate(cells):
        cell = _FACTORIES[kind](source)
        cell.id = f"cell-{index}"
        if tags:
            cell.metadata["tags"] = list(tags[0])
        nb.cells.append(cell)
    nbformat.validate(nb)
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def run_cli(*args: str | Path) -> tuple[int, str]:
    """Run ``nb2svc ARGS`` in-process; returns (exit code, stdout + stderr).

    An exception that escaped the CLI (not a clean exit) is re-raised, so a crash can
    never pass for an expected non-zero exit code.
    """
    from nb2svc.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, strip_ansi(result.output)


def run_module(
    *args: str | Path, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m nb2svc ARGS`` as a real process (stdout and stderr apart)."""
    env = {k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "NO_COLOR"}}
    env["NO_COLOR"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "nb2svc", *(str(a) for a in args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    proc.stdout = strip_ansi(proc.stdout)
    proc.stderr = strip_ansi(proc.stderr)
    return proc


#: What a generated package must pass, with its own configuration (pyproject.toml):
#: ruff, black, and mypy (strict, the notebook's code in pipeline.py checked without
#: demanding annotations).
LINT_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("ruff", "check", "--no-cache", "."),
    ("black", "--check", "-q", "."),
    ("mypy",),
)


def assert_lint_clean(package: Path, cache: Path, timeout: int = 600) -> None:
    """Run ruff, black and mypy in the generated ``package`` folder, as its CI does;
    fail with the tool's output unless each passes. mypy's cache goes in ``cache``."""
    for command in LINT_COMMANDS:
        extra = ["--cache-dir", str(cache / "mypy")] if command[0] == "mypy" else []
        done = subprocess.run(
            [sys.executable, "-m", *command, *extra],
            cwd=package,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"{command[0]}: {done.stdout}{done.stderr}"


def tree_snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (relative posix path -> bytes); folders as ``"dir/"``
    -> ``b""`` so that a new empty folder shows too. Empty dict if ``path`` is absent.
    """
    if not path.exists():
        return {}
    if path.is_file():
        return {".": path.read_bytes()}
    snapshot: dict[str, bytes] = {}
    for item in sorted(path.rglob("*")):
        rel = item.relative_to(path).as_posix()
        if item.is_symlink():
            snapshot[rel + "@"] = os.readlink(item).encode()
        elif item.is_dir():
            snapshot[rel + "/"] = b""
        else:
            snapshot[rel] = item.read_bytes()
    return snapshot


def staging_leftovers(parent: Path) -> list[str]:
    """Staging folders (``.<name>.nb2svc-*``) the writer left in ``parent``."""
    if not parent.is_dir():
        return []
    return sorted(p.name for p in parent.glob(".*.nb2svc-*"))


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def render_in_chromium(html: Path, tmp_path: Path) -> tuple[bytes, str]:
    """A real headless chromium's screenshot (PNG bytes, 1200x900) of a local HTML
    page, and the DOM it built: what a reader of the page sees."""
    browser = chromium()
    url = html.resolve().as_uri()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1200,900", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return shot.read_bytes(), dom
