"""Issue 17: ``nb2svc build --register`` into a real ``mlflow server`` on loopback, and
the generated service taking its artifacts from ``models:/<name>@<alias>`` at start-up
(real uvicorn), hashes checked against the registry."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nb2svc.errors import ExitCode, RegistryError
from nb2svc.registry import ARTIFACTS_TAG, RegisterOptions, register_service
from tests.registry_support import Registered, registered, registry
from tests.service_support import free_port, golden_examples, start

__all__ = ["registered", "registry"]  # the session fixtures

pytestmark = pytest.mark.slow

STARTUP_FAILURE = 3  # the generated service's exit code for refused artifacts


def client_for(done: Registered) -> object:
    from mlflow import MlflowClient

    url = done.registry.url
    return MlflowClient(tracking_uri=url, registry_uri=url)


@pytest.fixture
def registry_env(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Registered:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.registry.url)
    monkeypatch.setenv("NB2SVC_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NB2SVC_MODEL_PINNED", raising=False)
    return registered


@pytest.fixture
def unpackaged(registered: Registered, tmp_path: Path) -> Path:
    """The champion's service with its packaged model file garbled: whatever it
    predicts correctly came from the registry."""
    out = tmp_path / "service" / "fraud_scoring"
    shutil.copytree(registered.champion, out)
    (out / "src/fraud_scoring/artifacts/fraud_model.joblib").write_bytes(b"garbled")
    return out


def predictions(url: str, examples: list[dict[str, object]]) -> list[object]:
    response = httpx.post(
        f"{url}/predict/batch", json=[e["input"] for e in examples], timeout=30
    )
    assert response.status_code == 200, response.text
    return list(response.json())


def test_build_register_logs_artifacts_manifest_and_link_back(
    registered: Registered,
) -> None:
    client = client_for(registered)
    manifest = json.loads((registered.champion / "nb2svc.json").read_text())
    version = client.get_model_version(registered.name, "1")  # type: ignore[attr-defined]
    tags = version.tags
    assert json.loads(tags[ARTIFACTS_TAG]) == manifest["artifacts"]
    assert tags["nb2svc.cells_sha256"] == manifest["cells_sha256"]
    assert tags["nb2svc.service"] == "fraud_scoring"
    assert tags["nb2svc.notebook"].endswith("fraud_scoring.ipynb")
    assert len(tags["nb2svc.notebook_sha256"]) == 64
    assert tags["nb2svc.version"] == manifest["nb2svc_version"]
    logged = {
        a.path
        for a in client.list_artifacts(version.run_id, "model")  # type: ignore[attr-defined]
    }
    assert logged == {"model/artifacts", "model/nb2svc.json"}
    files = {
        a.path
        for a in client.list_artifacts(version.run_id, "model/artifacts")  # type: ignore[attr-defined]
    }
    assert files == {f"model/artifacts/{n}" for n in manifest["artifacts"]}
    other = client.get_model_version(registered.name, "2")  # type: ignore[attr-defined]
    assert json.loads(other.tags[ARTIFACTS_TAG]) != manifest["artifacts"]


def test_registering_the_same_build_again_makes_no_new_version(
    registered: Registered,
) -> None:
    again = register_service(
        RegisterOptions(
            registered.champion,
            registered.champion.parent.parent / "bundled" / "fraud_scoring.ipynb",
            registered.registry.url,
            registered.name,
        )
    )
    assert not again.created
    assert again.uri == f"models:/{registered.name}/1"
    client = client_for(registered)
    versions = client.search_model_versions(f"name = '{registered.name}'")  # type: ignore[attr-defined]
    assert sorted(v.version for v in versions) == ["1", "2"]


@pytest.fixture
def champion_served(
    registry_env: Registered, unpackaged: Path, tmp_path: Path
) -> Iterator[str]:
    service = start(
        unpackaged, tmp_path / "champion.log", model_uri="models:/fraud@champion"
    )
    try:
        yield service.url
    finally:
        assert service.stop() == 0, service.log_text()


def test_service_serves_the_alias_from_the_registry(
    registry_env: Registered, champion_served: str
) -> None:
    examples = golden_examples(registry_env.champion)
    assert predictions(champion_served, examples) == [e["output"] for e in examples]
    metadata = httpx.get(f"{champion_served}/metadata", timeout=10).json()
    manifest = json.loads((registry_env.champion / "nb2svc.json").read_text())
    assert metadata["model"]["artifacts"] == manifest["artifacts"]


def test_moving_the_alias_serves_the_other_version(
    registry_env: Registered, unpackaged: Path, tmp_path: Path
) -> None:
    """A promotion is an alias move and a restart: the champion's service, started on
    the challenger's alias, answers with the retrained model."""
    service = start(
        unpackaged, tmp_path / "challenger.log", model_uri="models:/fraud@challenger"
    )
    try:
        examples = golden_examples(registry_env.challenger)
        answered = predictions(service.url, examples)
        assert answered == [e["output"] for e in examples]
        champion = golden_examples(registry_env.champion)
        assert answered != [e["output"] for e in champion]
        metadata = httpx.get(f"{service.url}/metadata", timeout=10).json()
        manifest = json.loads((registry_env.challenger / "nb2svc.json").read_text())
        assert metadata["model"]["artifacts"] == manifest["artifacts"]
    finally:
        assert service.stop() == 0, service.log_text()


