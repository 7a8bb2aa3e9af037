"""The generated Kubernetes base (deploy/k8s/): valid against the Kubernetes JSON
schemas (kubernetes-validate, offline), consistent with itself (labels, selectors,
ports, names), with the service (probes hit its real routes, settings are its settings,
the grace period covers its drain) and with the image (user, writable folder)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from nb2svc.render.k8s import (
    DRAIN_SECONDS,
    QUIET_SECONDS,
    SHUTDOWN_TIMEOUT,
    DeploySettings,
    grace_seconds,
)
from nb2svc_runtime import lifecycle
from nb2svc_runtime.settings import ServiceSettings
from tests.service_support import built_service, package_of, serving

K8S = "deploy/k8s"
#: The oldest Kubernetes release still supported upstream when this was written, and
#: the newest the validator knows.
VERSIONS = ("1.31.0", kubernetes_validate.latest_version())


def manifests(out: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted((out / K8S).glob("*.yaml")):
        documents = list(yaml.safe_load_all(path.read_text()))
        assert len(documents) == 1, path
        found[path.name] = documents[0]
    return found


def by_kind(out: Path) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in manifests(out).values()}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_service(tmp_path_factory, "fraud_scoring")


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(
    out: Path, version: str
) -> None:
    kinds = by_kind(out)
    assert sorted(kinds) == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Kustomization",
        "PodDisruptionBudget",
        "Service",
    ]
    for kind, manifest in kinds.items():
        if kind == "Kustomization":
            continue  # kustomize's own file, not an API object
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_validator_rejects_what_kubernetes_would(out: Path) -> None:
    """The check above can fail: a misspelt field is refused in strict mode."""
    deployment = by_kind(out)["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {
        "httpGet": {"path": "/readyz", "port": "http"}
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


@pytest.mark.slow
def test_the_kustomization_lists_every_manifest_and_sets_the_image(out: Path) -> None:
    files = manifests(out)
    kustomization = files["kustomization.yaml"]
    assert kustomization["resources"] == sorted(set(files) - {"kustomization.yaml"})
    container = by_kind(out)["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    (image,) = kustomization["images"]
    assert image["name"] == container["image"]


@pytest.mark.slow
def test_names_labels_selectors_and_ports_agree(out: Path) -> None:
    kinds = by_kind(out)
    deployment, service = kinds["Deployment"], kinds["Service"]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    pdb = kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    assert pdb.items() <= labels.items()
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] in ports
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in ports
    target = kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (
        "Deployment",
        deployment["metadata"]["name"],
    )
    config = kinds["ConfigMap"]["metadata"]["name"]
    assert container["envFrom"] == [{"configMapRef": {"name": config}}]


def _settings_defaults(out: Path) -> dict[str, Any]:
    """The generated Settings class's fields and literal defaults: the runtime's
    ServiceSettings', then the notebook's, read from settings.py's AST."""
    source = (out / "src" / package_of(out) / "settings.py").read_text()
    assert "class Settings(ServiceSettings):" in source
    fields: dict[str, Any] = {
        name: field.default for name, field in ServiceSettings.model_fields.items()
    }
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            value = node.value
            if isinstance(value, ast.Call) and value.args:  # Field(default, ...)
                value = value.args[0]
            try:
                fields[node.target.id] = ast.literal_eval(value) if value else None
            except ValueError:
                fields[node.target.id] = None
    return fields


@pytest.mark.slow
def test_settings_are_the_services_own_and_the_api_key_a_required_secret(
    out: Path,
) -> None:
    kinds = by_kind(out)
    prefix = package_of(out).upper() + "_"
    fields = _settings_defaults(out)
    for key in kinds["ConfigMap"]["data"]:
        assert key.startswith(prefix) and key.removeprefix(prefix).lower() in fields
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    (api_key,) = container["env"]
    assert api_key["name"] == f"{prefix}API_KEY" and "api_key" in fields
    assert api_key["valueFrom"]["secretKeyRef"]["optional"] is False
    # <NAME>_PORT=tcp://... from service links would be the service's own port setting
    assert (
        kinds["Deployment"]["spec"]["template"]["spec"]["enableServiceLinks"] is False
    )


