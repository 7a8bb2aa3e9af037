"""Artifacts copied from the notebook's folder, with the sha256 recorded at build time."""

from pathlib import Path

from nb2svc_runtime.artifacts import ArtifactError, Artifacts

ARTIFACTS = Artifacts(
    Path(__file__).parent / "artifacts",
    {
        "fraud_model.joblib": "be95272b9114ffbea6855d85964414151fdbd43f44b3fa5fd75ad61a43a53f74",
        "reference_profile.json": "629adf2d9ee98977b437d6531c74c49c4acbb32b34dd51d684f92c2cd78dbe3d",
    },
    # Set, it names a registered model version to serve instead (README: registry).
    model_uri_variable="FRAUD_SCORING_MODEL_URI",
)
artifact_path = ARTIFACTS.path
verify_artifacts = ARTIFACTS.verify

__all__ = ["ARTIFACTS", "ArtifactError", "artifact_path", "verify_artifacts"]