def refused(out: Path, log: Path, uri: str) -> str:
    service = start(out, log, wait=False, model_uri=uri)
    code = service.proc.wait(120)
    assert code == STARTUP_FAILURE, service.log_text()
    return service.log_text()


def test_a_tampered_registered_file_is_refused(
    registry_env: Registered, unpackaged: Path, tmp_path: Path
) -> None:
    client = client_for(registry_env)
    run_id = client.get_model_version("fraud", "1").run_id  # type: ignore[attr-defined]
    [stored] = [
        p
        for p in registry_env.registry.artifacts.rglob("fraud_model.joblib")
        if run_id in p.parts
    ]
    original = stored.read_bytes()
    stored.write_bytes(original + b"\0")
    try:
        log = refused(unpackaged, tmp_path / "tampered.log", "models:/fraud@champion")
    finally:
        stored.write_bytes(original)
    assert "start-up stopped: models:/fraud/1: artifact fraud_model.joblib" in log
    assert "changed after registration" in log
    assert "Traceback" not in log


def test_an_unknown_alias_is_refused(
    registry_env: Registered, unpackaged: Path, tmp_path: Path
) -> None:
    log = refused(unpackaged, tmp_path / "unknown.log", "models:/fraud@nope")
    assert (
        "start-up stopped: models:/fraud@nope: the registry has no alias 'nope'" in log
    )
    assert "Traceback" not in log


# mlflow 3.17's sqlite store, in this process, on SQLAlchemy 2.1: not ours to fix.
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_default_registry_is_a_local_sqlite_store(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    done = register_service(
        RegisterOptions(
            registered.champion,
            registered.champion.parent.parent / "bundled" / "fraud_scoring.ipynb",
        )
    )
    root = tmp_path / "data" / "nb2svc" / "registry"
    assert done.tracking_uri == f"sqlite:///{root / 'mlflow.db'}"
    assert (done.created, done.uri) == (True, "models:/fraud_scoring/1")
    stored = sorted(p.name for p in (root / "artifacts").rglob("*") if p.is_file())
    assert stored == ["fraud_model.joblib", "nb2svc.json", "reference_profile.json"]


def test_an_unreachable_registry_is_exit_12(
    registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    notebook = registered.champion.parent.parent / "bundled" / "fraud_scoring.ipynb"
    with pytest.raises(RegistryError) as caught:
        register_service(
            RegisterOptions(
                registered.champion, notebook, f"http://127.0.0.1:{free_port()}"
            )
        )
    assert caught.value.exit_code == ExitCode.REGISTRY == 12
    assert "failed with exception" in str(caught.value)


def test_the_parity_report_is_logged_with_the_version(registered: Registered) -> None:
    report = {"outcome": "match", "examples": [{"status": "match"}]}
    notebook = registered.champion.parent.parent / "bundled" / "fraud_scoring.ipynb"
    done = register_service(
        RegisterOptions(
            registered.champion,
            notebook,
            registered.registry.url,
            "fraud-verified",
            report,
        )
    )
    assert (done.created, done.uri) == (True, "models:/fraud-verified/1")
    client = client_for(registered)
    version = client.get_model_version("fraud-verified", "1")  # type: ignore[attr-defined]
    assert version.tags["nb2svc.verify"] == "match"
    logged = client.download_artifacts(  # type: ignore[attr-defined]
        version.run_id, "model/verify.json", str(registered.champion.parent / "dl")
    )
    assert json.loads(Path(logged).read_text()) == report
