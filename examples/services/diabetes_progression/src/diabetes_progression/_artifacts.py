"""Artifacts copied from the notebook's folder, with the sha256 recorded at build time."""

from pathlib import Path

from nb2svc_runtime.artifacts import ArtifactError, Artifacts

ARTIFACTS = Artifacts(
    Path(__file__).parent / "artifacts",
    {
        "diabetes_model.joblib": "b6b4a52e6b83a8f577c360cff0521924835ab02ce5d1d48197e0016e0c01242c",
    },
    # Set, it names a registered model version to serve instead (README: registry).
    model_uri_variable="DIABETES_PROGRESSION_MODEL_URI",
)
artifact_path = ARTIFACTS.path
verify_artifacts = ARTIFACTS.verify

__all__ = ["ARTIFACTS", "ArtifactError", "artifact_path", "verify_artifacts"]
