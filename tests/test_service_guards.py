"""The generated service's guards and lifecycle, under real uvicorn on loopback.

Body size (declared and chunked), the body deadline, nesting, non-finite numbers, rows,
timeouts, overload, API keys, the error contract in responses and logs, readiness
during start-up and drain, artifact checks before loading, and exit codes.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import re
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service_support import (
    RunningService,
    body_of,
    built_service,
    golden_examples,
    raw_request,
    serving,
    start,
    status_of,
    wait_ready,
)

pytestmark = pytest.mark.slow

SECRET = "nb2svc-secret-4711"
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def fraud(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_service(tmp_path_factory, "fraud_scoring")


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_service(tmp_path_factory, "slow_service")


@pytest.fixture(scope="module")
def guarded(
    fraud: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    """The fraud service with small limits, so that tests can reach them cheaply."""
    log = tmp_path_factory.mktemp("guarded") / "service.log"
    with serving(
        fraud,
        log,
        "--workers",
        "1",
        max_body_bytes=4096,
        receive_timeout=1,
        max_batch_rows=3,
        max_json_depth=8,
    ) as service:
        yield service


@pytest.fixture(scope="module")
def sleepy(
    slow: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    """The slow service: answers take as long as the request asks."""
    log = tmp_path_factory.mktemp("sleepy") / "service.log"
    with serving(
        slow,
        log,
        "--workers",
        "1",
        threads=4,
        request_timeout=1,
        max_concurrency=3,
    ) as service:
        yield service


def post(
    service: RunningService, path: str, value: Any, **kwargs: Any
) -> httpx.Response:
    return httpx.post(
        service.url + path,
        content=json.dumps(value).encode(),
        headers={**JSON_HEADERS, **kwargs.pop("headers", {})},
        timeout=kwargs.pop("timeout", 30),
        **kwargs,
    )


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def request_bytes(
    port: int, path: str, headers: dict[str, str], body: bytes = b""
) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# --- bounds -------------------------------------------------------------------------------


def test_declared_oversize_body_is_refused_before_it_is_sent(
    guarded: RunningService,
) -> None:
    """A Content-Length over the limit is answered at once: nothing is read or kept."""
    data = request_bytes(
        guarded.port,
        "/predict",
        {"Content-Type": "application/json", "Content-Length": str(50 * 2**20)},
        b"[",
    )
    began = time.monotonic()
    response = raw_request(guarded.port, data)
    assert time.monotonic() - began < 5
    assert status_of(response) == 413, response
    assert body_of(response)["error"]["code"] == "payload_too_large"
    assert b"connection: close" in response.lower()


def test_chunked_oversize_body_is_413(guarded: RunningService) -> None:
    chunk = b" " * 1000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(6))
    data = request_bytes(
        guarded.port,
        "/predict",
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        body + b"0\r\n\r\n",
    )
    response = raw_request(guarded.port, data)
    assert status_of(response) == 413, response
    assert body_of(response)["error"]["code"] == "payload_too_large"


def test_chunked_body_under_the_limit_is_served(
    guarded: RunningService, fraud: Path
) -> None:
    example = golden_examples(fraud)[0]
    payload = json.dumps(example["input"]).encode()
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (payload[:7], payload[7:]))
    data = request_bytes(
        guarded.port,
        "/predict",
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        body + b"0\r\n\r\n",
    )
    response = raw_request(guarded.port, data)
    assert status_of(response) == 200, response
    assert body_of(response) == example["output"]


def test_slow_client_gets_408_and_holds_nothing(
    guarded: RunningService, fraud: Path
) -> None:
    """A client that stops sending its body is cut off; others are served meanwhile."""
    example = golden_examples(fraud)[0]
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as slow:
        slow.sendall(
            request_bytes(
                guarded.port,
                "/predict",
                {"Content-Type": "application/json", "Content-Length": "500"},
                b'[{"amount": ',
            )
        )
        began = time.monotonic()
        fast = post(guarded, "/predict", example["input"])  # while the slow one stalls
        assert fast.status_code == 200, fast.text
        assert time.monotonic() - began < 1.0
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = slow.recv(65536)
            if not chunk:
                break
            answer += chunk
        waited = time.monotonic() - began
    assert status_of(answer) == 408, answer
    assert body_of(answer)["error"]["code"] == "request_timeout"
    assert 0.5 < waited < 5


def _read_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _header(response: bytes, name: bytes) -> bytes:
    head = response.partition(b"\r\n\r\n")[0].lower()
    return next(line.split(b": ", 1)[1] for line in head.split(b"\r\n")[1:]
                if line.startswith(name + b":"))  # fmt: skip


def test_slow_headers_get_408_and_silent_connections_are_closed(
    guarded: RunningService, fraud: Path
) -> None:
    """Headers have a deadline too (uvicorn sets none): a client trickling them is cut
    off with a 408, on a new connection and on a kept-alive one; a connection that
    sends nothing is closed; others are served meanwhile."""
    example = golden_examples(fraud)[0]
    body = json.dumps(example["input"]).encode()
    address = ("127.0.0.1", guarded.port)
    partial = f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{guarded.port}\r\nX-Trick"
    with (
        socket.create_connection(address, timeout=10) as silent,
        socket.create_connection(address, timeout=10) as slow,
        socket.create_connection(address, timeout=10) as kept,
    ):
        slow.sendall(partial.encode())
        kept.sendall(
            request_bytes(
                guarded.port,
                "/predict",
                {"Content-Type": "application/json", "Content-Length": str(len(body))},
                body,
            )
        )
        first = kept.recv(65536)
        assert status_of(first) == 200, first
        kept.sendall(partial.encode())  # the next request on that connection stalls
        began = time.monotonic()
        fast = post(guarded, "/predict", example["input"])  # while two stall
        assert fast.status_code == 200, fast.text
        answers = [_read_closed(slow), _read_closed(kept)]
        waited = time.monotonic() - began
        assert _read_closed(silent) == b"", "a silent connection is closed, unanswered"
    for answer in answers:
        assert status_of(answer) == 408, answer
        assert _header(answer, b"content-type") == b"application/json"
        error = body_of(answer)["error"]
        assert error["code"] == "request_timeout"
        assert error["request_id"].encode() == _header(answer, b"x-request-id")
    assert waited < 5
    assert "request headers not received within 1 s" in guarded.log_text()


def test_malformed_http_gets_the_json_envelope(guarded: RunningService) -> None:
    answer = raw_request(guarded.port, b"NOT HTTP AT ALL\r\n\r\n")
    assert status_of(answer) == 400, answer
    error = body_of(answer)["error"]
    assert error["code"] == "bad_request"
    assert error["request_id"].encode() == _header(answer, b"x-request-id")


def test_deep_nesting_is_422(guarded: RunningService) -> None:
    response = httpx.post(
        guarded.url + "/predict/batch",
        content=b"[" * 9 + b"]" * 9,
        headers=JSON_HEADERS,
    )
    error = assert_envelope(response, 422, "invalid_request")
    assert "nests deeper than 8" in error["message"]
    # brackets inside strings do not count
    within = '[[{"merchant_category": "' + "[" * 50 + '"}]]'
    error = assert_envelope(
        httpx.post(
            guarded.url + "/predict/batch", content=within, headers=JSON_HEADERS
        ),
        422,
        "invalid_request",
    )
    assert "nests deeper" not in error["message"]  # refused by the schema instead


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_number_is_422_naming_the_field(
    guarded: RunningService, fraud: Path, literal: str
) -> None:
    row = dict(golden_examples(fraud)[0]["input"][0])
    row["amount"] = 123.25
    body = json.dumps([row]).replace("123.25", literal)
    error = assert_envelope(
        httpx.post(guarded.url + "/predict", content=body, headers=JSON_HEADERS),
        422,
        "invalid_request",
    )
    assert error["details"] == [
        {
            "loc": ["body", 0, "amount"],
            "msg": "Input should be a finite number",
            "type": "finite_number",
        }
    ]


def test_too_many_rows_is_413(guarded: RunningService, fraud: Path) -> None:
    rows = [row for example in golden_examples(fraud) for row in example["input"]]
    assert len(rows) > 3
    assert_envelope(post(guarded, "/predict", rows), 413, "too_many_rows")
    batch = [[row] for row in rows]
    assert_envelope(post(guarded, "/predict/batch", batch), 413, "too_many_rows")
    assert post(guarded, "/predict/batch", batch[:3]).status_code == 200


def test_timeout_is_504_and_the_service_stays_up(sleepy: RunningService) -> None:
    began = time.monotonic()
    response = post(sleepy, "/predict", {"seconds": 3, "secret": "x"})
    assert_envelope(response, 504, "timeout")
    assert time.monotonic() - began < 2.5
    quick = post(sleepy, "/predict", {"seconds": 0, "secret": "x"})
    assert quick.status_code == 200, quick.text


def test_overload_is_503_with_retry_after(sleepy: RunningService) -> None:
    """Over MAX_CONCURRENCY (3) requests in progress: 503 at once; probes still answer."""

    def call(_: int) -> httpx.Response:
        return post(sleepy, "/predict", {"seconds": 0.8, "secret": "x"})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(call, i) for i in range(8)]
        time.sleep(0.3)
        assert httpx.get(sleepy.url + "/healthz").status_code == 200
        responses = [f.result(timeout=30) for f in futures]
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 3, statuses
    overloaded = [r for r in responses if r.status_code == 503]
    assert overloaded, statuses
    for response in overloaded:
        assert_envelope(response, 503, "overloaded")
        assert response.headers["retry-after"] == "1"
    assert set(statuses) <= {200, 503}


# --- the error contract -----------------------------------------------------------------


def test_failure_in_notebook_code_leaks_nothing(sleepy: RunningService) -> None:
    response = post(
        sleepy,
        f"/predict?token={SECRET}",
        {"seconds": -1, "secret": SECRET},
        headers={"X-Request-ID": "trace-me-42"},
    )
    error = assert_envelope(response, 500, "prediction_failed")
    assert error["request_id"] == "trace-me-42"
    assert SECRET not in response.text
    time.sleep(0.2)
    log = sleepy.log_text()
    assert "prediction failed: ValueError (request_id=trace-me-42)" in log
    assert SECRET not in log  # neither the exception's message nor the query string
    assert "Traceback" not in log
    assert "/slow_service/" not in log  # no file paths


def test_request_id_is_honoured_or_made(guarded: RunningService) -> None:
    given = httpx.get(guarded.url + "/nope", headers={"X-Request-ID": "abc.DEF-1"})
    assert_envelope(given, 404, "not_found")
    assert given.headers["x-request-id"] == "abc.DEF-1"
    bad = httpx.get(guarded.url + "/healthz", headers={"X-Request-ID": "a b<c>"})
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])


def test_api_key_guards_everything_but_the_probes(fraud: Path, tmp_path: Path) -> None:
    example = golden_examples(fraud)[0]
    with serving(fraud, tmp_path / "log", "--workers", "1", api_key=SECRET) as service:
        assert_envelope(
            post(service, "/predict", example["input"]), 401, "unauthorized"
        )
        assert_envelope(
            post(
                service,
                "/predict",
                example["input"],
                headers={"Authorization": "Bearer wrong"},
            ),
            401,
            "unauthorized",
        )
        assert httpx.get(service.url + "/openapi.json").status_code == 401
        for header in ({"Authorization": f"Bearer {SECRET}"}, {"X-API-Key": SECRET}):
            ok = post(service, "/predict", example["input"], headers=header)
            assert ok.status_code == 200, ok.text
        assert httpx.get(service.url + "/healthz").status_code == 200
        assert httpx.get(service.url + "/readyz").status_code == 200
        assert SECRET not in service.log_text()


# --- lifecycle ------------------------------------------------------------------------------


def test_readyz_is_503_while_loading_and_healthz_answers(
    slow: Path, tmp_path: Path
) -> None:
    service = start(
        slow, tmp_path / "log", "--workers", "1", wait=False, load_seconds=2
    )
    try:
        seen: set[tuple[int, int]] = set()
        refused = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert service.proc.poll() is None, service.log_text()
            try:
                health = httpx.get(service.url + "/healthz", timeout=1)
                ready = httpx.get(service.url + "/readyz", timeout=1)
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            seen.add((health.status_code, ready.status_code))
            if ready.status_code == 200:
                break
            assert ready.json() == {"status": "starting"}
            early = post(service, "/predict", {"seconds": 0, "secret": "x"})
            if early.status_code != 200:  # unless loading finished in between
                assert_envelope(early, 503, "not_ready")
                refused += 1
            time.sleep(0.1)
        assert (200, 503) in seen
        assert (200, 200) in seen
        assert refused
    finally:
        assert service.stop() == 0, service.log_text()


def test_readyz_waits_for_every_worker(slow: Path, tmp_path: Path) -> None:
    """Workers share the port: once /readyz says ready, no request may reach a
    worker still loading its model (here one loads 3 s longer than the other)."""
    service = start(slow, tmp_path / "log", "--workers", "2", load_seconds_odd_pid=3)

    def predict(_: int) -> int:
        return post(service, "/predict", {"seconds": 0, "secret": "x"}).status_code

    try:
        log = service.log_text()
        assert "starting 2 workers" in log
        assert log.count("model loaded; ready in") == 2, log
        assert len(list(tmp_path.glob("nb2svc-ready-*"))) == 1
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            assert list(pool.map(predict, range(40))) == [200] * 40
    finally:
        assert service.stop() == 0, service.log_text()
    assert list(tmp_path.glob("nb2svc-ready-*")) == []  # removed at exit


def _copy(out: Path, target: Path) -> tuple[Path, Path]:
    copy = target / out.name
    shutil.copytree(out, copy)
    artifact = next((copy / "src").glob("*/artifacts/*.joblib"))
    return copy, artifact


@pytest.mark.parametrize("damage", ["tampered", "missing"])
def test_bad_artifact_stops_start_up_with_one_clear_line(
    fraud: Path, tmp_path: Path, damage: str
) -> None:
    copy, artifact = _copy(fraud, tmp_path)
    expected = hashlib.sha256(artifact.read_bytes()).hexdigest()
    if damage == "tampered":
        artifact.write_bytes(artifact.read_bytes() + b"\0")
        actual = hashlib.sha256(artifact.read_bytes()).hexdigest()
    else:
        artifact.unlink()
    service = start(copy, tmp_path / "service.log", wait=False)
    code = service.proc.wait(60)
    log = service.log_text()
    assert code == 3, log
    errors = [line for line in log.splitlines() if "ERROR" in line]
    assert len(errors) == 1, log
    assert artifact.name in errors[0]
    assert expected in errors[0]
    if damage == "tampered":
        assert actual in errors[0]
    else:
        assert "missing" in errors[0]
    assert "Traceback" not in log
    assert str(tmp_path) not in log


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_and_exits_zero(
    slow: Path, tmp_path: Path, workers: str
) -> None:
    """In-flight requests finish; /readyz says draining meanwhile; exit code 0."""
    service = start(slow, tmp_path / "log", "--workers", workers, drain_seconds=3)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        slow_calls = [
            pool.submit(post, service, "/predict", {"seconds": 1.5, "secret": "x"})
            for _ in range(2)
        ]
        time.sleep(0.5)
        service.proc.send_signal(signal.SIGTERM)
        # uvicorn's supervisor passes the signal on to its workers within 0.5 s.
        ready: httpx.Response | None = None
        deadline = time.monotonic() + 2
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                try:
                    ready = client.get(service.url + "/readyz")
                except httpx.HTTPError:
                    ready = None  # with several workers, this one may have gone
                    break
                if ready.status_code != 200:
                    break
                time.sleep(0.05)
        for call in slow_calls:
            response = call.result(timeout=30)
            assert response.status_code == 200, response.text
            assert response.json()["slept"] == 1.5
    if ready is not None:
        assert ready.status_code == 503
        assert ready.json() == {"status": "draining"}
    assert service.proc.wait(30) == 0, service.log_text()
    assert "draining" in service.log_text()


def test_a_worker_idle_at_sigterm_still_serves_its_idle_connections(
    fraud: Path, tmp_path: Path
) -> None:
    """A client holds a kept-alive connection, idle for a while when SIGTERM comes, and
    sends on it before it has noticed /readyz: the drain waits for that (quiet is
    counted from the signal), answers with Connection: close, then exits 0."""
    service = start(fraud, tmp_path / "log", "--workers", "1")
    example = golden_examples(fraud)[0]
    body = json.dumps(example["input"]).encode()
    request = request_bytes(
        service.port,
        "/predict",
        {"Content-Type": "application/json", "Content-Length": str(len(body))},
        body,
    )
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as held:
        held.sendall(request)
        assert status_of(held.recv(65536)) == 200
        time.sleep(0.6)  # idle: longer than a drain's quiet period used to be
        service.proc.send_signal(signal.SIGTERM)
        time.sleep(0.4)  # the client has not noticed yet
        held.sendall(request)
        answer = _read_closed(held)
    assert answer, "the connection was closed without an answer"
    assert status_of(answer) == 200, answer
    assert b"connection: close" in answer.partition(b"\r\n\r\n")[0].lower()
    assert service.proc.wait(30) == 0, service.log_text()


def test_model_load_failure_exits_3_with_the_type_only(
    slow: Path, tmp_path: Path
) -> None:
    # LOAD_SECONDS=-1: time.sleep raises ValueError in the notebook's load code.
    service = start(slow, tmp_path / "log", wait=False, load_seconds=-1)
    code = service.proc.wait(60)
    log = service.log_text()
    assert code == 3, log
    assert "start-up stopped: loading the model raised ValueError" in log
    assert "Traceback" not in log


def test_healthz_answers_while_predictions_run(sleepy: RunningService) -> None:
    """The model runs in worker threads: the event loop keeps answering probes."""
    result: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: result.append(
            post(sleepy, "/predict", {"seconds": 0.8, "secret": "x"})
        )
    )
    worker.start()
    time.sleep(0.2)
    began = time.monotonic()
    assert httpx.get(sleepy.url + "/healthz").status_code == 200
    assert time.monotonic() - began < 0.3
    worker.join(30)
    assert result[0].status_code == 200
    wait_ready(sleepy)
