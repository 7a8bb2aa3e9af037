"""nb2svc_runtime.registry without a registry: model URIs, and the checks of a
downloaded version against its recorded names and hashes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from nb2svc_runtime.registry import (
    RegisteredVersion,
    RegistryError,
    _check,
    parse_model_uri,
)


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("models:/fraud@champion", ("fraud", "champion", None)),
        ("models:/fraud/12", ("fraud", None, "12")),
        (" models:/my-model.v2@prod ", ("my-model.v2", "prod", None)),
    ],
)
def test_model_uris(uri: str, parsed: tuple[str, str | None, str | None]) -> None:
    assert parse_model_uri(uri) == parsed


@pytest.mark.parametrize(
    "uri", ["fraud@champion", "models:/fraud", "models:/fraud/latest", "runs:/x/model"]
)
def test_other_uris_are_refused(uri: str) -> None:
    with pytest.raises(RegistryError, match="is not models:/<name>@<alias>"):
        parse_model_uri(uri)


def version(folder: Path, **files: bytes) -> RegisteredVersion:
    for name, data in files.items():
        (folder / name).write_bytes(data)
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    return RegisteredVersion("fraud", "3", "mlflow-artifacts:/x", sha)


def test_names_and_hashes_are_checked(tmp_path: Path) -> None:
    found = version(tmp_path, **{"model.joblib": b"m", "profile.json": b"{}"})
    expected = {"model.joblib": "0" * 64, "profile.json": "1" * 64}
    _check(found, tmp_path, expected)  # the service's own hashes may differ
    with pytest.raises(
        RegistryError, match=r"but this service loads \['model.joblib'\]"
    ):
        _check(found, tmp_path, {"model.joblib": "0" * 64})
    (tmp_path / "profile.json").write_bytes(b"{ }")
    with pytest.raises(
        RegistryError,
        match=r"models:/fraud/3: artifact profile\.json has sha256 .* changed after",
    ):
        _check(found, tmp_path, expected)
    (tmp_path / "model.joblib").unlink()
    with pytest.raises(
        RegistryError, match=r"artifact model\.joblib was not downloaded"
    ):
        _check(found, tmp_path, expected)
