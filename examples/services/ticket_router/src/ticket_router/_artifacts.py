"""Artifacts copied from the notebook's folder, with the sha256 recorded at build time."""

from pathlib import Path

from nb2svc_runtime.artifacts import ArtifactError, Artifacts

ARTIFACTS = Artifacts(
    Path(__file__).parent / "artifacts",
    {
        "ticket_model.joblib": "bd29c4688a2026e8a07540ffeb4797d6e0baea7b1a2fe985b8aec5a263dda199",
    },
    # Set, it names a registered model version to serve instead (README: registry).
    model_uri_variable="TICKET_ROUTER_MODEL_URI",
)
artifact_path = ARTIFACTS.path
verify_artifacts = ARTIFACTS.verify

__all__ = ["ARTIFACTS", "ArtifactError", "artifact_path", "verify_artifacts"]
