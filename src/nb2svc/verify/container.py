"""``nb2svc verify --image TAG``: the parity check against the service's real image.

The generated package is built into an image with the Docker engine
(:func:`nb2svc.docker_build.build_image`), a container of it is started with its port
published on the host's loopback interface only, and the examples are sent to it as
they are to a service on the host. What the image alone can get wrong (a wheel that
needs a system library the base image lacks, a file missing from the build context) is
then caught before deployment. The container and the image are removed afterwards
unless the image should be kept.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from nb2svc.errors import Diagnostic, Location, ServiceError, Severity
from nb2svc.verify.service import ServiceRun, ask_service, free_port

PORT = 8000  # the image's PORT
STOP_SECONDS = 30


def _error(name: str, message: str, hint: str | None) -> ServiceError:
    return ServiceError(
        [Diagnostic(Severity.ERROR, Location(name), message, hint, "NB803")]
    )


@dataclass
class RunningContainer:
    """What :func:`ask_service` needs of a running service: its URL and a log file
    (the container's log, fetched when it is asked for)."""

    container: Any
    url: str
    log_file: Path
    #: The one-off API key the container was started with (it listens on 0.0.0.0
    #: inside, so it refuses to start without one): verified as it ships.
    headers: dict[str, str]

    @property
    def log(self) -> Path:
        try:
            self.log_file.write_bytes(self.container.logs())
        except Exception:  # the engine is gone: say so in the log
            self.log_file.write_text("(the container's log could not be read)")
        return self.log_file


def _tail(text: str, lines: int = 12) -> str:
    shown = text.strip().splitlines()[-lines:]
    return "\n".join(f"    | {line}" for line in shown) or "    | (nothing)"


@contextlib.contextmanager
def start_container(
    tag: str,
    env_prefix: str,
    startup_timeout: float,
    log_dir: Path,
) -> Iterator[RunningContainer]:
    """Run image ``tag`` with its port on 127.0.0.1; wait for ``/readyz``; always
    remove the container."""
    import docker

    client = docker.from_env()
    port = free_port()
    key = secrets.token_hex(16)
    container = None
    try:
        container = client.containers.run(
            tag,
            detach=True,
            environment={
                f"{env_prefix}WORKERS": "1",
                f"{env_prefix}LOG_LEVEL": "warning",
                f"{env_prefix}API_KEY": key,
            },
            ports={f"{PORT}/tcp": ("127.0.0.1", port)},
        )
        running = RunningContainer(
            container,
            f"http://127.0.0.1:{port}",
            log_dir / "container.log",
            {"X-API-Key": key},
        )
        _wait_ready(running, startup_timeout)
        yield running
    except docker.errors.DockerException as exc:
        raise _error(
            f"image {tag}",
            f"the container could not be run: {exc}",
            "is the Docker engine still there?",
        ) from None
    finally:
        if container is not None:
            with contextlib.suppress(Exception):
                container.stop(timeout=STOP_SECONDS)
            with contextlib.suppress(Exception):
                container.remove(force=True)
        client.close()


def _wait_ready(running: RunningContainer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=running.url, timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            running.container.reload()
            if running.container.status not in ("created", "running"):
                logs = running.container.logs().decode(errors="replace")
                code = running.container.attrs.get("State", {}).get("ExitCode")
                raise _error(
                    f"container of {running.container.image.tags or 'the image'}",
                    f"the container exited with code {code} before it was ready; "
                    f"its log ends with:\n{_tail(logs)}",
                    "a library the image lacks, or a file the build context left "
                    "out? Run the image yourself: docker run --rm IMAGE",
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get("/readyz").status_code == 200:
                    return
            time.sleep(0.2)
    logs = running.container.logs().decode(errors="replace")
    raise _error(
        running.url,
        f"the container was not ready after {timeout:g} s; its log ends with:\n"
        f"{_tail(logs)}",
        "raise --startup-timeout if loading the model is slow",
    )


def run_image_service(
    out: Path,
    tag: str,
    env_prefix: str,
    inputs: Sequence[Any],
    *,
    startup_timeout: float = 120.0,
    request_timeout: float = 60.0,
    keep_image: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> ServiceRun:
    """Build ``out`` as image ``tag``, run it, send every input, stop it."""
    from nb2svc.docker_build import build_image

    say = on_stage or (lambda _text: None)
    say(f"building the image {tag}")
    build_image(out, tag)
    try:
        with tempfile.TemporaryDirectory(prefix="nb2svc-verify-") as tmp:
            started = time.perf_counter()
            say(f"starting a container of {tag}")
            with start_container(
                tag, env_prefix, startup_timeout, Path(tmp)
            ) as running:
                startup = time.perf_counter() - started
                say(f"sending {len(inputs)} example(s) to {running.url}")
                single, batch = ask_service(running, inputs, request_timeout)
                running.container.stop(timeout=STOP_SECONDS)
                code = running.container.wait(timeout=STOP_SECONDS + 10)["StatusCode"]
        stopped = "cleanly" if code == 0 else f"exited with code {code}"
        command = ("docker", "run", tag)
        return ServiceRun(
            tuple(single), batch, command, f"image {tag}", startup, stopped
        )
    finally:
        if not keep_image:
            _remove_image(tag)


def _remove_image(tag: str) -> None:
    import docker

    with contextlib.suppress(Exception):
        client = docker.from_env()
        try:
            client.images.remove(tag, force=True)
            client.images.prune(filters={"dangling": True})
        finally:
            client.close()