@pytest.mark.slow
def test_the_grace_period_covers_pre_stop_drain_and_shutdown(out: Path) -> None:
    fields = _settings_defaults(out)
    assert (fields["drain_seconds"], fields["shutdown_timeout"]) == (
        DRAIN_SECONDS,
        SHUTDOWN_TIMEOUT,
    )
    assert lifecycle.QUIET_SECONDS == QUIET_SECONDS
    pod = by_kind(out)["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pre_stop == DeploySettings().pre_stop_seconds
    assert pod["terminationGracePeriodSeconds"] == grace_seconds(DeploySettings())
    assert pod["terminationGracePeriodSeconds"] > (
        pre_stop + DRAIN_SECONDS + QUIET_SECONDS + SHUTDOWN_TIMEOUT
    )


@pytest.mark.slow
def test_the_pod_runs_locked_down_as_the_images_user(out: Path) -> None:
    pod = by_kind(out)["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    dockerfile = (out / "Dockerfile").read_text()
    uid = security["runAsUser"]
    assert f"USER {uid}:{security['runAsGroup']}" in dockerfile
    assert pod["securityContext"]["runAsNonRoot"] is True
    # The only place it writes (tempfile's folder, the image's WORKDIR) is an emptyDir.
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == "/tmp"
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"] and "emptyDir" in volume
    assert "WORKDIR /tmp" in dockerfile
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.slow
def test_the_probes_hit_the_services_real_routes(out: Path, tmp_path: Path) -> None:
    """The service, run for real on loopback with the ConfigMap's settings (but the
    loopback host and a free port), answers 200 on every probe's path."""
    copy = tmp_path / "service"
    shutil.copytree(out, copy)
    kinds = by_kind(copy)
    prefix = package_of(copy).upper() + "_"
    settings = {
        key.removeprefix(prefix).lower(): value
        for key, value in kinds["ConfigMap"]["data"].items()
        if key.removeprefix(prefix) not in {"HOST", "PORT"}
    }
    (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    paths = {
        container[p]["httpGet"]["path"]
        for p in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert paths == {"/readyz", "/healthz"}
    with serving(copy, tmp_path / "service.log", **settings) as service:
        for path in sorted(paths):
            response = httpx.get(service.url + path, timeout=10)
            assert response.status_code == 200, (path, response.text)
        assert httpx.get(service.url + "/nothing-here", timeout=10).status_code == 404


@pytest.mark.slow
def test_the_manifests_are_yaml_written_by_a_serialiser(out: Path) -> None:
    for path in sorted((out / K8S).glob("*.yaml")):
        text = path.read_text()
        body = "".join(
            line + "\n" for line in text.splitlines() if not line.startswith("#")
        )
        assert (
            yaml.safe_dump(
                yaml.safe_load(body), sort_keys=True, default_flow_style=False, width=88
            )
            == body
        ), path


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
)
def test_the_image_serves_under_the_pods_security_context(
    out: Path, tmp_path: Path
) -> None:
    """The real image, run as the Deployment locks it down (read-only root, a tmpfs
    where the emptyDir is, the uid, every capability dropped, no new privileges, the
    ConfigMap's settings), becomes ready and answers a golden example."""
    import time
    import uuid

    from nb2svc.docker_build import build_image
    from tests.service_support import free_port, golden_examples
    from tests.test_docker import _engine, close

    engine = _engine()
    if isinstance(engine, str):
        pytest.skip(f"no Docker engine can be had here: {engine}")
    kinds = by_kind(out)
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    (container_spec,) = pod["containers"]
    security = container_spec["securityContext"]
    (mount,) = container_spec["volumeMounts"]
    prefix = package_of(out).upper() + "_"
    port = free_port()
    environment = {
        **kinds["ConfigMap"]["data"],
        f"{prefix}HOST": "127.0.0.1",
        f"{prefix}PORT": str(port),
        f"{prefix}API_KEY": "k8s-test-key",
    }
    tag = f"nb2svc-test-k8s:{uuid.uuid4().hex[:12]}"
    build_image(out, tag)
    container = None
    try:
        container = engine.containers.run(
            tag,
            detach=True,
            network_mode="host",  # loopback only
            environment=environment,
            user=f"{security['runAsUser']}:{security['runAsGroup']}",
            read_only=security["readOnlyRootFilesystem"],
            tmpfs={mount["mountPath"]: "size=64m"},
            cap_drop=security["capabilities"]["drop"],
            security_opt=["no-new-privileges"],
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            container.reload()
            assert container.status in ("created", "running"), container.logs()
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, container.logs().decode()[-3000:]
            time.sleep(0.2)
        example = golden_examples(out)[0]
        headers = {"X-API-Key": "k8s-test-key"}
        response = httpx.post(
            base + "/predict", json=example["input"], headers=headers, timeout=30
        )
        assert response.status_code == 200, response.text
        assert close(example["output"], response.json())
        container.stop(timeout=pod["terminationGracePeriodSeconds"])
        assert container.wait(timeout=60)["StatusCode"] == 0
        assert "Read-only file system" not in container.logs().decode()
    finally:
        if container is not None:
            container.remove(force=True)
        engine.images.remove(tag, force=True)
        engine.close()
