"""``nb2svc verify --image``: the parity check against the service's real container.

The bundled scikit-learn example (fraud scoring) verifies in its image. A LightGBM
notebook verifies in its image because the image gets the system's OpenMP
(libgomp1); with the system-library step taken away (the package map emptied of
libgomp), the same verify fails with the missing library named. Needs a Docker engine,
found (or brought up) as tests/test_docker.py does.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from nb2svc import syslibs
from tests.helpers import make_notebook, run_cli
from tests.test_docker import engine as engine  # the module-scoped fixture
from tests.test_syslibs import LIGHTGBM_NOTEBOOK

pytestmark = [
    pytest.mark.slow,
    pytest.mark.docker,
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]


def images(engine: Any) -> set[str]:
    return {tag for image in engine.images.list() for tag in image.tags}


def test_verify_image_runs_the_parity_check_against_the_container(
    engine: Any, tmp_path: Path
) -> None:
    notebook = make_notebook(tmp_path, LIGHTGBM_NOTEBOOK, "gbm.ipynb")
    tag = f"nb2svc-verify-gbm:{uuid.uuid4().hex[:12]}"
    code, output = run_cli("verify", notebook, "-o", tmp_path / "gbm", "--image", tag)
    assert code == 0, output
    assert "match" in output.lower()
    assert tag not in images(engine)  # removed afterwards


def test_the_scikit_learn_example_verifies_in_its_image(
    engine: Any, tmp_path: Path
) -> None:
    examples = Path(__file__).resolve().parents[1] / "examples" / "notebooks"
    notebook = tmp_path / "fraud_scoring.ipynb"
    shutil.copy(examples / notebook.name, notebook)
    tag = f"nb2svc-verify-fraud:{uuid.uuid4().hex[:12]}"
    code, output = run_cli("verify", notebook, "-o", tmp_path / "fraud", "--image", tag)
    assert code == 0, output
    assert "5/5 examples" in output
    assert tag not in images(engine)


def test_verify_image_fails_without_the_system_library(
    engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(syslibs.DEBIAN_PACKAGES, "libgomp.so.1")
    notebook = make_notebook(tmp_path, LIGHTGBM_NOTEBOOK, "gbm.ipynb")
    tag = f"nb2svc-verify-gbm:{uuid.uuid4().hex[:12]}"
    code, output = run_cli("verify", notebook, "-o", tmp_path / "gbm", "--image", tag)
    assert code == 8, output
    assert "libgomp.so.1" in output
    assert "exited with code" in output


def test_verify_image_refuses_what_is_not_a_tag(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, LIGHTGBM_NOTEBOOK, "gbm.ipynb")
    code, output = run_cli("verify", notebook, "--image", "x;y")
    assert code == 2
    assert "not an image tag" in output
