"""The files a service was built with, each checked against its sha256 before use."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ArtifactError(RuntimeError):
    """An artifact is missing or differs from the one the service was built with."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Artifacts:
    """The artifacts in ``folder``, with the sha256 each had at build time."""

    folder: Path
    sha256: Mapping[str, str]

    def path(self, name: str) -> str:
        """The absolute path of an artifact, whatever the working directory."""
        return str(self.folder / name)

    def verify(self) -> None:
        """Check every artifact's sha256 before anything deserialises it."""
        for name, expected in self.sha256.items():
            path = self.folder / name
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
