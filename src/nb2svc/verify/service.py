"""The service side of verify: run the generated service for real and ask it.

The service runs as its own process, ``python -m <package> serve`` (what its Docker
image runs), on a free loopback port, with the interpreter that runs nb2svc
(``sys.executable``): the generated package pins its requirements to exactly the
versions installed there, so that environment is the one the package was made for.
The package is found through ``PYTHONPATH=<out>/src`` (it need not be installed) and
its serving runtime through the wheel it carries, ``<out>/vendor/<wheel>`` (a pure-Python
wheel imports as a zip archive, ahead of site-packages: the service runs the bytes that
ship, not the runtime nb2svc was built from; spawned workers inherit it), the
working directory is an empty temporary folder (artifacts must be found from the
package, not from the current directory), and environment variables with the
service's prefix are removed so the notebook's config defaults apply.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import httpx

from nb2svc.errors import Diagnostic, Location, ServiceError, Severity
from nb2svc.render.runtime_wheel import vendored
from nb2svc.writer import read_manifest

STOP_SECONDS = 15.0
_PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class Answer:
    """One HTTP exchange: the parsed JSON body, or what went wrong, and its latency."""

    status: int
    body: Any
    error: str | None
    seconds: float


@dataclass(frozen=True)
class ServiceRun:
    single: tuple[Answer, ...]  # /predict, one example at a time
    batch: Answer  # /predict/batch with every example
    command: tuple[str, ...]
    python: str
    startup_seconds: float
    stopped: str  # "cleanly" | "killed after N s"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_command(package: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        package,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
    ]


def vendored_wheels(out: Path) -> list[Path]:
    """The wheels the build in ``out`` vendored, as its manifest lists them."""
    manifest = read_manifest(out) or {}
    files = manifest.get("files", {})
    names = (
        sorted(rel for rel in files if vendored(rel)) if isinstance(files, dict) else []
    )
    return [(out / rel).resolve() for rel in names if (out / rel).is_file()]


def service_env(out: Path, env_prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(env_prefix)}
    paths = [str((out / "src").resolve()), *map(str, vendored_wheels(out))]
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (*paths, os.environ.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONSTARTUP", None)
    return env


def _error(name: str, message: str, hint: str | None) -> ServiceError:
    return ServiceError(
        [Diagnostic(Severity.ERROR, Location(name), message, hint, "NB801")]
    )


def _tail(path: Path, lines: int = 12) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return "\n".join(f"    | {line}" for line in text[-lines:]) or "    | (nothing)"


class RunningService:
    """A started service process; ``stop()`` ends it (SIGTERM, then SIGKILL)."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, url: str) -> None:
        self.proc = proc
        self.log = log
        self.url = url
        self.headers: dict[str, str] = {}  # a loopback process needs no API key
        self.stopped = ""

    def stop(self) -> str:
        if self.stopped:
            return self.stopped
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # uvicorn: graceful shutdown
            try:
                proc.wait(STOP_SECONDS)
                self.stopped = "cleanly"
            except subprocess.TimeoutExpired:
                self.stopped = f"killed after {STOP_SECONDS:g} s"
        else:
            self.stopped = f"had already exited (code {proc.returncode})"
        # The process group also holds any worker processes the notebook's code made.
        if hasattr(os, "killpg"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        return self.stopped


@contextlib.contextmanager
def start_service(
    out: Path,
    package: str,
    env_prefix: str,
    startup_timeout: float,
    log_dir: Path,
    settings: Mapping[str, str] | None = None,
) -> Iterator[RunningService]:
    """Start the service and wait until ``/readyz`` says ready; always stop it.
    ``settings``: environment variables set for it (prefixed names included)."""
    name = f"{out.name}/src/{package}"
    for attempt in range(_PORT_ATTEMPTS):
        port = free_port()
        log = log_dir / f"service-{attempt}.log"
        workdir = log_dir / f"cwd-{attempt}"
        workdir.mkdir()
        with log.open("wb") as log_file:
            proc = _spawn(
                package, port, out, env_prefix, log_file, workdir, settings or {}
            )
        service = RunningService(proc, log, f"http://127.0.0.1:{port}")
        try:
            exited = _wait_ready(service, startup_timeout)
            if exited and "address already in use" in log.read_text(errors="replace"):
                continue  # another process took the port between probe and bind
            if exited:
                raise _error(
                    name,
                    f"the service exited with code {proc.returncode} before it was "
                    f"ready; its log ends with:\n{_tail(log)}",
                    "run it yourself: PYTHONPATH=<out>/src:<out>/vendor/<wheel> "
                    "python -m "
                    f"{package} serve",
                )
            yield service
            return
        finally:
            service.stop()
    raise _error(
        name, "no free loopback port could be bound", "retry; is the machine busy?"
    )


def _spawn(
    package: str,
    port: int,
    out: Path,
    env_prefix: str,
    log: IO[bytes],
    workdir: Path,
    settings: Mapping[str, str],
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        service_command(package, port),
        cwd=workdir,
        env={**service_env(out, env_prefix), **settings},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches nb2svc, which then stops the service
    )


def _wait_ready(service: RunningService, timeout: float) -> bool:
    """Poll /readyz until 200. True if the process exited first."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=service.url, timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if service.proc.poll() is not None:
                return True
            with contextlib.suppress(httpx.HTTPError):
                if client.get("/readyz").status_code == 200:
                    return False
            time.sleep(0.1)
    raise _error(
        service.url,
        f"the service was not ready after {timeout:g} s; its log ends with:\n"
        f"{_tail(service.log)}",
        "raise --startup-timeout if loading the model is slow",
    )


def _post(client: httpx.Client, path: str, value: Any) -> Answer:
    started = time.perf_counter()
    response = client.post(
        path,
        content=json.dumps(value).encode(),
        headers={"Content-Type": "application/json"},
    )
    seconds = time.perf_counter() - started
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200:
        return Answer(200, body, None, seconds)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        text = (
            f"HTTP {response.status_code} {error.get('code')}: {error.get('message')}"
        )
    else:
        text = f"HTTP {response.status_code}: {response.text[:200]}"
    return Answer(response.status_code, None, text, seconds)


class AnsweringService(Protocol):
    """A started service as :func:`ask_service` sees it: a process or a container."""

    @property
    def url(self) -> str: ...

    @property
    def log(self) -> Path: ...

    @property
    def headers(self) -> dict[str, str]:
        """Sent with every request (the API key a container is started with)."""
        ...


def ask_service(
    service: AnsweringService,
    inputs: Sequence[Any],
    request_timeout: float,
    on_example: Callable[[int], None] | None = None,
) -> tuple[list[Answer], Answer]:
    """Each input to /predict, one by one, then all of them to /predict/batch."""
    single: list[Answer] = []
    try:
        with httpx.Client(
            base_url=service.url,
            timeout=request_timeout,
            trust_env=False,
            headers=service.headers,
        ) as client:
            for index, value in enumerate(inputs):
                if on_example:
                    on_example(index)
                single.append(_post(client, "/predict", value))
            batch = _post(client, "/predict/batch", list(inputs))
    except httpx.HTTPError as exc:
        time.sleep(0.2)  # let a crashing process finish writing its log
        raise _error(
            service.url,
            f"the service stopped answering ({type(exc).__name__}: {exc}); "
            f"its log ends with:\n{_tail(service.log)}",
            "a crash in native code, running out of memory, or a request slower "
            "than --request-timeout?",
        ) from exc
    return single, batch


def run_service(
    out: Path,
    package: str,
    env_prefix: str,
    inputs: Sequence[Any],
    *,
    startup_timeout: float = 120.0,
    request_timeout: float = 60.0,
    on_stage: Callable[[str], None] | None = None,
) -> ServiceRun:
    """Start the service, wait for /readyz, send every input, stop it cleanly."""
    with tempfile.TemporaryDirectory(prefix="nb2svc-verify-") as tmp:
        started = time.perf_counter()
        with start_service(
            out, package, env_prefix, startup_timeout, Path(tmp)
        ) as service:
            startup = time.perf_counter() - started
            if on_stage:
                on_stage(f"sending {len(inputs)} example(s) to {service.url}")
            single, batch = ask_service(service, inputs, request_timeout)
            command = service_command(package, int(service.url.rsplit(":", 1)[1]))
        stopped = service.stop()
    return ServiceRun(
        tuple(single), batch, tuple(command), sys.executable, startup, stopped
    )
