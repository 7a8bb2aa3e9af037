"""A real ``mlflow server`` on loopback (sqlite store, local artifact root in a temp
folder) and the fraud example registered in it twice: as bundled (version 1, alias
``champion``) and retrained with other hyper-parameters (version 2, ``challenger``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLES
from tests.helpers import run_module
from tests.service_support import free_port

START_SECONDS = 180.0


@dataclass(frozen=True)
class Registry:
    url: str
    artifacts: Path  # the server's artifact root


@dataclass(frozen=True)
class Registered:
    registry: Registry
    champion: Path  # the bundled notebook's service (version 1)
    challenger: Path  # the variant's service (version 2)
    name: str


def mlflow_server(root: Path) -> Iterator[Registry]:
    port = free_port()
    artifacts = root / "artifacts"
    log = root / "mlflow.log"
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(artifacts),
        "--workers",
        "1",
    ]
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            command,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if proc.poll() is not None:
                raise AssertionError("mlflow server exited:\n" + log.read_text())
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("mlflow server did not start:\n" + log.read_text())
            time.sleep(0.5)
        yield Registry(url, artifacts)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def variant_notebook(folder: Path) -> Path:
    """The fraud notebook with a retrained model: other hyper-parameters, same
    artifacts, same service."""
    source = EXAMPLES / "fraud_scoring.ipynb"
    nb = json.loads(source.read_text(encoding="utf-8"))
    changed = 0
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if "max_iter=200, learning_rate=0.05" in text:
            cell["source"] = text.replace(
                "max_iter=200, learning_rate=0.05", "max_iter=40, learning_rate=0.2"
            )
            changed += 1
    assert changed == 1, "the fraud notebook's training cell changed; update the test"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "fraud_scoring.ipynb"
    target.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return target


def build_and_register(notebook: Path, out: Path, registry: Registry, name: str) -> str:
    result = run_module(
        "build",
        notebook,
        "--out",
        out,
        "--register",
        "--registry",
        registry.url,
        "--registered-name",
        name,
        cwd=notebook.parent,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def register_both(root: Path, registry: Registry) -> Registered:
    from mlflow import MlflowClient

    name = "fraud"
    bundled = root / "bundled"
    bundled.mkdir()
    shutil.copy(EXAMPLES / "fraud_scoring.ipynb", bundled)
    champion = root / "champion" / "fraud_scoring"
    out1 = build_and_register(bundled / "fraud_scoring.ipynb", champion, registry, name)
    assert f"registered: models:/{name}/1 in {registry.url}" in out1, out1
    challenger = root / "challenger" / "fraud_scoring"
    variant = variant_notebook(root / "variant")
    out2 = build_and_register(variant, challenger, registry, name)
    assert f"registered: models:/{name}/2 in {registry.url}" in out2, out2
    client = MlflowClient(tracking_uri=registry.url, registry_uri=registry.url)
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "challenger", "2")
    return Registered(registry, champion, challenger, name)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    yield from mlflow_server(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture(scope="session")
def registered(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry
) -> Registered:
    return register_both(tmp_path_factory.mktemp("registered"), registry)
