"""The frozen descriptions a generated package hands the runtime."""

from __future__ import annotations

import dataclasses

import pytest

from nb2svc_runtime.spec import IOSpec, ServiceInfo

INFO = ServiceInfo(
    package="fraud_scoring",
    name="fraud-scoring",
    title="Fraud Scoring",
    version="0.1.0",
    env_prefix="FRAUD_SCORING_",
    notebook="fraud_scoring.ipynb",
    notebook_cells_sha256="0" * 64,
    nb2svc_version="0.1.0",
)


def test_uvicorn_workers_import_the_package_s_app() -> None:
    assert INFO.app_path == "fraud_scoring.app:app"


def test_specs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        INFO.package = "other"  # type: ignore[misc]
    assert IOSpec(kind="json").vectorised_batch is False
