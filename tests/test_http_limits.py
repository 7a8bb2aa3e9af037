"""Request heads are bounded while they arrive, under real uvicorn on loopback.

The request line, the headers' bytes and their number have limits (414 and 431 in
the service's error envelope, then the connection is closed after the client's bytes
are drained, so it reads the answer rather than a reset), and a worker never holds
more than that per connection: many clients sending endless headers leave its memory
where it was. These tests also pin the uvicorn/httptools internals `_http.py` relies
on: they fail the day its protocol subclass stops being called as it expects.
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service_support import (
    RunningService,
    body_of,
    built_service,
    golden_examples,
    serving,
    status_of,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

ATTACKERS = 100
ATTACK_BYTES = 4 * 2**20  # per connection: an unfinished header of 4 MiB
MAX_GROWTH = 50 * 2**20  # bytes of resident memory the worker may gain meanwhile


@pytest.fixture(scope="module")
def fraud(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_service(tmp_path_factory, "fraud_scoring")


@pytest.fixture(scope="module")
def service(
    fraud: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    """The fraud service with default limits, one worker (the process serving)."""
    log = tmp_path_factory.mktemp("limits") / "service.log"
    with serving(fraud, log, "--workers", "1") as running:
        yield running


def exchange(port: int, data: bytes) -> bytes:
    """Send everything (the server reads and drops what follows a refusal), then read
    until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def head(path: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def assert_refused(answer: bytes, status: int, code: str) -> str:
    assert answer, "the connection was reset or closed without an answer"
    assert status_of(answer) == status, answer[:300]
    head_text = answer.partition(b"\r\n\r\n")[0].decode().lower()
    assert "content-type: application/json" in head_text
    assert "connection: close" in head_text
    error = body_of(answer)["error"]
    assert error["code"] == code
    assert f"x-request-id: {error['request_id']}" in head_text
    message: str = error["message"]
    return message


def test_a_one_megabyte_header_is_431(service: RunningService) -> None:
    answer = exchange(service.port, head("/healthz", [("X-Big", "a" * 2**20)]))
    message = assert_refused(answer, 431, "headers_too_large")
    assert "larger than 65536 bytes" in message


def test_ten_thousand_headers_are_431(service: RunningService) -> None:
    many = [(f"X-Field-{i}", "1") for i in range(10_000)]
    answer = exchange(service.port, head("/healthz", many))
    message = assert_refused(answer, 431, "headers_too_large")
    assert "more than 100 header fields" in message


def test_a_long_request_line_is_414(service: RunningService) -> None:
    answer = exchange(service.port, head("/healthz?q=" + "a" * 100_000, []))
    message = assert_refused(answer, 414, "uri_too_long")
    assert "longer than 8192 bytes" in message


def test_heads_within_the_limits_are_served(service: RunningService) -> None:
    """98 headers of 600 bytes (60 KB in all) and a request line of 8000 bytes."""
    headers = [(f"X-Field-{i}", "v" * 600) for i in range(98)]
    answer = exchange(
        service.port,
        head("/healthz?q=" + "a" * 7960, [*headers, ("Connection", "close")]),
    )
    assert status_of(answer) == 200, answer[:300]
    # a kept-alive connection: the limits count each request afresh
    with httpx.Client(base_url=service.url, trust_env=False) as client:
        for _ in range(3):
            big = {f"X-Field-{i}": "v" * 600 for i in range(90)}
            assert client.get("/healthz", headers=big).status_code == 200


def resident(pid: int, field: str = "VmRSS") -> int:
    """A field of /proc/<pid>/status, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def test_endless_headers_from_many_clients_leave_memory_bounded(
    service: RunningService, fraud: Path
) -> None:
    """100 connections each send 4 MiB of one header that never ends, all at once:
    the worker's resident memory grows by less than 50 MB meanwhile (httptools would
    keep every byte), and it answers a normal request afterwards."""
    pid = service.proc.pid  # one worker: the process itself serves
    example = golden_examples(fraud)[0]
    assert (
        httpx.post(service.url + "/predict", json=example["input"]).status_code == 200
    )
    baseline = resident(pid)
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, resident(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    selector = selectors.DefaultSelector()
    start = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: "
    chunk = b"a" * 65536
    sent: dict[socket.socket, int] = {}
    try:
        for _ in range(ATTACKERS):
            sock = socket.create_connection(("127.0.0.1", service.port), timeout=10)
            sock.sendall(start)
            sock.setblocking(False)
            sent[sock] = 0
            selector.register(sock, selectors.EVENT_WRITE)
        deadline = time.monotonic() + 60
        active = set(sent)
        while active and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    sent[sock] += sock.send(chunk)
                except BlockingIOError:
                    continue
                except OSError:  # closed by the server after its answer: done
                    sent[sock] = ATTACK_BYTES
                if sent[sock] >= ATTACK_BYTES:
                    selector.unregister(sock)
                    active.discard(sock)
        assert not active, f"{len(active)} connections still sending after 60 s"
        time.sleep(0.2)
        peak = max(peak, resident(pid), resident(pid, "VmHWM"))
    finally:
        done.set()
        sampler.join()
        selector.close()
        for sock in sent:
            sock.close()
    growth = peak - baseline
    print(f"resident memory grew by {growth / 2**20:.1f} MiB")
    assert growth < MAX_GROWTH, f"the worker grew by {growth / 2**20:.0f} MiB"
    response = httpx.post(service.url + "/predict", json=example["input"], timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == example["output"]
    log = service.log_text()
    assert "request head refused: headers_too_large (431)" in log
    assert json.dumps(example["input"])[:20] not in log
