"""Kubernetes manifests for the generated service: a kustomize base in ``deploy/k8s/``.

Every manifest is built here as data and written by PyYAML (sorted keys, block style),
then parsed back before it is returned: no value is spliced into YAML text. The numbers
a platform team usually tunes are in :class:`DeploySettings`, whose defaults do not
depend on the notebook; overlays change them (``kustomize`` patches), the base stays
as generated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml

from nb2svc.model import ServiceSpec
from nb2svc.naming import k8s_name

FOLDER = "deploy/k8s"
PORT = 8000  # the image's PORT
UID = 10001  # the image's user and group
#: The service's own defaults (settings.py.jinja): the drain after SIGTERM, then
#: uvicorn's graceful shutdown of what is in flight. tests/test_k8s.py checks them.
DRAIN_SECONDS = 5.0
QUIET_SECONDS = 1.0  # lifecycle.QUIET_SECONDS: no request for this long ends the drain
SHUTDOWN_TIMEOUT = 20.0
#: Where the service writes: tempfile's folder, for the metrics and readiness folders.
WRITABLE = "/tmp"


@dataclass(frozen=True)
class DeploySettings:
    """Sizing of the Deployment; the same for every notebook (see the README)."""

    replicas: int = 2
    max_replicas: int = 10
    target_cpu_percent: int = 70
    cpu_request: str = "500m"
    memory_request: str = "512Mi"
    memory_limit: str = "1Gi"
    #: Before SIGTERM: time for the endpoints controller and the load balancers to stop
    #: sending new requests to a terminating pod.
    pre_stop_seconds: int = 5
    tmp_size: str = "64Mi"


def _labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "prediction-service",
        "app.kubernetes.io/managed-by": "nb2svc",
    }


def _selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def _probe(path: str, period: int, failures: int, timeout: int = 2) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def grace_seconds(settings: DeploySettings) -> int:
    """preStop, the drain, uvicorn's graceful shutdown, and a margin before SIGKILL."""
    return settings.pre_stop_seconds + math.ceil(
        DRAIN_SECONDS + QUIET_SECONDS + SHUTDOWN_TIMEOUT + 5
    )


def _container(spec: ServiceSpec, name: str, s: DeploySettings) -> dict[str, Any]:
    """The service's container: probes, resources, a locked-down security context."""
    return {
        "name": "service",
        "image": name,  # set by kustomization.yaml's images
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
        "env": [
            {
                "name": f"{spec.env_prefix}API_KEY",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": f"{name}-api-key",
                        "key": "api-key",
                        "optional": False,
                    }
                },
            }
        ],
        # The model loads in the background: live at once, ready once loaded.
        "startupProbe": _probe("/readyz", 5, 60),
        "readinessProbe": _probe("/readyz", 5, 2),
        "livenessProbe": _probe("/healthz", 10, 3),
        "lifecycle": {
            "preStop": {"exec": {"command": ["sleep", str(s.pre_stop_seconds)]}}
        },
        "resources": {
            "requests": {"cpu": s.cpu_request, "memory": s.memory_request},
            "limits": {"memory": s.memory_limit},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": WRITABLE}],
    }


def _deployment(spec: ServiceSpec, name: str, s: DeploySettings) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "replicas": s.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _selector(name)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": _labels(name)},
                "spec": {
                    "automountServiceAccountToken": False,
                    # Service links would set <NAME>_PORT=tcp://..., which is the
                    # service's own port setting when NAME is the service's name.
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": grace_seconds(s),
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [_container(spec, name, s)],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": s.tmp_size}}],
                },
            },
        },
    }


def _config(spec: ServiceSpec, name: str) -> dict[str, Any]:
    prefix = spec.env_prefix
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-config", "labels": _labels(name)},
        "data": {
            f"{prefix}HOST": "0.0.0.0",
            f"{prefix}PORT": str(PORT),
            # One worker per pod: the HorizontalPodAutoscaler adds pods, not workers.
            f"{prefix}WORKERS": "1",
            f"{prefix}LOG_LEVEL": "info",
        },
    }


def _service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(name),
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def _autoscaler(name: str, s: DeploySettings) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
            },
            "minReplicas": s.replicas,
            "maxReplicas": s.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": s.target_cpu_percent,
                        },
                    },
                }
            ],
        },
    }


def _disruption_budget(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(name)}},
    }


def _kustomization(name: str, resources: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        # kustomize edit set image NAME=registry/NAME@sha256:... in an overlay
        "images": [{"name": name, "newName": name, "newTag": "0.1.0"}],
    }


HEADER = (
    "# Generated by nb2svc: edit the notebook and regenerate rather than this file;\n"
    "# change a deployment with a kustomize overlay on this base.\n"
)


def dump_yaml(document: dict[str, Any]) -> bytes:
    """One YAML document, deterministic, parsed back before it is returned."""
    text = yaml.safe_dump(
        document,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=88,
    )
    if yaml.safe_load(text) != document:
        raise AssertionError("a manifest does not survive a YAML round trip")
    return (HEADER + text).encode("utf-8")


def render_manifests(
    spec: ServiceSpec, settings: DeploySettings | None = None
) -> dict[str, bytes]:
    """``deploy/k8s/*.yaml``: {relative path: content}, sorted."""
    s = settings or DeploySettings()
    name = k8s_name(spec.package)
    documents = {
        "configmap.yaml": _config(spec, name),
        "deployment.yaml": _deployment(spec, name, s),
        "hpa.yaml": _autoscaler(name, s),
        "pdb.yaml": _disruption_budget(name),
        "service.yaml": _service(name),
    }
    documents["kustomization.yaml"] = _kustomization(name, sorted(documents))
    return {
        f"{FOLDER}/{file}": dump_yaml(document)
        for file, document in sorted(documents.items())
    }


def deploy_context(
    spec: ServiceSpec, settings: DeploySettings | None = None
) -> dict[str, Any]:
    """What the generated README says about the manifests."""
    s = settings or DeploySettings()
    return {
        "name": k8s_name(spec.package),
        "folder": FOLDER,
        "replicas": s.replicas,
        "max_replicas": s.max_replicas,
        "target_cpu_percent": s.target_cpu_percent,
        "cpu_request": s.cpu_request,
        "memory_request": s.memory_request,
        "memory_limit": s.memory_limit,
        "pre_stop_seconds": s.pre_stop_seconds,
        "grace_seconds": grace_seconds(s),
    }
