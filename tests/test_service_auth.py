"""Authentication fails closed, and no route redirects, under real uvicorn.

A blank API key stops start-up; serving without a key anywhere but loopback needs an
explicit ALLOW_UNAUTHENTICATED (the Docker image's 0.0.0.0 included); the monitoring
routes are behind the key unless PUBLIC_MONITORING waives it; a path with a trailing
slash is a 404, never a redirect built from the request's Host header.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service_support import (
    RunningService,
    built_service,
    env_prefix,
    free_port,
    golden_examples,
    package_of,
    service_env,
    serving,
    start,
)

pytestmark = pytest.mark.slow

SECRET = "nb2svc-auth-test-4711"
MONITORING = ("/metrics", "/metadata", "/monitoring/drift")


@pytest.fixture(scope="module")
def fraud(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_service(tmp_path_factory, "fraud_scoring")


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("ERROR")]


@pytest.mark.parametrize("key", ["", "   "], ids=["empty", "blank"])
def test_a_blank_api_key_stops_start_up(fraud: Path, tmp_path: Path, key: str) -> None:
    service = start(fraud, tmp_path / "service.log", wait=False, api_key=key)
    try:
        code = service.proc.wait(60)
    except subprocess.TimeoutExpired:
        service.stop(signal.SIGKILL)
        raise AssertionError("the service started with a blank key") from None
    log = service.log_text()
    assert code == 3, log
    prefix = env_prefix(fraud)
    assert error_lines(log) == [
        f"ERROR:    start-up stopped: invalid setting {prefix}API_KEY: Value error, "
        "is empty: set a key, or unset the variable to serve without one"
    ], log
    assert "Traceback" not in log


def test_no_api_key_off_loopback_stops_start_up(fraud: Path, tmp_path: Path) -> None:
    """What the Docker image does when run without a key: its HOST is 0.0.0.0. The
    refusal comes before the port is bound."""
    prefix = env_prefix(fraud)
    env = {**service_env(fraud), f"{prefix}HOST": "0.0.0.0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", package_of(fraud), "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: killable with its workers
    )
    try:
        output, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("the service started on 0.0.0.0 without a key") from None
    log = output.decode()
    assert proc.returncode == 3, log
    assert len(error_lines(log)) == 1, log
    assert "no API key set and 0.0.0.0:" in log
    assert f"set {prefix}API_KEY, or {prefix}ALLOW_UNAUTHENTICATED=true" in log
    assert "Traceback" not in log


def test_allow_unauthenticated_serves_off_loopback_with_a_warning(
    fraud: Path, tmp_path: Path
) -> None:
    """Checked without binding anything but loopback: the decision serve takes."""
    prefix = env_prefix(fraud)
    code = (
        "import logging, sys\n"
        "from nb2svc_runtime.cli import Service, check_authentication\n"
        f"from {package_of(fraud)}._artifacts import ARTIFACTS\n"
        f"from {package_of(fraud)}.settings import INFO, get_settings\n"
        "service = Service(INFO, get_settings, ARTIFACTS)\n"
        "logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')\n"
        "for host in ('0.0.0.0', '::', '127.0.0.1', 'localhost'):\n"
        "    print(host, check_authentication(service, host, 8000), file=sys.stderr)\n"
    )

    def run(**settings: object) -> str:
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env=service_env(fraud, **settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stderr

    allowed = run(allow_unauthenticated="true")
    assert "0.0.0.0 None" in allowed
    assert ":: None" in allowed
    assert (
        "WARNING no API key set: every route is open to anyone who can reach "
        f"0.0.0.0:8000 ({prefix}ALLOW_UNAUTHENTICATED=true)"
    ) in allowed
    refused = run()
    assert "0.0.0.0 no API key set" in refused
    assert "127.0.0.1 None" in refused
    assert "localhost None" in refused
    keyed = run(api_key=SECRET)
    assert "0.0.0.0 None" in keyed
    assert "API key required on every route but /healthz and /readyz" in keyed
    assert SECRET not in allowed + refused + keyed


def test_monitoring_is_behind_the_key_unless_waived(
    fraud: Path, tmp_path: Path
) -> None:
    example = golden_examples(fraud)[0]
    bearer = {"Authorization": f"Bearer {SECRET}"}
    with serving(fraud, tmp_path / "a.log", "--workers", "1", api_key=SECRET) as keyed:
        for path in MONITORING:
            assert httpx.get(keyed.url + path).status_code == 401, path
            assert httpx.get(keyed.url + path, headers=bearer).status_code == 200
        assert httpx.get(keyed.url + "/readyz").status_code == 200
        log = keyed.log_text()
        assert "API key required on every route but /healthz and /readyz" in log
    with serving(
        fraud,
        tmp_path / "b.log",
        "--workers",
        "1",
        api_key=SECRET,
        public_monitoring="true",
    ) as waived:
        for path in MONITORING:
            response = httpx.get(waived.url + path)
            assert response.status_code == 200, (path, response.text)
        assert httpx.get(waived.url + "/monitoring/nope").status_code == 404
        assert (
            httpx.post(waived.url + "/predict", json=example["input"]).status_code
            == 401
        )
        assert httpx.get(waived.url + "/openapi.json").status_code == 401
        ok = httpx.post(waived.url + "/predict", json=example["input"], headers=bearer)
        assert ok.status_code == 200, ok.text


def test_a_loopback_service_without_a_key_says_so(fraud: Path, tmp_path: Path) -> None:
    with serving(fraud, tmp_path / "service.log", "--workers", "1") as service:
        log = service.log_text()
    assert "no API key set: every route is open to clients on this machine" in log


@pytest.fixture(scope="module")
def plain(
    fraud: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    log = tmp_path_factory.mktemp("plain") / "service.log"
    with serving(fraud, log, "--workers", "1") as service:
        yield service


@pytest.mark.parametrize("path", ["/predict/", "/predict/batch/", "/healthz/"])
def test_a_trailing_slash_is_404_not_a_redirect(
    plain: RunningService, fraud: Path, path: str
) -> None:
    example = golden_examples(fraud)[0]
    method = "GET" if path == "/healthz/" else "POST"
    response = httpx.request(
        method,
        plain.url + path,
        json=example["input"] if method == "POST" else None,
        headers={"Host": "attacker.example"},
        follow_redirects=False,
    )
    assert response.status_code == 404, response.headers
    assert "location" not in response.headers
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["request_id"] == response.headers["x-request-id"]
    assert "attacker.example" not in response.text
