"""The template context: the only view of a ServiceSpec that templates see."""

from __future__ import annotations

from typing import Any

from nb2svc import __version__
from nb2svc.model import Role, ServiceSpec
from nb2svc.render.schema import build_schema, input_hint


def _call(spec: ServiceSpec) -> str:
    names = {fn.role: fn.name for fn in spec.functions}
    expr = "raw"
    for role in (Role.PREPROCESS, Role.PREDICT, Role.POSTPROCESS):
        if role in names:
            expr = f"{names[role]}({expr})"
    return expr


def _vectorised(spec: ServiceSpec) -> bool:
    """Frames are batched in one call when every example's output has one item per row."""
    ex = spec.examples
    if ex.input_kind != "frame":
        return False
    return all(
        isinstance(out, list) and len(out) == len(inp)
        for inp, out in zip(ex.inputs, ex.outputs, strict=True)
    )


def _input_annotation(spec: ServiceSpec) -> str | None:
    """The annotation of the first pipeline function's parameter, if any."""
    by_role = {fn.role: fn for fn in spec.functions}
    first = by_role.get(Role.PREPROCESS) or by_role.get(Role.PREDICT)
    return first.param_annotation if first else None


def _monitoring(spec: ServiceSpec) -> dict[str, Any]:
    """Monitoring: the reference profile, and which notebook config, if any, names the
    model and its version (``MODEL_NAME`` / ``MODEL_VERSION``)."""
    names = {s.name for s in spec.settings}
    return {
        "reference_profile": spec.reference_profile,
        "model_name_setting": "model_name" if "model_name" in names else None,
        "model_version_setting": "model_version" if "model_version" in names else None,
    }


def build_context(spec: ServiceSpec) -> dict[str, Any]:
    def block(b: Any) -> dict[str, Any]:
        return {
            "role": b.role.value,
            "cell": b.cell + 1,
            "cell_id": b.cell_id,
            "code": b.code,
        }

    return {
        "nb2svc_version": __version__,
        "notebook": spec.notebook,
        "notebook_cells_sha256": spec.cells_sha256,
        "service": {
            "name": spec.dist_name,
            "package": spec.package,
            "title": spec.title,
            "env_prefix": spec.env_prefix,
            "python_version": spec.python_version,
        },
        "requirements": list(spec.requirements),
        "test_requirements": list(spec.test_requirements),
        "settings": [
            {
                "name": s.name,
                "constant": s.constant,
                "env": s.env,
                # The variable is not <prefix><NAME> (no stutter): read it by alias.
                "env_alias": (
                    s.env if s.env != f"{spec.env_prefix}{s.name.upper()}" else None
                ),
                "type": s.type,
                "default": s.default,
            }
            for s in spec.settings
        ],
        "artifacts": [{"name": a.name, "sha256": a.sha256} for a in spec.artifacts],
        "io": {
            "input_kind": spec.examples.input_kind,
            "array_dtype": spec.examples.array_dtype,
            "vectorised_batch": _vectorised(spec),
        },
        "examples_count": len(spec.examples.inputs),
        "schema": build_schema(
            spec.examples,
            input_hint(_input_annotation(spec), [b.code for b in spec.blocks]),
        ),
        "monitoring": _monitoring(spec),
        "pipeline": {
            "imports": list(spec.imports),
            "blocks": [block(b) for b in spec.blocks if b.role is not Role.LOAD],
            "load_blocks": [block(b) for b in spec.blocks if b.role is Role.LOAD],
            "load_globals": list(spec.load_globals),
            "call": _call(spec),
        },
    }
