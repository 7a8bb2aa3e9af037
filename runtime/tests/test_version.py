"""check_version: a generated package runs only on a runtime that serves it the same way."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import nb2svc_runtime
from nb2svc_runtime import RuntimeVersionError, check_version

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_a_release_with_a_changelog_entry() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", nb2svc_runtime.__version__)
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {nb2svc_runtime.__version__}" in changelog


def test_the_version_has_one_source() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" in project["project"]["dynamic"]
    assert (
        project["tool"]["hatch"]["version"]["path"] == "src/nb2svc_runtime/__init__.py"
    )


@pytest.mark.parametrize(
    ("installed", "generated_against"),
    [("0.1.0", "0.1.0"), ("0.1.3", "0.1.0"), ("1.4.0", "1.2.5"), ("2.0.1", "2.0.1")],
)
def test_compatible_runtimes_are_accepted(
    monkeypatch: pytest.MonkeyPatch, installed: str, generated_against: str
) -> None:
    monkeypatch.setattr(nb2svc_runtime, "__version__", installed)
    check_version(generated_against, "fraud_scoring")


@pytest.mark.parametrize(
    ("installed", "generated_against"),
    [
        ("0.1.0", "0.1.1"),  # older than generated against
        ("0.2.0", "0.1.0"),  # a 0.x minor may break
        ("1.1.0", "1.2.0"),
        ("2.0.0", "1.9.9"),  # another major
        ("1.0.0", "0.9.0"),
    ],
)
def test_incompatible_runtimes_are_refused_naming_the_wheel(
    monkeypatch: pytest.MonkeyPatch, installed: str, generated_against: str
) -> None:
    monkeypatch.setattr(nb2svc_runtime, "__version__", installed)
    with pytest.raises(RuntimeVersionError) as caught:
        check_version(generated_against, "fraud_scoring")
    message = str(caught.value)
    assert f"generated against nb2svc-runtime {generated_against}" in message
    assert f"nb2svc_runtime-{generated_against}-py3-none-any.whl" in message


def test_a_version_that_is_not_a_release_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a release version"):
        check_version("0.1.0rc1", "fraud_scoring")


def test_the_runtime_imports_nothing_of_the_builder() -> None:
    import subprocess
    import sys

    code = (
        "import sys, nb2svc_runtime\n"
        "bad = sorted(m for m in ('nb2svc', 'typer', 'jinja2', 'nbformat', 'rich')"
        " if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
