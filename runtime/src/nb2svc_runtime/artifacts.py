"""The files a service was built with, each checked against its sha256 before use."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


class ArtifactError(RuntimeError):
    """An artifact is missing or differs from the one the service was built with."""


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks (a model may not fit twice in
    memory); every artifact, data and download check in the runtime uses it."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Artifacts:
    """The artifacts in ``folder``, with the sha256 each had at build time.

    With ``model_uri_variable`` set in the environment (``models:/NAME@ALIAS`` or
    ``models:/NAME/VERSION``), ``verify`` first takes the files of that registered
    version instead (``nb2svc_runtime.registry``, the ``registry`` extra): ``folder``
    and ``sha256`` then describe them.
    """

    folder: Path
    sha256: dict[str, str]
    model_uri_variable: str | None = None

    def path(self, name: str) -> str:
        """The absolute path of an artifact, whatever the working directory."""
        return str(self.folder / name)

    def verify(self) -> None:
        """Check every artifact's sha256 before anything deserialises it."""
        uri = os.environ.get(self.model_uri_variable or "")
        if uri:  # a registered model version's artifacts
            from .registry import RegistryError, fetch_registered

            try:
                self.folder = fetch_registered(uri, self.sha256)
            except RegistryError as exc:
                raise ArtifactError(str(exc)) from None
        for name, expected in self.sha256.items():
            path = self.folder / name
            if not path.is_file():
                raise ArtifactError(
                    f"artifact {name} is missing (expected sha256 {expected})"
                )
            actual = sha256_of(path)
            if actual != expected:
                raise ArtifactError(
                    f"artifact {name} has sha256 {actual}, expected {expected}: "
                    "it changed after the build"
                )
