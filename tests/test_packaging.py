"""nb2svc's own wheel: it carries the templates and builds an example from anywhere."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, layered_venv, pip_install

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
    )
    (found,) = dist.glob("nb2svc-*.whl")
    return found


def test_wheel_ships_the_templates(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "nb2svc/templates/service/Dockerfile.jinja" in names
    assert (
        "nb2svc/templates/service/src/{{ service.package }}/pipeline.py.jinja" in names
    )
    assert "nb2svc/cli.py" in names
    # The code nb2svc runs in the notebook's kernel is read from these files.
    for name in ("examples", "capture", "main_refs", "dump"):
        assert f"nb2svc/capture/kernel_code/{name}.py" in names


def test_installed_wheel_builds_an_example(
    wheel: Path, examples_copy: Path, tmp_path: Path
) -> None:
    python = layered_venv(tmp_path / "venv")
    pip_install(python, "--no-deps", str(wheel))
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import nb2svc.templates as t; print(t.bundled_templates())",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert where.startswith(str(tmp_path / "venv")), where
    out = tmp_path / "svc"
    result = subprocess.run(
        [
            str(python),
            "-m",
            "nb2svc",
            "build",
            str(examples_copy / "diabetes_progression.ipynb"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "src/diabetes_progression/app.py").is_file()
    assert (out / "src/diabetes_progression/artifacts/diabetes_model.joblib").is_file()
