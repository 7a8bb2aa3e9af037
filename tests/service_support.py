"""Support for the tests that run generated services for real (tests/test_service_*.py).

Services are built once per test session into pytest's base temp folder and run as
``python -m <package> serve`` on a free loopback port, with ``PYTHONPATH=<out>/src`` and
this interpreter (whose packages the generated requirements pin), exactly as
``nb2svc verify`` runs them. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest

from tests.conftest import EXAMPLES

STOP_SECONDS = 30.0
READY_SECONDS = 90.0

#: A service whose answers take as long as the request asks: for timeouts, overload,
#: draining and failures. Its load cell sleeps LOAD_SECONDS (a setting) at start-up,
#: and LOAD_SECONDS_ODD_PID more in a process with an odd id: workers load unevenly.
SLOW_NOTEBOOK_CELLS = (
    "# nb2svc: imports\nimport os\nimport time",
    "# nb2svc: config\nLOAD_SECONDS = 0.0\nLOAD_SECONDS_ODD_PID = 0.0",
    "# nb2svc: load\n"
    "time.sleep(LOAD_SECONDS + (LOAD_SECONDS_ODD_PID if os.getpid() % 2 else 0.0))\n"
    "loaded = True",
    "# nb2svc: predict\n"
    "def predict(x: dict) -> dict:\n"
    "    if x['seconds'] < 0:\n"
    "        raise ValueError(f\"cannot sleep for {x['secret']}\")\n"
    "    time.sleep(x['seconds'])\n"
    "    return {'slept': x['seconds'], 'loaded': loaded}",
    "# nb2svc: example\nexample = {'seconds': 0.01, 'secret': 'none'}",
)


#: The fraud example's merchant categories (what its model was trained on).
MERCHANT_CATEGORIES = (
    "grocery",
    "fuel",
    "restaurant",
    "electronics",
    "travel",
    "online_gaming",
)


def transactions_frame(
    count: int, seed: int, categories: Sequence[str] = MERCHANT_CATEGORIES
) -> Any:
    """``count`` random transactions of the fraud example's input, with a ``tx_id``
    column (``tx-00000``...) to pass through ``score --keep``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tx_id": [f"tx-{i:05d}" for i in range(count)],
            "amount": rng.gamma(2.0, 40.0, count).round(2),
            "merchant_category": rng.choice(list(categories), count),
            "hour": rng.integers(0, 24, count),
            "country_mismatch": rng.random(count) < 0.2,
            "card_age_days": rng.integers(0, 4000, count),
            "tx_last_24h": rng.integers(0, 12, count),
        }
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _build(notebook: Path, out: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "nb2svc", "build", str(notebook), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=notebook.parent,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def built_service(factory: pytest.TempPathFactory, name: str) -> Path:
    """The service of ``name`` (an example notebook's stem, or ``slow_service``),
    built once per session."""
    root = factory.getbasetemp() / "nb2svc-services"
    out = root / name
    if (out / "nb2svc.json").is_file():
        return out
    notebooks = root / f"{name}-notebook"
    notebooks.mkdir(parents=True, exist_ok=True)
    if name == "slow_service":
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.cells = [nbformat.v4.new_code_cell(source) for source in SLOW_NOTEBOOK_CELLS]
        for index, cell in enumerate(nb.cells):
            cell.id = f"cell-{index}"
        notebook = notebooks / "slow_service.ipynb"
        nbformat.write(nb, str(notebook))
    else:
        for path in EXAMPLES.iterdir():
            if path.stem == name or path.name.startswith(name.split("_")[0] + "_"):
                shutil.copy(path, notebooks / path.name)
        notebook = notebooks / f"{name}.ipynb"
    return _build(notebook, out)


def package_of(out: Path) -> str:
    return next(
        p.name for p in (out / "src").iterdir() if p.is_dir() and "." not in p.name
    )


def env_prefix(out: Path) -> str:
    return package_of(out).upper() + "_"


def golden_examples(out: Path) -> list[dict[str, Any]]:
    examples: list[dict[str, Any]] = json.loads(
        (out / "tests/golden/examples.json").read_text()
    )["examples"]
    return examples


@dataclass
class RunningService:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the service and wait (bounded) for its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(
                f"the service did not stop within {STOP_SECONDS:g} s:\n{self.log_text()}"
            ) from None


def service_env(out: Path, **settings: object) -> dict[str, str]:
    prefix = env_prefix(out)
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefix)}
    env["PYTHONPATH"] = str((out / "src").resolve())
    env["PYTHONUNBUFFERED"] = "1"
    for name, value in settings.items():
        env[prefix + name.upper()] = str(value)
    return env


def start(
    out: Path, log: Path, *args: str, wait: bool = True, **settings: object
) -> RunningService:
    """Start the service; with ``wait``, return once /readyz says ready."""
    port = free_port()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                package_of(out),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *args,
            ],
            cwd=log.parent,
            env={**service_env(out, **settings), "TMPDIR": str(log.parent)},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killable as a whole
        )
    service = RunningService(proc, f"http://127.0.0.1:{port}", port, log)
    if wait:
        wait_ready(service)
    return service


def wait_for_service(
    url: str, proc: subprocess.Popen[Any], log: Path, seconds: float = READY_SECONDS
) -> None:
    """Return once ``/readyz`` says ready; fail if the process exits or ``seconds``
    pass."""
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=2, trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(
                    f"the service exited with {proc.returncode}:\n"
                    + log.read_text(errors="replace")
                )
            try:
                if client.get(f"{url}/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise AssertionError(
        f"not ready within {seconds:g} s:\n{log.read_text(errors='replace')}"
    )


def wait_ready(service: RunningService, seconds: float = READY_SECONDS) -> None:
    try:
        wait_for_service(service.url, service.proc, service.log, seconds)
    except AssertionError:
        if service.proc.poll() is None:
            service.stop(signal.SIGKILL)
        raise


@contextmanager
def serving(
    out: Path, log: Path, *args: str, expect_exit: int | None = 0, **settings: object
) -> Iterator[RunningService]:
    """A ready service for the block; stopped with SIGTERM after it."""
    service = start(out, log, *args, **settings)
    try:
        yield service
    finally:
        code = service.stop()
        if expect_exit is not None:
            assert code == expect_exit, service.log_text()


def raw_request(port: int, data: bytes, *, read_timeout: float = 10.0) -> bytes:
    """Send raw bytes on a new loopback connection; return everything read back."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def body_of(response: bytes) -> Any:
    return json.loads(response.partition(b"\r\n\r\n")[2])
