"""Serve a registered model version: artifacts from an MLflow model registry.

A service started with ``<PREFIX>MODEL_URI=models:/<name>@<alias>`` (or
``models:/<name>/<version>``) takes its artifacts from that registered version instead
of the packaged ones. :func:`fetch_registered` resolves the alias to a version once,
downloads the version's files, and checks them before anything deserialises them:

* the version was registered by ``nb2svc build --register``: it carries the
  ``nb2svc.artifacts`` tag, the sha256 of every file, recorded in the registry's
  database (not in the artifact store it could be changed in);
* its artifact names are exactly the ones the service loads;
* every downloaded file has the recorded sha256.

Anything else raises :class:`RegistryError` with one line naming the version and the
file, and the service refuses to start (exit code 3, as for tampered packaged
artifacts). The registry is the one ``MLFLOW_TRACKING_URI`` names (MLflow's own
variable; any MLflow server, or a local ``sqlite:///`` store).

Downloads are kept in ``NB2SVC_MODEL_CACHE`` (default: a folder in the system's
temporary directory), one folder per registered name and version, written atomically
and checked again on every start-up. The alias resolved by the first process is pinned
for the worker processes it starts (``NB2SVC_MODEL_PINNED``), so a promotion during
start-up cannot mix two versions in one service.

Needs the ``registry`` extra: ``pip install 'nb2svc-runtime[registry]'`` (mlflow-skinny).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .artifacts import sha256_of

__all__ = [
    "ARTIFACTS_FOLDER",
    "ARTIFACTS_TAG",
    "EXPERIMENT",
    "FINGERPRINT_TAG",
    "RegisteredVersion",
    "RegistryError",
    "fetch_registered",
    "fetch_version",
    "fingerprint",
    "parse_model_uri",
    "resolve_version",
    "version_with_fingerprint",
]

#: The version tag holding ``{artifact name: sha256}`` as JSON (written by nb2svc).
ARTIFACTS_TAG = "nb2svc.artifacts"
#: The version tag that makes registering idempotent (see fingerprint).
FINGERPRINT_TAG = "nb2svc.fingerprint"
#: The MLflow experiment whose runs log what is registered.
EXPERIMENT = "nb2svc"
#: Where the artifacts are, under the version's logged folder.
ARTIFACTS_FOLDER = "artifacts"
CACHE_ENV = "NB2SVC_MODEL_CACHE"
PINNED_ENV = "NB2SVC_MODEL_PINNED"

#: MLflow's error codes for a registered model, version or alias that is not there.
_NOT_FOUND = frozenset(
    {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}
)
_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))")


class RegistryError(RuntimeError):
    """The registered model version can't be served: unknown, unreachable, not
    registered by nb2svc, other artifact names, or a file whose sha256 differs."""


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    source: str
    sha256: dict[str, str]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(name, alias, version)`` of ``models:/<name>@<alias>`` or
    ``models:/<name>/<version>``; exactly one of alias and version is set."""
    match = _URI.fullmatch(uri.strip())
    if match is None:
        raise RegistryError(
            f"MODEL_URI {uri!r} is not models:/<name>@<alias> or models:/<name>/<version>"
        )
    return match["name"], match["alias"], match["version"]


def _client(tracking_uri: str | None) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise RegistryError(
            "MODEL_URI needs the MLflow client: pip install 'nb2svc-runtime[registry]'"
        ) from None
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def resolve_version(uri: str, tracking_uri: str | None = None) -> RegisteredVersion:
    """The registered version ``uri`` names now, with the hashes recorded for it."""
    name, alias, version = parse_model_uri(uri)
    client = _client(tracking_uri)  # first: a missing extra is a RegistryError
    from mlflow.exceptions import MlflowException

    try:
        if alias is not None:
            found = client.get_model_version_by_alias(name, alias)
        else:
            found = client.get_model_version(name, version)
    except MlflowException as exc:
        where = str(client.tracking_uri)
        why = f"({exc.error_code}: {exc.message.splitlines()[0]})"
        if exc.error_code not in _NOT_FOUND:  # unreachable, refused, failing
            raise RegistryError(
                _redacted(f"{uri}: asking the registry at {where} failed {why}", where)
            ) from None
        what = f"alias {alias!r}" if alias is not None else f"version {version}"
        raise RegistryError(
            _redacted(
                f"{uri}: the registry has no {what} of model {name!r} {why}", where
            )
        ) from None
    recorded = (found.tags or {}).get(ARTIFACTS_TAG)
    if recorded is None:
        raise RegistryError(
            f"models:/{name}/{found.version} has no {ARTIFACTS_TAG} tag: it was not "
            "registered by 'nb2svc build --register', so its files can't be checked"
        )
    try:
        sha256 = json.loads(recorded)
        if not isinstance(sha256, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in sha256.items()
        ):
            raise ValueError("not an object of strings")
    except ValueError as exc:
        raise RegistryError(
            f"models:/{name}/{found.version}: its {ARTIFACTS_TAG} tag is not valid ({exc})"
        ) from None
    return RegisteredVersion(name, str(found.version), str(found.source), sha256)


