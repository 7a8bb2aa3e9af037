"""The build's render stage: the service package's files from the templates, and its
Kubernetes manifests, in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nb2svc.model import ServiceSpec
from nb2svc.render.context import ImageSpec, build_context
from nb2svc.render.engine import hash_templates, render_tree
from nb2svc.render.k8s import render_manifests
from nb2svc.render.runtime_wheel import RuntimeWheel


@dataclass(frozen=True)
class RenderedService:
    files: dict[str, bytes]  # from the templates: formatted next
    once: frozenset[str]  # paths created once, then owned by the user
    manifests: dict[str, bytes]  # deploy/k8s/*.yaml, written as they are
    templates_sha256: str


def render_service(
    spec: ServiceSpec, image: ImageSpec, runtime: RuntimeWheel, template_root: Path
) -> RenderedService:
    """Render ``template_root`` for ``spec`` and ``image`` on the vendored ``runtime``."""
    rendered = render_tree(template_root, build_context(spec, image, runtime))
    return RenderedService(
        rendered.files,
        rendered.once,
        render_manifests(spec),
        hash_templates(template_root),
    )
