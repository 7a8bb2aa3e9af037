"""tests.helpers.assert_lint_clean, which the end-to-end tests run on every generated
package, fails on what each of ruff, black and mypy refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import assert_lint_clean

PYPROJECT = """\
[project]
name = "tiny"
version = "0"

[tool.ruff.lint]
select = ["E", "F", "I"]

[tool.mypy]
strict = true
files = ["tiny.py"]
"""
CLEAN = "def twice(x: int) -> int:\n    return 2 * x\n"


def _package(tmp_path: Path, code: str) -> Path:
    package = tmp_path / "tiny"
    package.mkdir()
    (package / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (package / "tiny.py").write_text(code, encoding="utf-8")
    return package


def test_a_clean_package_passes(tmp_path: Path) -> None:
    assert_lint_clean(_package(tmp_path, CLEAN), tmp_path)


@pytest.mark.parametrize(
    ("tool", "code"),
    [
        ("ruff", "import os\n\n\n" + CLEAN),
        ("black", CLEAN.replace("2 * x", "2*x")),
        ("mypy", CLEAN.replace("return 2 * x", 'return "2" * x')),
    ],
)
def test_each_tool_can_fail_it(tmp_path: Path, tool: str, code: str) -> None:
    with pytest.raises(AssertionError, match=f"^{tool}: "):
        assert_lint_clean(_package(tmp_path, code), tmp_path)
