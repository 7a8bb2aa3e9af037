"""A Docker engine that stops answering in the middle of a build is a clear error
naming the image and showing the build's output so far, never an internal error with
a traceback. The engine here is a loopback server that answers the ping and then
breaks the build's stream, as a restarted dockerd does."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("docker")

from nb2svc.docker_build import build_image
from nb2svc.errors import Nb2svcError


def _read_request(conn: socket.socket, pending: bytes) -> tuple[bytes, bytes] | None:
    """(request line, bytes after this request) or None once the client is gone."""
    while b"\r\n\r\n" not in pending:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        pending += chunk
    head, rest = pending.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return head.split(b"\r\n", 1)[0], rest[length:]


def _answer(conn: socket.socket, body: bytes, kind: bytes) -> None:
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: "
        + kind
        + b"\r\nApi-Version: 1.41\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def _serve(sock: socket.socket) -> None:
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            pending = b""
            while (request := _read_request(conn, pending)) is not None:
                first, pending = request
                if b"/version" in first:
                    _answer(conn, b'{"ApiVersion": "1.41"}', b"application/json")
                elif b"/_ping" in first:
                    _answer(conn, b"OK", b"text/plain")
                else:  # the build: one line of output, then the engine is gone
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                    )
                    line = b'{"stream":"Step 1/9 : FROM python:3.11-slim\\n"}\r\n'
                    conn.sendall(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                    conn.sendall(b"40\r\npartial")  # a chunk cut short
                    break


@pytest.fixture
def breaking_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    thread = threading.Thread(target=_serve, args=(sock,), daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    yield
    sock.close()


def test_an_engine_that_breaks_mid_build_is_a_clear_error(
    breaking_engine: None, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    with pytest.raises(Nb2svcError) as caught:
        build_image(tmp_path, "nb2svc-test-broken:latest")
    message = str(caught.value)
    assert "the Docker engine stopped answering" in message
    assert "Step 1/9" in message  # the output so far is shown
