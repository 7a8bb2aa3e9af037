"""The README's pre-commit and GitHub Actions recipes work as written.

Each recipe is read from README.md ("Regeneration in CI and review") and run against a
project with a notebook and its committed service. The placeholders are the only
changes: the git URL becomes this checkout and the release tag its HEAD commit (the tag
exists once released; a SHA is what the README says to use until then). Both must pass
on a fresh service and fail once the notebook changes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nb2svc.errors import ExitCode
from tests.conftest import REPO, layered_venv
from tests.helpers import TINY, make_notebook, run_cli

pytestmark = pytest.mark.slow

GIT_URL = "<nb2svc git URL>"
TAG = "v0.1.0"
BINDIR = Path(sys.executable).parent


def recipe(marker: str) -> str:
    """The YAML block of the README's CI section that contains ``marker``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Regeneration in CI and review\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    (block,) = [
        b for b in re.findall(r"```yaml\n(.*?)```", section, re.S) if marker in b
    ]
    return block


def head() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def project(root: Path) -> Path:
    """A notebook in notebooks/ and its service, built here, in services/."""
    root.mkdir()
    notebook = make_notebook(root / "notebooks", TINY, "scoring.ipynb")
    code, output = run_cli("build", notebook, "-o", root / "services" / "scoring")
    assert code == 0, output
    return notebook


def change(notebook: Path) -> None:
    text = notebook.read_text()
    assert "1.5" in text
    notebook.write_text(text.replace("1.5", "4.0"))


def test_the_pre_commit_recipe(tmp_path: Path) -> None:
    if shutil.which("pre-commit", path=str(BINDIR)) is None:
        pytest.skip("pre-commit is not installed (it is in the dev extra)")
    config = recipe("- id: nb2svc-check")
    assert config.count(GIT_URL) == 1 and config.count(f"rev: {TAG}\n") == 1, config
    repo = tmp_path / "project"
    notebook = project(repo)
    (repo / ".pre-commit-config.yaml").write_text(
        config.replace(GIT_URL, str(REPO)).replace(f"rev: {TAG}\n", f"rev: {head()}\n")
    )
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "notebook and its service")
    env = {
        **os.environ,
        # language: system runs the nb2svc on PATH: this environment's.
        "PATH": str(BINDIR) + os.pathsep + os.environ.get("PATH", ""),
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
    }
    command = [str(BINDIR / "pre-commit"), "run", "--all-files"]

    fresh = subprocess.run(command, cwd=repo, capture_output=True, text=True, env=env)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "nb2svc check" in fresh.stdout and "Passed" in fresh.stdout

    change(notebook)
    git(repo, "commit", "-qam", "the notebook changes, its service does not")
    stale = subprocess.run(command, cwd=repo, capture_output=True, text=True, env=env)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "Failed" in stale.stdout and "out of date" in stale.stdout


def test_the_github_actions_recipe(tmp_path: Path) -> None:
    """The recipe's `run:` steps, in a fresh venv layered on this environment (the
    notebook's packages and nb2svc's dependencies are there, as after setup-python
    and pip), offline: pip builds nb2svc from this checkout with the build backend
    installed here instead of fetching one."""
    steps = [
        line.split("run:", 1)[1].strip()
        for line in recipe("actions/setup-python").splitlines()
        if line.lstrip("- ").startswith("run:")
    ]
    assert len(steps) == 2, steps
    install, check = steps
    spec = f"git+{GIT_URL}@{TAG}"
    assert install.count(spec) == 1, install
    install = install.replace(spec, f"git+file://{REPO}@{head()}")

    python = layered_venv(tmp_path / "venv")
    bindir = python.parent
    shim = bindir / "pip"  # as setup-python provides it; the venv borrows pip too
    shim.write_text(f'#!/bin/sh\nexec "{python}" -m pip "$@"\n')
    shim.chmod(0o755)
    root = tmp_path / "project"
    notebook = project(root)
    (root / "requirements-notebook.txt").write_text(
        "# the notebook needs only the standard library\n"
    )
    env = {
        **os.environ,
        "PATH": str(bindir) + os.pathsep + os.environ.get("PATH", ""),
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip's spelling of --no-build-isolation
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }

    def run(step: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-eo", "pipefail", "-c", step],
            cwd=root,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )

    installed = run(install)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (bindir / "nb2svc").is_file()  # the recipe's nb2svc, not this environment's
    assert shutil.which("nb2svc", path=env["PATH"]) == str(bindir / "nb2svc")

    fresh = run(check)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    report = json.loads((root / "nb2svc-check.json").read_text())

    change(notebook)
    stale = run(check)
    assert stale.returncode == ExitCode.DRIFT, stale.stdout + stale.stderr
    assert json.loads((root / "nb2svc-check.json").read_text()) != report
