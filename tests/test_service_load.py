"""Bounded load on loopback: zero failed requests, and none lost to a SIGTERM.

Every request is counted and every answer checked against the notebook's own output,
so a micro-batch that mixed up two requests' rows would fail here too.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service_support import (
    RunningService,
    built_service,
    golden_examples,
    serving,
    start,
)

pytestmark = pytest.mark.slow

REQUESTS = 1200
CONCURRENCY = 16
TIME_LIMIT = 120.0  # seconds; the whole load stops by then whatever happens


@pytest.fixture(scope="module")
def fraud(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_service(tmp_path_factory, "fraud_scoring")


@dataclass
class Tally:
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    started_before_stop: int = 0


def cases(out: Path) -> list[tuple[str, bytes, Any]]:
    """(path, body, expected answer): single rows, whole frames and batches."""
    examples = golden_examples(out)
    result = [
        ("/predict", json.dumps(e["input"]).encode(), e["output"]) for e in examples
    ]
    rows = [row for e in examples for row in e["input"]]
    answers = [answer for e in examples for answer in e["output"]]
    result.append(("/predict", json.dumps(rows).encode(), answers))
    batch = [e["input"] for e in examples]
    result.append(
        ("/predict/batch", json.dumps(batch).encode(), [e["output"] for e in examples])
    )
    return result


async def drive(
    url: str,
    work: list[tuple[str, bytes, Any]],
    total: int,
    concurrency: int,
    tally: Tally,
    stop: asyncio.Event | None = None,
) -> None:
    """``total`` requests from ``concurrency`` clients, each on its own connection."""
    issued = 0
    deadline = time.monotonic() + TIME_LIMIT

    async def client_loop() -> None:
        nonlocal issued
        async with httpx.AsyncClient(
            base_url=url, timeout=30, trust_env=False
        ) as client:
            while issued < total and time.monotonic() < deadline:
                if stop is not None and stop.is_set():
                    return
                path, body, expected = work[issued % len(work)]
                issued += 1
                tally.started_before_stop += 1
                try:
                    response = await client.post(
                        path, content=body, headers={"Content-Type": "application/json"}
                    )
                except httpx.HTTPError as exc:
                    tally.failures.append(f"{path}: {type(exc).__name__}: {exc}")
                    continue
                if response.status_code != 200:
                    tally.failures.append(
                        f"{path}: {response.status_code} {response.text}"
                    )
                elif response.json() != expected:
                    tally.failures.append(f"{path}: wrong answer {response.text}")
                else:
                    tally.ok += 1

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))


@pytest.fixture(scope="module")
def loaded(
    fraud: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    """The service as deployed: default settings (workers = CPUs, micro-batching on)."""
    with serving(fraud, tmp_path_factory.mktemp("load") / "service.log") as service:
        yield service


def test_load_has_zero_failed_requests(loaded: RunningService, fraud: Path) -> None:
    tally = Tally()
    began = time.monotonic()
    asyncio.run(drive(loaded.url, cases(fraud), REQUESTS, CONCURRENCY, tally))
    assert tally.failures == []
    assert tally.ok == REQUESTS, f"only {tally.ok} in {time.monotonic() - began:.0f} s"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_during_load_loses_no_request(
    fraud: Path, tmp_path: Path, workers: str
) -> None:
    """SIGTERM in the middle of a load: every request is still answered.

    The load goes on for half a second after the signal (a load balancer takes a
    moment to notice /readyz), then stops; the service drains and exits 0.
    """
    service = start(fraud, tmp_path / "service.log", "--workers", workers)
    tally = Tally()
    stop = asyncio.Event()

    async def scenario() -> None:
        load = asyncio.create_task(
            drive(service.url, cases(fraud), 10**6, CONCURRENCY, tally, stop)
        )
        while tally.ok < 150 and not load.done():
            await asyncio.sleep(0.01)
        service.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        stop.set()  # clients send nothing new from here on
        await asyncio.wait_for(load, TIME_LIMIT)

    asyncio.run(scenario())
    code = service.proc.wait(30)
    assert tally.failures == [], service.log_text()
    assert tally.ok == tally.started_before_stop >= 150
    assert code == 0, service.log_text()
