"""Which model ``score`` scores with, resolved once in the client, and every worker
bound to exactly that model.

The client resolves the model as ``serve`` does before binding its port: the
``<PREFIX>MODEL_URI`` environment variable, overridden by ``--model-uri`` (``packaged``
forces the packaged artifacts), names a registered version (``nb2svc_runtime.registry``);
its alias is resolved to one version, its files downloaded into the model cache and
checked against the version's recorded hashes. The :class:`~.core.ScoringSpec` then
carries that version (pinned: ``models:/NAME/N``), its hashes and its folder.

A worker (this process, a Dask worker, a Spark executor) takes the files from where
they reach it, checks their sha256 against the spec's hashes, and points the package's
``ARTIFACTS`` at them with the model URI variable cleared: the pipeline's
``load_resources`` then loads those files and nothing else, whatever the worker's own
environment says. A worker never falls back to the packaged model when a registered
version is scored.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .core import ArtifactCheckError, ScoringError, ScoringSpec, own_artifacts_dir

#: ``--model-uri packaged``: the packaged artifacts, whatever MODEL_URI says.
PACKAGED = "packaged"
#: MLflow's own variable naming the registry (the client's, carried to workers).
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"


@dataclass(frozen=True)
class ResolvedModel:
    """The model a run scores: ``uri`` (``models:/NAME/N``) or None (packaged)."""

    uri: str | None
    folder: str
    sha256: tuple[tuple[str, str], ...]
    alias: str | None = None
    tracking_uri: str | None = None

    @property
    def description(self) -> str:
        """``models:/fraud/7 (alias champion)``, or ``the packaged artifacts``."""
        if self.uri is None:
            return "the packaged artifacts"
        return self.uri + (f" (alias {self.alias})" if self.alias else "")

    @property
    def label(self) -> str:
        """The ``model`` of ``--stats``: the version's URI, or ``packaged``."""
        return self.uri or PACKAGED


def resolve_model(
    option: str | None,
    variable: str | None,
    packaged_dir: str,
    packaged: Mapping[str, str],
) -> ResolvedModel:
    """The model to score: ``option`` (``--model-uri``), else the environment's
    ``variable``, else the packaged artifacts. A registered version is resolved,
    downloaded and checked here (``ArtifactCheckError``, exit 3, when it can't be)."""
    uri = option if option is not None else os.environ.get(variable or "", "")
    uri = uri.strip()
    if not uri or uri == PACKAGED:
        return ResolvedModel(None, packaged_dir, tuple(sorted(packaged.items())))
    from ..registry import RegistryError, fetch_version, parse_model_uri

    try:
        _, alias, _ = parse_model_uri(uri)
    except RegistryError as exc:
        if option is None:  # the service's setting: refused as serve refuses it
            raise ArtifactCheckError(str(exc)) from None
        raise ScoringError(
            f"--model-uri {option!r} is not models:/<name>@<alias>, "
            f"models:/<name>/<version> or {PACKAGED}"
        ) from None
    tracking_uri = os.environ.get(TRACKING_URI_ENV) or None
    try:
        expected = dict(packaged)
        found, folder = fetch_version(uri, expected, tracking_uri)
    except RegistryError as exc:
        raise ArtifactCheckError(str(exc)) from None
    return ResolvedModel(
        found.uri,
        str(folder),
        tuple(sorted(expected.items())),
        alias=alias,
        tracking_uri=tracking_uri,
    )


def worker_folder(spec: ScoringSpec, shipped: str | None = None) -> str:
    """Where this process takes the spec's artifacts from: the folder Spark shipped
    them to; for the packaged model, this installation's own folder; for a registered
    version, the client's folder when this machine has it, else the same version
    downloaded from the registry into this machine's model cache."""
    if shipped is not None:
        return shipped
    if spec.model_uri is None:
        return own_artifacts_dir(spec)
    folder = Path(spec.artifacts_dir)
    if all((folder / name).is_file() for name, _ in spec.artifacts):
        return str(folder)
    from ..registry import RegistryError, fetch_version

    try:
        _, downloaded = fetch_version(
            spec.model_uri, dict(spec.artifacts), spec.tracking_uri
        )
    except RegistryError as exc:
        raise ArtifactCheckError(str(exc)) from None
    return str(downloaded)


def bind_artifacts(spec: ScoringSpec, folder: str) -> None:
    """Point the package's artifacts at ``folder`` with the spec's hashes, and clear
    its model URI variable, so that ``load_resources`` loads these files (and checks
    them again) rather than what this process's environment would name."""
    try:
        module = importlib.import_module(f"{spec.package}._artifacts")
    except ImportError:  # a package without artifacts
        return
    artifacts = getattr(module, "ARTIFACTS", None)
    if artifacts is not None:  # the pipeline loads through ARTIFACTS.path
        artifacts.folder = Path(folder)
        artifacts.sha256 = dict(spec.artifacts)
        if hasattr(artifacts, "model_uri_variable"):
            artifacts.model_uri_variable = None
    elif hasattr(module, "ARTIFACTS_DIR"):  # packages of runtimes before Artifacts
        setattr(module, "ARTIFACTS_DIR", Path(folder))  # noqa: B010
