"""``nb2svc build --register``: a built service's model as a version in an MLflow registry.

What one registered version holds (logged by an MLflow run of the experiment
``nb2svc``, under the run's ``model/`` folder):

* ``artifacts/``: the files the service loads (``src/<package>/artifacts``), byte for
  byte;
* ``nb2svc.json``: the service's manifest (artifact and file hashes, notebook, cells
  sha256, nb2svc version);
* ``verify.json``: the parity report of ``nb2svc verify``, when the build ran it.

Its tags link it back and make it checkable: ``nb2svc.artifacts`` (``{name: sha256}``
as JSON, what a service started with ``MODEL_URI`` verifies the download against),
``nb2svc.fingerprint``, ``nb2svc.notebook``, ``nb2svc.notebook_sha256``,
``nb2svc.cells_sha256``, ``nb2svc.service``, ``nb2svc.version`` and, after a verify,
``nb2svc.verify``.

Idempotence: the fingerprint is the sha256 of the artifact hashes and the notebook's
cells sha256, i.e. of what the service would do. Registering a build whose fingerprint
a version of the same registered model already has creates nothing and answers with
that version (``created`` false), so re-running a pipeline never piles up identical
versions; a new notebook or a retrained model is a new version.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb2svc import __version__
from nb2svc.errors import RegistryError
from nb2svc_runtime.artifacts import sha256_of
from nb2svc_runtime.registry import (
    ARTIFACTS_TAG,
    EXPERIMENT,
    FINGERPRINT_TAG,
    fingerprint,
    version_with_fingerprint,
)

#: The description of a registered model the build creates.
_DESCRIPTION = "Registered by nb2svc build --register."


@dataclass(frozen=True)
class RegisterOptions:
    service: Path  # the built service folder (holds nb2svc.json)
    notebook: Path
    registry: str | None = None  # tracking URI; default: default_tracking_uri()
    name: str | None = None  # registered model name; default: the service's package
    verify_report: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Registration:
    tracking_uri: str
    name: str
    version: str
    run_id: str
    fingerprint: str
    created: bool  # false: an identical version was registered before

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else a local sqlite store in nb2svc's data
    folder (``platformdirs.user_data_dir("nb2svc")/registry/mlflow.db``)."""
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        return configured
    return f"sqlite:///{_local_root() / 'mlflow.db'}"


def _local_root() -> Path:
    from platformdirs import user_data_path

    root = user_data_path("nb2svc") / "registry"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _read_manifest(service: Path) -> tuple[dict[str, Any], Path]:
    manifest_path = service / "nb2svc.json"
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RegistryError(
            f"{manifest_path}: not a service built by nb2svc ({exc})"
        ) from None
    folders = {
        Path(path).parent
        for path in manifest.get("files", {})
        if Path(path).parent.name == "artifacts" and path.startswith("src/")
    }
    if not manifest.get("artifacts") or len(folders) != 1:
        raise RegistryError(
            f"{service}: the service has no artifacts to register (its notebook loads "
            "no model file): serve it from its package instead"
        )
    return manifest, service / folders.pop()


def _client(tracking_uri: str) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise RegistryError(
            "--register needs the MLflow client: pip install 'nb2svc[registry]'"
        ) from None
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _experiment_id(client: Any, tracking_uri: str) -> str:
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if tracking_uri.startswith("sqlite:"):  # the local store keeps files beside it
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        location = (db.parent / "artifacts").resolve().as_uri()
    return str(client.create_experiment(EXPERIMENT, artifact_location=location))


def _log_run(
    client: Any, tracking_uri: str, options: RegisterOptions, tags: dict[str, str]
) -> tuple[str, str]:
    manifest_file = options.service / "nb2svc.json"
    _, artifacts = _read_manifest(options.service)
    run = client.create_run(
        _experiment_id(client, tracking_uri),
        run_name=tags["nb2svc.service"],
        tags=tags,
    )
    run_id = str(run.info.run_id)
    client.log_artifacts(run_id, str(artifacts), "model/artifacts")
    client.log_artifact(run_id, str(manifest_file), "model")
    if options.verify_report is not None:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "verify.json"
            report.write_text(
                json.dumps(options.verify_report, indent=2, sort_keys=True),
                encoding="utf-8",
            )
            client.log_artifact(run_id, str(report), "model")
    client.set_terminated(run_id)
    return run_id, f"{run.info.artifact_uri.rstrip('/')}/model"


