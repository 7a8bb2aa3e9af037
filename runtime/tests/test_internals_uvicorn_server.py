"""uvicorn internals behind ``serve``: these fail the day they change.

A stub service (no notebook) is served by ``run_cli`` in a subprocess: SIGTERM runs
the drain and exits 0; a load failing in every one of two workers exits 3.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import uvicorn.config

from nb2svc_runtime._internals import uvicorn_server

APP = """
import os, types
from nb2svc_runtime.app import create_app
from nb2svc_runtime.artifacts import Artifacts
from nb2svc_runtime.settings import ServiceSettings
from nb2svc_runtime.spec import IOSpec, ModelSpec, Schemas, ServiceInfo
from pydantic_settings import SettingsConfigDict

INFO = ServiceInfo("stubsvc", "stubsvc", "Stub", "0.1.0", "STUBSVC_", "stub.ipynb",
                   "0" * 64, "0.0.0")
ARTIFACTS = Artifacts(__import__("pathlib").Path(__file__).parent, {})

class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STUBSVC_")

def get_settings():
    return Settings()

def load_resources():
    if os.environ.get("STUBSVC_FAIL"):
        raise RuntimeError("the stub's model is missing")

pipeline = types.SimpleNamespace(
    load_resources=load_resources, score=lambda raw: raw, score_batch=lambda r: r
)
SCHEMAS = Schemas(int, int, 1, 1, lambda body: body)

def make_app():
    return create_app(INFO, get_settings(), pipeline=pipeline, schemas=SCHEMAS,
                      io=IOSpec(kind="json"), model=ModelSpec(), artifacts=ARTIFACTS)

app = make_app() if __name__ == "stubsvc.app" else None
"""
MAIN = """
from nb2svc_runtime.cli import run_cli
from stubsvc.app import ARTIFACTS, INFO, get_settings
raise SystemExit(run_cli(INFO, get_settings, ARTIFACTS))
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stub")
    (root / "stubsvc").mkdir()
    (root / "stubsvc" / "__init__.py").write_text("")
    (root / "stubsvc" / "app.py").write_text(APP)
    (root / "stubsvc" / "__main__.py").write_text(MAIN)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(root: Path, workers: int, **env: str) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stubsvc",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, port


def test_the_startup_failure_code_is_uvicorn_s() -> None:
    assert uvicorn_server.STARTUP_FAILURE == uvicorn.config.STARTUP_FAILURE == 3


def test_sigterm_drains_and_exits_0(package: Path) -> None:
    proc, port = _serve(package, 1, STUBSVC_DRAIN_SECONDS="0.2")
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            url = f"http://127.0.0.1:{port}/readyz"
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "not ready in time"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "Finished server process" in output


def test_a_load_failing_in_two_workers_exits_3(package: Path) -> None:
    proc, _ = _serve(package, 2, STUBSVC_FAIL="1")
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 3, output
    assert "RuntimeError" in output
