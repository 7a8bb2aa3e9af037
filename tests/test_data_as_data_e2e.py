"""Data is written as data, end to end: real kernel, real ``nb2svc build``, the
generated service on uvicorn. A CSV header holding Python code and a column name
holding triple quotes and a line break; notebooks named after standard modules."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from nb2svc.templates import service_template
from tests.data_as_data_support import SENTINEL
from tests.helpers import (
    TINY,
    assert_lint_clean,
    make_notebook,
    run_module,
    tree_snapshot,
)
from tests.service_support import golden_examples, package_of, serving

pytestmark = pytest.mark.slow

INJECTED = f"\"+__import__('os').system('touch {SENTINEL}')*0*\""
TRIPLE = 'amount"""\nusd'
#: "amount" with a Cyrillic o (U+043E): an escape in the package, nothing to flag.
HOMOGLYPH = "am\u043eunt"
LABEL = 'x"""\n\\'

CELLS = [
    ("code", "# nb2svc: imports\nimport pandas as pd"),
    ("code", f"# nb2svc: config\nLABEL = {LABEL!r}"),
    (
        "code",
        "# nb2svc: predict\n"
        "def predict(df: pd.DataFrame) -> list:\n"
        "    return [f'{LABEL}{c}={v}' for c, v in zip(df.columns, df.iloc[:, 0])]",
    ),
    ("code", "# nb2svc: example\nexample = pd.read_csv('data.csv').head(1)"),
]


def _sentinels(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob(SENTINEL)]


def test_a_hostile_csv_header_builds_a_safe_service(tmp_path: Path) -> None:
    folder = tmp_path / "nb"
    folder.mkdir()
    columns = [INJECTED, TRIPLE, "a b", "a_b", HOMOGLYPH]
    pd.DataFrame(
        dict(zip(columns, [[1, 2], [2.5, 3.5], [1, 1], [2, 2], [3, 3]], strict=True))
    ).to_csv(folder / "data.csv", index=False)
    notebook = make_notebook(folder, CELLS, name="hostile.ipynb")
    out = tmp_path / "out"
    proc = run_module("build", notebook, "--out", out, cwd=folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Every generated file parses; the package imports without running the header.
    for path in out.rglob("*"):
        if path.suffix == ".py":
            ast.parse(path.read_text(encoding="utf-8"))
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text(encoding="utf-8"))
        elif path.suffix in {".yml", ".yaml"}:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
    package = package_of(out)
    imported = subprocess.run(
        [sys.executable, "-c", f"import {package}.app, {package}.schemas"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(out / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert _sentinels(tmp_path) == []
    # Lint-clean, formatted and typed, hostile names and all.
    assert_lint_clean(out, tmp_path)
    assert _sentinels(tmp_path) == []
    # The service takes the original column names and the pipeline sees them.
    (example,) = golden_examples(out)
    assert list(example["input"][0]) == columns
    logs = tmp_path / "logs"
    logs.mkdir()
    with serving(out, logs / "service.log") as service:
        response = httpx.post(
            f"{service.url}/predict", json=example["input"], timeout=30, trust_env=False
        )
    assert response.status_code == 200, response.text
    assert response.json() == example["output"]
    assert response.json()[0] == f"{LABEL}{INJECTED}=1"
    assert _sentinels(tmp_path) == []


@pytest.mark.parametrize("stem", ["json", "typing"])
def test_a_notebook_named_after_a_standard_module_builds_and_serves(
    tmp_path: Path, stem: str
) -> None:
    notebook = make_notebook(tmp_path, TINY, name=f"{stem}.ipynb")
    out = tmp_path / "out"
    proc = run_module("build", notebook, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert package_of(out) == f"{stem}_service"
    logs = tmp_path / "logs"
    logs.mkdir()
    with serving(out, logs / "service.log") as service:
        response = httpx.post(
            f"{service.url}/predict", json={"a": 1.5}, timeout=30, trust_env=False
        )
    assert response.status_code == 200, response.text
    assert response.json() == {"y": 3.0}


def test_a_generated_file_that_does_not_parse_writes_nothing(tmp_path: Path) -> None:
    """Parse before write: a template that renders broken Python and broken TOML
    stops the build with exit 70, naming each file and line, and writes nothing."""
    template = tmp_path / "template"
    shutil.copytree(service_template(), template)
    schemas = template / "src" / "{{ service.package }}" / "schemas.py.jinja"
    schemas.write_text(schemas.read_text() + "\ndef broken(:\n")
    pyproject = template / "pyproject.toml.jinja"
    pyproject.write_text(pyproject.read_text() + '\nkey = "unterminated\n')
    notebook = make_notebook(tmp_path, TINY, name="tiny.ipynb")
    out = tmp_path / "out"
    proc = run_module(
        "build", notebook, "--out", out, "--template", template, cwd=tmp_path
    )
    assert proc.returncode == 70, proc.stdout + proc.stderr
    assert tree_snapshot(out) == {}
    message = " ".join(proc.stderr.split())
    assert "src/tiny/schemas.py: line" in message
    assert "pyproject.toml: line" in message
    assert message.count("NB802") == 2
    assert "does not parse" in message and "nothing was written" in message
    assert "fix the template" in message