def register_service(options: RegisterOptions) -> Registration:
    """Register the model of the service built in ``options.service``."""
    from mlflow.exceptions import MlflowException

    manifest, _ = _read_manifest(options.service)
    artifacts: dict[str, str] = dict(sorted(manifest["artifacts"].items()))
    package = next(Path(p).parts[1] for p in manifest["files"] if p.startswith("src/"))
    name = options.name or package
    tracking_uri = options.registry or default_tracking_uri()
    print_ = fingerprint(artifacts, str(manifest.get("cells_sha256", "")))
    tags = {
        ARTIFACTS_TAG: json.dumps(artifacts, sort_keys=True),
        FINGERPRINT_TAG: print_,
        "nb2svc.notebook": str(options.notebook.resolve()),
        "nb2svc.notebook_sha256": sha256_of(options.notebook),
        "nb2svc.cells_sha256": str(manifest.get("cells_sha256", "")),
        "nb2svc.service": package,
        "nb2svc.version": __version__,
    }
    if options.verify_report is not None:
        tags["nb2svc.verify"] = str(options.verify_report.get("outcome", "unknown"))
    client = _client(tracking_uri)
    try:
        existing = version_with_fingerprint(client, name, print_, _DESCRIPTION)
        if existing is not None:
            return Registration(
                tracking_uri,
                name,
                str(existing.version),
                str(existing.run_id or ""),
                print_,
                created=False,
            )
        run_id, source = _log_run(client, tracking_uri, options, tags)
        version = client.create_model_version(
            name,
            source,
            run_id=run_id,
            tags=tags,
            description=f"{package} from {options.notebook.name} (nb2svc {__version__})",
        )
    except MlflowException as exc:
        raise RegistryError(
            f"registry {tracking_uri}: {exc.message.splitlines()[0]}"
        ) from None
    except OSError as exc:  # the artifact store (a folder, a bucket) refused a file
        raise RegistryError(f"registry {tracking_uri}: {exc}") from None
    return Registration(
        tracking_uri, name, str(version.version), run_id, print_, created=True
    )


def register_candidate(folder: Path, tracking_uri: str, name: str) -> Registration:
    """Register a folder of candidate artifacts (files a service loads, retrained
    elsewhere) as a version of ``name``: its ``nb2svc.artifacts`` tag holds the files'
    hashes, so a service started on it checks names and bytes as for any version.
    ``nb2svc compare`` uses it with a throwaway local registry."""
    from mlflow.exceptions import MlflowException

    files = sorted(p for p in folder.iterdir() if p.is_file())
    if not files:
        raise RegistryError(f"{folder}: no candidate artifact files in it")
    artifacts = {p.name: sha256_of(p) for p in files}
    print_ = fingerprint(artifacts, "")
    tags = {
        ARTIFACTS_TAG: json.dumps(artifacts, sort_keys=True),
        FINGERPRINT_TAG: print_,
        "nb2svc.candidate": str(folder.resolve()),
        "nb2svc.version": __version__,
    }
    client = _client(tracking_uri)
    try:
        existing = version_with_fingerprint(client, name, print_, _DESCRIPTION)
        if existing is not None:
            return Registration(
                tracking_uri, name, str(existing.version), "", print_, created=False
            )
        run = client.create_run(
            _experiment_id(client, tracking_uri), run_name=name, tags=tags
        )
        run_id = str(run.info.run_id)
        with tempfile.TemporaryDirectory() as tmp:  # only the files, no subfolders
            staged = Path(tmp) / "artifacts"
            staged.mkdir()
            for path in files:
                (staged / path.name).write_bytes(path.read_bytes())
            client.log_artifacts(run_id, str(staged), "model/artifacts")
        client.set_terminated(run_id)
        source = f"{run.info.artifact_uri.rstrip('/')}/model"
        version = client.create_model_version(name, source, run_id=run_id, tags=tags)
    except MlflowException as exc:
        raise RegistryError(
            f"registry {tracking_uri}: {exc.message.splitlines()[0]}"
        ) from None
    return Registration(
        tracking_uri, name, str(version.version), run_id, print_, created=True
    )
