"""SIGTERM under load loses no request that reached the server.

Each round starts the service, puts it under a load of 32 connections, sends SIGTERM
and keeps the load going: clients keep sending through the whole drain, until the
listener is closed and their connects are refused. A refused connect is no loss (the
request never reached the server); any other failure is: a reset, a connection closed
without an answer, an error status or a wrong answer for a request whose bytes were
written. Ten rounds, one service start each, loopback only.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service_support import (
    RunningService,
    built_service,
    golden_examples,
    start,
)

pytestmark = pytest.mark.slow

ROUNDS = 10
CONNECTIONS = 32
LOAD_BEFORE_SIGNAL = 0.5  # seconds of load before each SIGTERM
ROUND_LIMIT = 60.0  # seconds; a round's load stops by then whatever happens
#: uvicorn's supervisor passes SIGTERM on to its workers within half a second: from
#: then on every answer must ask the client to close its connection.
SIGNAL_REACHES_WORKERS = 0.6


@pytest.fixture(scope="module")
def fraud(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_service(tmp_path_factory, "fraud_scoring")


@dataclass
class Round:
    answered: int = 0
    draining: int = 0  # answers to requests sent once every worker had the signal
    closing: int = 0  # those that carried Connection: close
    refused: int = 0
    losses: list[str] = field(default_factory=list)
    signalled_at: float | None = None


async def load(url: str, body: bytes, expected: Any, tally: Round) -> None:
    """One client: requests back to back on a kept-alive connection, until refused."""
    deadline = time.monotonic() + ROUND_LIMIT
    async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:
        while time.monotonic() < deadline:
            signalled_at = tally.signalled_at
            draining = (
                signalled_at is not None
                and time.monotonic() - signalled_at > SIGNAL_REACHES_WORKERS
            )
            try:
                response = await client.post(
                    "/predict",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
            except httpx.ConnectError:  # the listener is closed: never sent
                tally.refused += 1
                return
            except httpx.HTTPError as exc:  # written, then reset or unanswered
                tally.losses.append(f"{type(exc).__name__}: {exc}")
                continue
            if response.status_code != 200 or response.json() != expected:
                tally.losses.append(f"{response.status_code} {response.text}")
                continue
            tally.answered += 1
            if draining:
                tally.draining += 1
                if response.headers.get("connection") == "close":
                    tally.closing += 1


async def under_load(
    service: RunningService, body: bytes, expected: Any, tally: Round
) -> None:
    """The load, SIGTERM after a while, and the load on until every client is refused."""
    clients = [
        asyncio.create_task(load(service.url, body, expected, tally))
        for _ in range(CONNECTIONS)
    ]
    await asyncio.sleep(LOAD_BEFORE_SIGNAL)
    service.proc.send_signal(signal.SIGTERM)
    tally.signalled_at = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*clients), ROUND_LIMIT + 10)


def test_sigterm_under_load_loses_no_request(fraud: Path, tmp_path: Path) -> None:
    example = golden_examples(fraud)[0]
    body = json.dumps(example["input"]).encode()
    for number in range(ROUNDS):
        service = start(
            fraud,
            tmp_path / f"service-{number}.log",
            "--workers",
            str(1 + number % 2),  # one worker, then two sharing the socket
            # Requests sent from SIGNAL_REACHES_WORKERS on until the drain ends are
            # the drain's: 2 s leaves them 1.4 s, enough on a busy CI machine (with
            # 1 s a round once saw none: no loss, but nothing sent in the 0.4 s left).
            drain_seconds=2,
        )
        tally = Round()

        try:
            asyncio.run(under_load(service, body, example["output"], tally))
        finally:
            code = service.stop()
        report = f"round {number}: {tally}\n{service.log_text()[-3000:]}"
        assert tally.losses == [], report
        assert code == 0, report
        assert tally.refused == CONNECTIONS, report  # every client ran to the end
        assert tally.draining > 0, report  # the drain served requests
        assert tally.closing == tally.draining, report


def test_a_connection_silent_when_the_server_stops_is_still_answered(
    fraud: Path, tmp_path: Path
) -> None:
    """A client connected during the drain and sends its request only once uvicorn is
    shutting down (a client a little slow to write): it is answered, with
    Connection: close, where uvicorn closed such a connection on the spot."""
    service = start(fraud, tmp_path / "service.log", "--workers", "1", drain_seconds=1)
    example = golden_examples(fraud)[0]
    body = json.dumps(example["input"]).encode()
    request = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    try:
        service.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # draining: still accepting
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as late:
            deadline = time.monotonic() + 10
            while "Shutting down" not in service.log_text():
                assert time.monotonic() < deadline, service.log_text()
                time.sleep(0.01)
            time.sleep(0.2)  # past uvicorn's first look at its connections
            late.sendall(request)
            answer = b""
            while chunk := late.recv(65536):
                answer += chunk
        assert answer, "closed without an answer"
        head, _, content = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer
        assert b"connection: close" in head.lower()
        assert json.loads(content) == example["output"]
    finally:
        code = service.stop()
    assert code == 0, service.log_text()
