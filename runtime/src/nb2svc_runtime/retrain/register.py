"""A retrained model that passed its gate, registered as a new version in MLflow,
in the layout ``nb2svc build --register`` writes (so a service serves it from
``models:/<name>@<alias>`` and checks its hashes)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..registry import (
    ARTIFACTS_FOLDER,
    ARTIFACTS_TAG,
    EXPERIMENT,
    FINGERPRINT_TAG,
    fingerprint,
    version_with_fingerprint,
)


class RegisterError(RuntimeError):
    """The registry can't be reached or refused the request."""


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    created: bool  # false: a version with the same fingerprint existed

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def _log_version(
    client: Any,
    name: str,
    folder: Path,
    artifacts: Mapping[str, str],
    tags: Mapping[str, str],
    report: Mapping[str, Any],
) -> Any:
    """One run of the ``nb2svc`` experiment with the artifacts and the report, made
    a new version of ``name``."""
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found else client.create_experiment(EXPERIMENT)
    run = client.create_run(experiment, run_name=f"retrain {name}", tags=dict(tags))
    run_id = run.info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / ARTIFACTS_FOLDER
        staged.mkdir()
        for artifact in sorted(artifacts):
            (staged / artifact).parent.mkdir(parents=True, exist_ok=True)
            (staged / artifact).write_bytes((folder / artifact).read_bytes())
        client.log_artifacts(run_id, str(staged), f"model/{ARTIFACTS_FOLDER}")
        (Path(tmp) / "retrain.json").write_text(
            json.dumps(report, indent=2, sort_keys=True), encoding="utf-8"
        )
        client.log_artifact(run_id, str(Path(tmp) / "retrain.json"), "model")
    client.set_terminated(run_id)
    version = client.create_model_version(
        name,
        f"{run.info.artifact_uri.rstrip('/')}/model",
        run_id=run_id,
        tags=dict(tags),
        description=f"retrained by {tags.get('nb2svc.service', name)} retrain",
    )
    return version


def register_retrained(
    tracking_uri: str | None,
    name: str,
    folder: Path,
    artifacts: Mapping[str, str],
    tags: Mapping[str, str],
    report: Mapping[str, Any],
    alias: str | None = None,
) -> Registered:
    """Log ``folder``'s artifacts and the retrain report in one run of the ``nb2svc``
    experiment and make it a version of ``name`` (unless one has its fingerprint);
    point ``alias`` at that version."""
    try:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
    except ImportError:
        raise RegisterError(
            "--register needs the MLflow client: pip install '<service>[retrain]'"
        ) from None
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    print_ = fingerprint(artifacts, tags.get("nb2svc.cells_sha256", ""))
    all_tags = {
        **tags,
        ARTIFACTS_TAG: json.dumps(dict(sorted(artifacts.items())), sort_keys=True),
        FINGERPRINT_TAG: print_,
    }
    try:
        existing = version_with_fingerprint(client, name, print_)
        if existing is not None:
            if alias:
                client.set_registered_model_alias(name, alias, str(existing.version))
            return Registered(name, str(existing.version), created=False)
        version = _log_version(client, name, folder, artifacts, all_tags, report)
        if alias:
            client.set_registered_model_alias(name, alias, str(version.version))
    except MlflowException as exc:
        raise RegisterError(
            f"registry {tracking_uri}: {exc.message.splitlines()[0]}"
        ) from None
    except OSError as exc:
        raise RegisterError(f"registry {tracking_uri}: {exc}") from None
    return Registered(name, str(version.version), created=True)
