"""uvicorn internals behind DeadlineHttpProtocol: these fail the day they change.

A real uvicorn server on loopback, in a subprocess, serves a trivial ASGI app with the
protocol; raw sockets play the slow and the malformed client.
"""

from __future__ import annotations

import inspect
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from nb2svc_runtime._internals import uvicorn_protocol
from nb2svc_runtime._internals.uvicorn_protocol import (
    LIMITS_VARIABLE,
    DeadlineHttpProtocol,
    HeadLimits,
)

SERVER = """
import sys, uvicorn
from nb2svc_runtime._internals.uvicorn_protocol import DeadlineHttpProtocol

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http=DeadlineHttpProtocol,
            log_level="warning", lifespan="off")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    number = _free_port()
    script = tmp_path_factory.mktemp("server") / "server.py"
    script.write_text(SERVER)
    limits = HeadLimits(receive_timeout=0.5, max_request_line=512, max_headers=10)
    env = {"PATH": "/usr/bin:/bin", LIMITS_VARIABLE: json.dumps(limits.__dict__)}
    proc = subprocess.Popen([sys.executable, str(script), str(number)], env=env)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", number), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "no server"
            time.sleep(0.05)
    try:
        yield number
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _exchange(port: int, data: bytes, wait: float = 0.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        time.sleep(wait)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def _envelope(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    error: dict[str, object] = json.loads(body)["error"]
    return status, error


def test_a_request_is_served(port: int) -> None:
    answer = _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200") and b"\r\nok\r\n" in answer


def test_a_slow_header_gets_the_408_envelope(port: int) -> None:
    status, error = _envelope(_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n", 1.0))
    assert (status, error["code"]) == (408, "request_timeout")


def test_garbage_gets_the_400_envelope(port: int) -> None:
    status, error = _envelope(_exchange(port, b"\x16\x03\x01 not http\r\n\r\n"))
    assert status == 400 and error["code"] == "bad_request"


def test_a_long_request_line_gets_414(port: int) -> None:
    line = b"GET /" + b"a" * 1000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, _ = _envelope(_exchange(port, line))
    assert status == 414


def test_overridden_methods_keep_uvicorn_s_signatures() -> None:
    for name in (
        "connection_made",
        "connection_lost",
        "data_received",
        "on_message_begin",
        "on_url",
        "on_header",
        "on_headers_complete",
        "on_message_complete",
        "shutdown",
        "send_400_response",
    ):
        ours = inspect.signature(getattr(DeadlineHttpProtocol, name))
        theirs = inspect.signature(getattr(HttpToolsProtocol, name))
        assert list(ours.parameters) == list(theirs.parameters), name


def test_limits_default_without_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LIMITS_VARIABLE, raising=False)
    uvicorn_protocol.head_limits.cache_clear()
    try:
        assert uvicorn_protocol.head_limits() == HeadLimits()
    finally:
        uvicorn_protocol.head_limits.cache_clear()


def test_the_protocol_module_is_importable_by_path() -> None:
    """uvicorn pickles its config for spawned workers: the class must be module-level."""
    assert DeadlineHttpProtocol.__qualname__ == "DeadlineHttpProtocol"
    assert Path(inspect.getfile(DeadlineHttpProtocol)).name == "uvicorn_protocol.py"