def _redacted(text: str, uri: str | None) -> str:
    """``text`` without the credentials of registry ``uri`` (``user:password@``),
    which MLflow's own messages repeat."""
    netloc = urlsplit(uri or "").netloc
    if "@" not in netloc:
        return text
    return text.replace(netloc.rsplit("@", 1)[0] + "@", "")


def fingerprint(artifacts: Mapping[str, str], cells_sha256: str) -> str:
    """What a registered version would do: the sha256 of its artifacts' hashes and
    its notebook's cells sha256. ``nb2svc build --register`` and a service's
    ``retrain --register`` both tag versions with it (FINGERPRINT_TAG)."""
    document = {"artifacts": dict(sorted(artifacts.items())), "cells": cells_sha256}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def version_with_fingerprint(
    client: Any, name: str, print_: str, description: str | None = None
) -> Any | None:
    """The version of registered model ``name`` tagged with fingerprint ``print_``,
    if any, every page of versions searched; the registered model is created
    (with ``description``) when there is none yet. ``client``: an MlflowClient."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(name, description=description)
        return None
    escaped = name.replace("'", "\\'")
    token = None
    while True:
        page = client.search_model_versions(f"name = '{escaped}'", page_token=token)
        for version in page:
            if (version.tags or {}).get(FINGERPRINT_TAG) == print_:
                return version
        token = page.token
        if not token:
            return None


def _check(found: RegisteredVersion, folder: Path, expected: Mapping[str, str]) -> None:
    names, wanted = sorted(found.sha256), sorted(expected)
    if names != wanted:
        raise RegistryError(
            f"{found.uri} has artifacts {names}, but this service loads {wanted}: "
            "it was registered from another notebook or service"
        )
    for name, sha256 in sorted(found.sha256.items()):
        path = folder / name
        if not path.is_file():
            raise RegistryError(f"{found.uri}: artifact {name} was not downloaded")
        actual = sha256_of(path)
        if actual != sha256:
            raise RegistryError(
                f"{found.uri}: artifact {name} has sha256 {actual}, but the registry "
                f"recorded {sha256}: it changed after registration"
            )


def _cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    root = (
        Path(configured)
        if configured
        else Path(tempfile.gettempdir()) / "nb2svc-models"
    )
    root.mkdir(parents=True, exist_ok=True)
    return root


def _download(found: RegisteredVersion, tracking_uri: str | None) -> Path:
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    key = hashlib.sha256(json.dumps(found.sha256, sort_keys=True).encode()).hexdigest()
    target = _cache_root() / f"{found.name}-{found.version}-{key[:16]}"
    if target.is_dir():
        return target
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        download_artifacts(
            artifact_uri=f"{found.source.rstrip('/')}/{ARTIFACTS_FOLDER}",
            dst_path=str(staging),
            tracking_uri=tracking_uri,
        )
        try:
            (staging / ARTIFACTS_FOLDER).rename(target)
        except OSError:
            if not target.is_dir():  # another worker's download won the race
                raise
    except MlflowException as exc:
        raise RegistryError(
            _redacted(
                f"{found.uri}: downloading its artifacts failed: "
                f"{exc.message.splitlines()[0]}",
                tracking_uri,
            )
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def fetch_registered(
    uri: str,
    expected: MutableMapping[str, str],
    tracking_uri: str | None = None,
) -> Path:
    """Download and check the artifacts of the registered version ``uri`` names;
    return their folder.

    ``expected`` is the service's own ``{artifact name: sha256}`` table: the version
    must have exactly these names. On success it is updated in place with the
    registered hashes, so ``/metadata`` and the metrics describe the model served.
    """
    return fetch_version(uri, expected, tracking_uri)[1]


def fetch_version(
    uri: str,
    expected: MutableMapping[str, str],
    tracking_uri: str | None = None,
) -> tuple[RegisteredVersion, Path]:
    """:func:`fetch_registered`, with the version the alias was resolved to (pinned
    in ``NB2SVC_MODEL_PINNED`` for the processes this one starts)."""
    pinned: dict[str, str] = json.loads(os.environ.get(PINNED_ENV) or "{}")
    found = resolve_version(pinned.get(uri, uri), tracking_uri)
    os.environ[PINNED_ENV] = json.dumps({**pinned, uri: found.uri})
    folder = _download(found, tracking_uri)
    try:
        _check(found, folder, expected)
    except RegistryError:
        shutil.rmtree(folder, ignore_errors=True)  # download again next time
        raise
    expected.clear()
    expected.update(sorted(found.sha256.items()))
    return found, folder
