"""Build a generated service's Docker image through the Docker SDK.

``nb2svc build NOTEBOOK --image TAG`` ends here: the generated package is the build
context (its .dockerignore keeps everything but pyproject.toml, README.md, the vendored
runtime wheel and src/ out), the engine is the one ``docker.from_env()`` finds (DOCKER_HOST, or the local
socket), and every line the build prints is passed to ``progress``. Returns a value;
never prints. The ``docker`` package is optional: ``pip install 'nb2svc[docker]'``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb2svc.errors import Diagnostic, Location, OutputError, Severity

TAIL_LINES = 15


class ImageBuildError(OutputError):
    """No Docker engine, or the image build failed (exit code 5, like any output)."""


@dataclass(frozen=True)
class ImageResult:
    tag: str
    image_id: str


def _error(tag: str, message: str, hint: str | None) -> ImageBuildError:
    return ImageBuildError(
        [Diagnostic(Severity.ERROR, Location(f"image {tag}"), message, hint, "NB1101")]
    )


def _client(tag: str) -> Any:
    try:
        import docker
    except ImportError:
        raise _error(
            tag,
            "building an image needs the Docker SDK for Python",
            "pip install 'nb2svc[docker]' (or: pip install docker)",
        ) from None
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise _error(
            tag,
            f"no Docker engine answers: {exc}",
            "start Docker, or point DOCKER_HOST at an engine",
        ) from None
    return client


def build_image(
    context: Path, tag: str, progress: Callable[[str], None] | None = None
) -> ImageResult:
    """Build ``context`` (a generated service) as image ``tag``; raise on failure."""
    import docker
    import urllib3

    client = _client(tag)
    lines: list[str] = []
    errors: list[str] = []
    image_id = ""
    try:
        stream = client.api.build(
            path=str(context),
            tag=tag,
            rm=True,
            forcerm=True,  # no intermediate containers left behind, even on failure
            decode=True,
            pull=False,  # a base image already on the engine is used as it is
        )
        for chunk in stream:
            for line in str(chunk.get("stream", "")).splitlines():
                if line.strip():
                    lines.append(line)
                    if progress is not None:
                        progress(line)
            if "error" in chunk:
                errors.append(str(chunk["error"]).strip())
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
    except docker.errors.DockerException as exc:
        errors.append(str(exc))
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        # The engine went away mid-build: urllib3's ProtocolError, or the requests
        # errors around it (OSError), none of them a DockerException.
        errors.append(f"the Docker engine stopped answering ({type(exc).__name__})")
    finally:
        client.close()
    if errors or not image_id:
        tail = "\n".join(f"    | {line}" for line in lines[-TAIL_LINES:])
        message = errors[-1] if errors else "the engine reported no image"
        raise _error(
            tag,
            f"the image build failed: {message}\n{tail}".rstrip(),
            "the build output above says which Dockerfile step failed",
        )
    return ImageResult(tag, image_id)
