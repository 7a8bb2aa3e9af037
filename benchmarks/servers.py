"""Servers the benchmarks start: a free loopback port, and a process that is stopped
however the benchmark ends."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

#: How long a server may take to answer its readiness probe.
START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def launched(
    command: list[str],
    env: dict[str, str],
    log: Path,
    ready: Callable[[httpx.Client, str], bool],
    *,
    poll: float = 0.05,
) -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """``command`` with ``--port`` and a free port appended, its output in ``log``
    (run from ``log``'s folder); yields its base URL, its process and the seconds from
    launch until ``ready(client, base)`` was first true. Stopped with SIGTERM on the
    way out (killed after 30 s)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            cwd=log.parent,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=5, trust_env=False) as client:
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command} did not start:\n{log.read_text()}")
                try:
                    if ready(client, base):
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(poll)
        yield base, proc, time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
