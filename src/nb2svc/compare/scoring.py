"""The two sides of a comparison, served and asked.

A side is one of:

* a service's URL (``http://host:port``): asked as it runs;
* a built service's folder (it holds ``nb2svc.json``): started here on a loopback
  port, as ``nb2svc verify`` starts it;
* a registered version (``models:/<name>@<alias>`` or ``models:/<name>/<version>``):
  the service folder of ``--service`` (else the other side's folder), started with
  ``<PREFIX>MODEL_URI`` set to it, so its artifacts come from the registry
  (``MLFLOW_TRACKING_URI`` names it), sha256-checked;
* a folder of candidate artifacts (no ``nb2svc.json``: the files a service loads,
  retrained elsewhere): registered in a throwaway local registry (sqlite, in a
  temporary folder) and served like a registered version, so the service checks the
  names and hashes as it would in production.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from nb2svc.errors import Diagnostic, InputError, Location, ServiceError, Severity
from nb2svc.naming import env_prefix

#: Inputs per /predict/batch request (below the services' default row limit).
CHUNK = 200
_MODEL_URI = re.compile(r"models:/[^/@]+(@[^/@]+|/\d+)")


@dataclass(frozen=True)
class Side:
    spec: str  # as given on the command line
    kind: Literal["url", "service", "registered", "candidate"]
    url: str | None = None
    service: Path | None = None  # the folder to start
    model_uri: str | None = None
    candidate: Path | None = None  # a folder of artifact files


def _service_folder(path: Path) -> bool:
    return (path / "nb2svc.json").is_file()


def parse_side(spec: str, service: Path | None, other: str) -> Side:
    """``service``: the ``--service`` folder; ``other``: the other side's spec (its
    folder serves a registered version when ``--service`` is not given)."""
    if spec.startswith(("http://", "https://")):
        return Side(spec, "url", url=spec.rstrip("/"))
    folder = service
    if folder is None and _service_folder(Path(other)):
        folder = Path(other)
    if spec.startswith("models:"):
        if not _MODEL_URI.fullmatch(spec):
            raise InputError(
                f"{spec}: not models:/<name>@<alias> or models:/<name>/<version>"
            )
        if folder is None:
            raise InputError(
                f"{spec}: a registered version is served by a built service: give "
                "its folder with --service DIR"
            )
        return Side(spec, "registered", service=folder, model_uri=spec)
    path = Path(spec)
    if _service_folder(path):
        return Side(spec, "service", service=path)
    if path.is_dir():
        if folder is None:
            raise InputError(
                f"{spec}: candidate artifacts are served by a built service: give "
                "its folder with --service DIR"
            )
        return Side(spec, "candidate", service=folder, candidate=path)
    raise InputError(
        f"{spec}: not a service URL (http://...), a registered version (models:/...), "
        "a folder built by 'nb2svc build' or a folder of candidate artifacts"
    )


def _package(folder: Path) -> str:
    manifest = json.loads((folder / "nb2svc.json").read_text(encoding="utf-8"))
    return next(Path(p).parts[1] for p in manifest["files"] if p.startswith("src/"))


@contextlib.contextmanager
def serving(side: Side, log_dir: Path, startup_timeout: float) -> Iterator[str]:
    """The side's base URL while it is served (started here unless it is a URL)."""
    from nb2svc.verify.service import start_service

    if side.url is not None:
        yield side.url
        return
    assert side.service is not None
    package = _package(side.service)
    prefix = env_prefix(package)
    log_dir.mkdir(parents=True, exist_ok=True)
    settings = {prefix + "MODEL_URI": side.model_uri} if side.model_uri else {}
    if side.candidate is not None:
        settings.update(_candidate_registry(side.candidate, log_dir, prefix))
    settings[prefix + "MICRO_BATCH"] = "false"  # one batch, one pipeline call
    with start_service(
        side.service, package, prefix, startup_timeout, log_dir, settings
    ) as running:
        yield running.url


def _candidate_registry(candidate: Path, log_dir: Path, prefix: str) -> dict[str, str]:
    from nb2svc.registry import register_candidate

    tracking_uri = f"sqlite:///{(log_dir / 'registry' / 'mlflow.db').resolve()}"
    (log_dir / "registry").mkdir()
    done = register_candidate(candidate, tracking_uri, "candidate")
    return {
        prefix + "MODEL_URI": done.uri,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "NB2SVC_MODEL_CACHE": str(log_dir / "models"),
    }


def _fail(side: Side, message: str) -> ServiceError:
    return ServiceError(
        [Diagnostic(Severity.ERROR, Location(side.spec), message, None, "NB902")]
    )


def input_kind(side: Side, url: str, client: httpx.Client) -> str:
    try:
        response = client.get(f"{url}/metadata")
        response.raise_for_status()
        return str(response.json()["input_kind"])
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise _fail(side, f"no nb2svc /metadata at {url}: {exc}") from None


def score(
    side: Side, url: str, rows: Sequence[Any], timeout: float = 120.0
) -> list[Any]:
    """One output per row: a frame service gets each row as a one-row frame."""
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        frame = input_kind(side, url, client) == "frame"
        outputs: list[Any] = []
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            body = [[row] for row in chunk] if frame else list(chunk)
            try:
                response = client.post(f"{url}/predict/batch", json=body)
            except httpx.HTTPError as exc:
                raise _fail(side, f"{url}/predict/batch: {exc}") from None
            if response.status_code != 200:
                raise _fail(
                    side,
                    f"{url}/predict/batch answered {response.status_code} for rows "
                    f"{start + 1}-{start + len(chunk)}: {response.text[:300]}",
                )
            answers = response.json()
            outputs.extend(
                a[0] if frame and isinstance(a, list) and a else a for a in answers
            )
    return outputs
