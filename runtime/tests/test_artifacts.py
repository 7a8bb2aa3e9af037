"""Artifacts: each file checked against the sha256 it had at build time."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from nb2svc_runtime.artifacts import ArtifactError, Artifacts


def _artifacts(tmp_path: Path) -> Artifacts:
    (tmp_path / "model.bin").write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    return Artifacts(tmp_path, {"model.bin": digest})


def test_path_is_absolute_whatever_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifacts = _artifacts(tmp_path)
    monkeypatch.chdir("/")
    assert artifacts.path("model.bin") == str(tmp_path / "model.bin")
    artifacts.verify()


def test_a_changed_artifact_is_refused_naming_both_hashes(tmp_path: Path) -> None:
    artifacts = _artifacts(tmp_path)
    (tmp_path / "model.bin").write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match=r"model\.bin has sha256 .*expected"):
        artifacts.verify()


def test_a_missing_artifact_is_refused(tmp_path: Path) -> None:
    artifacts = _artifacts(tmp_path)
    (tmp_path / "model.bin").unlink()
    with pytest.raises(ArtifactError, match=r"model\.bin is missing"):
        artifacts.verify()
