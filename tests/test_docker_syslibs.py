"""A LightGBM service's real image: its wheel loads the system's OpenMP (libgomp.so.1),
which the python:X.Y-slim base lacks. The generated Dockerfile installs libgomp1, so the
container loads the model and answers; the same image without that step cannot.

Needs a Docker engine, found (or brought up) as tests/test_docker.py does.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import make_notebook, run_cli
from tests.service_support import free_port, golden_examples, package_of
from tests.test_docker import close
from tests.test_docker import engine as engine  # the module-scoped fixture
from tests.test_syslibs import LIGHTGBM_NOTEBOOK

pytestmark = [
    pytest.mark.slow,
    pytest.mark.docker,
    # docker-py leaves sockets of its Unix-socket pool to the garbage collector
    # (docker/docker-py#1293, #3268), as in tests/test_docker.py.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gbm")
    notebook = make_notebook(folder, LIGHTGBM_NOTEBOOK, "gbm.ipynb")
    out = folder / "gbm"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == 0, output
    return out


@contextlib.contextmanager
def image(engine: Any, context: Path) -> Iterator[str]:
    from nb2svc.docker_build import build_image

    tag = f"nb2svc-test-gbm:{uuid.uuid4().hex[:12]}"
    try:
        build_image(context, tag)
        yield tag
    finally:
        with contextlib.suppress(Exception):
            engine.images.remove(tag, force=True)
        with contextlib.suppress(Exception):
            engine.images.prune(filters={"dangling": True})


def test_the_lightgbm_image_loads_its_model_and_answers(
    engine: Any, service: Path
) -> None:
    package = package_of(service)
    with image(engine, service) as tag:
        port = free_port()
        container = engine.containers.run(
            tag,
            detach=True,
            network_mode="host",
            environment={
                f"{package.upper()}_HOST": "127.0.0.1",
                "PORT": str(port),
                f"{package.upper()}_WORKERS": "1",
            },
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                container.reload()
                assert container.status in ("created", "running"), container.logs()
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                assert time.monotonic() < deadline, container.logs().decode()[-3000:]
                time.sleep(0.2)
            for example in golden_examples(service):
                response = httpx.post(
                    f"{base}/predict", json=example["input"], timeout=30
                )
                assert response.status_code == 200, response.text
                assert close(example["output"], response.json())
        finally:
            container.remove(force=True)


def test_without_the_system_library_step_the_image_cannot_load_lightgbm(
    engine: Any, service: Path, tmp_path: Path
) -> None:
    """What the apt-get step fixes: the same image without it fails to import."""
    import shutil

    copy = tmp_path / "gbm"
    shutil.copytree(service, copy)
    dockerfile = (copy / "Dockerfile").read_text()
    start = dockerfile.index("RUN apt-get update")
    end = dockerfile.index("rm -rf /var/lib/apt/lists/*\n", start)
    stripped = (
        dockerfile[:start] + dockerfile[end + len("rm -rf /var/lib/apt/lists/*\n") :]
    )
    assert "libgomp1" not in stripped
    (copy / "Dockerfile").write_text(stripped)
    with image(engine, copy) as tag:
        container = engine.containers.run(
            tag, ["python", "-c", "import lightgbm"], detach=True
        )
        try:
            status = container.wait(timeout=120)["StatusCode"]
            logs = container.logs().decode()
        finally:
            container.remove(force=True)
        assert status != 0
        assert "libgomp.so.1" in logs
