"""Artifacts copied from the notebook's folder, with the sha256 recorded at build time."""

import hashlib
from pathlib import Path

ARTIFACTS_DIR = Path(__file__).parent / "artifacts"
ARTIFACTS: dict[str, str] = {
    "ticket_model.joblib": "bd29c4688a2026e8a07540ffeb4797d6e0baea7b1a2fe985b8aec5a263dda199",
}


class ArtifactError(RuntimeError):
    """An artifact is missing or differs from the one the service was built with."""


def artifact_path(name: str) -> str:
    """The absolute path of an artifact, whatever the working directory."""
    return str(ARTIFACTS_DIR / name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_artifacts() -> None:
    """Check every artifact's sha256 before anything deserialises it."""
    for name, expected in ARTIFACTS.items():
        path = ARTIFACTS_DIR / name
        if not path.is_file():
            raise ArtifactError(
                f"artifact {name} is missing (expected sha256 {expected})"
            )
        actual = _sha256(path)
        if actual != expected:
            raise ArtifactError(
                f"artifact {name} has sha256 {actual}, expected {expected}: "
                "it changed after the build"
            )
