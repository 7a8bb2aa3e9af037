"""The template context: the only view of a ServiceSpec that templates see."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nb2svc import __version__
from nb2svc.model import Role, ServiceSpec
from nb2svc.render.ci import ci_context
from nb2svc.render.k8s import deploy_context
from nb2svc.render.runtime_wheel import RuntimeWheel
from nb2svc.render.schema import build_schema, input_hint
from nb2svc.requirements import pin
from nb2svc.wheelhashes import LOCK_FILE


@dataclass(frozen=True)
class ImageSpec:
    """What the build found out about the service's image, beyond the notebook."""

    base_image: str  # FROM, a tag or a digest
    system_packages: tuple[str, ...] = ()  # Debian packages the wheels' libraries need
    build_backend_locked: bool = True  # setuptools is in the lock: build offline

    @classmethod
    def for_python(cls, version: str, **facts: Any) -> ImageSpec:
        """The official slim image of that Python, unless ``base_image`` says other."""
        base = facts.pop("base_image", None) or f"python:{version}-slim"
        return cls(base, **facts)


#: Optional extras of the generated service (not in its image): Parquet files and the
#: Dask and Spark engines of `python -m <package> score`, and Arrow bodies; pinned as
#: installed here.
SCORE_EXTRAS = {
    "files": ("pyarrow",),
    "dask": ("pyarrow", "dask", "distributed"),
    "spark": ("pyarrow", "pyspark"),
    # Arrow IPC request and response bodies (nb2svc_runtime.columnar).
    "arrow": ("pyarrow",),
}


def score_extras() -> list[dict[str, Any]]:
    return [
        {"name": name, "requirements": [pin(dist) for dist in dists]}
        for name, dists in SCORE_EXTRAS.items()
    ]


#: `python -m <package> retrain`: a kernel and the registry client, pinned as installed
#: here; an extra of the generated service, never in its image.
RETRAIN_EXTRA = ("nbclient", "ipykernel", "mlflow-skinny")


def _retrain(spec: ServiceSpec) -> dict[str, Any] | None:
    """What the README and CI say about retraining, when the notebook has train
    cells."""
    plan = spec.retrain
    if plan is None:
        return None
    setting = next(s for s in spec.settings if s.constant == plan.data)
    return {
        "data_constant": plan.data,
        "data_env": setting.env,
        "metric": plan.metric,
        "holdout": list(plan.holdout),
        "cells": [b.cell + 1 for b in plan.cells if b.role is Role.TRAIN],
        "requirements": [pin(dist) for dist in RETRAIN_EXTRA],
    }


def _call(spec: ServiceSpec) -> str:
    names = {fn.role: fn.name for fn in spec.functions}
    expr = "raw"
    for role in (Role.PREPROCESS, Role.PREDICT, Role.POSTPROCESS):
        if role in names:
            expr = f"{names[role]}({expr})"
    return expr


def _vectorised(spec: ServiceSpec) -> bool:
    """A batch is one pipeline call when the capture saw the combined examples answer
    what the per-item calls answered (frames, arrays, texts, records)."""
    return spec.examples.batch_vectorised


def _input_annotation(spec: ServiceSpec) -> str | None:
    """The annotation of the first pipeline function's parameter, if any."""
    by_role = {fn.role: fn for fn in spec.functions}
    first = by_role.get(Role.PREPROCESS) or by_role.get(Role.PREDICT)
    return first.param_annotation if first else None


def _monitoring(spec: ServiceSpec) -> dict[str, Any]:
    """Monitoring: the reference profile, and which notebook config, if any, names the
    model and its version (``MODEL_NAME`` / ``MODEL_VERSION``)."""
    names = {s.name for s in spec.settings}
    found = {
        "reference_profile": spec.reference_profile,
        "model_name_setting": "model_name" if "model_name" in names else None,
        "model_version_setting": "model_version" if "model_version" in names else None,
    }
    # The runtime's ModelSpec(...) arguments, only those set, in its field order.
    fields = ("name_setting", "version_setting", "reference_profile")
    keys = ("model_name_setting", "model_version_setting", "reference_profile")
    model_spec = [(f, found[k]) for f, k in zip(fields, keys, strict=True) if found[k]]
    return {**found, "model_spec": model_spec}


#: Names templates write as they are, since naming.py derived them: checked here.
_NAMES = {
    "package": re.compile(r"[a-z_][a-z0-9_]*"),
    "dist_name": re.compile(r"[a-z0-9][a-z0-9-]*"),
    "title": re.compile(r"[A-Za-z0-9][A-Za-z0-9 ]*"),
    "env_prefix": re.compile(r"[A-Z_][A-Z0-9_]*"),
}


def _check_names(spec: ServiceSpec) -> None:
    for attribute, pattern in _NAMES.items():
        value = getattr(spec, attribute)
        if not pattern.fullmatch(value):
            raise ValueError(f"{attribute} {value!r} was not derived by naming.py")
    code_names = [s.name for s in spec.settings] + [s.constant for s in spec.settings]
    code_names += [fn.name for fn in spec.functions] + list(spec.load_globals)
    code_names += list(spec.notebook_main)
    for name in code_names:  # written into code as they are
        if not name.isidentifier():
            raise ValueError(f"{name!r} is not an identifier")


def build_context(
    spec: ServiceSpec, image: ImageSpec, runtime: RuntimeWheel
) -> dict[str, Any]:
    """Everything the templates see, for ``spec`` built into ``image`` on the vendored
    ``runtime``."""
    _check_names(spec)
    return {
        **_notebook_context(spec),
        "runtime": runtime.context(),
        "base_image": image.base_image,
        "lock_file": LOCK_FILE,
        "system_packages": list(image.system_packages),
        "build_backend_locked": image.build_backend_locked,
        **ci_context(),
        "deploy": deploy_context(spec),
        "retrain": _retrain(spec),
    }


def _settings(spec: ServiceSpec) -> list[dict[str, Any]]:
    return [
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
            # A list or dict default goes through Field(): a mutable class
            # attribute is what ruff's RUF012 flags.
            "mutable": s.type.startswith(("list[", "dict[")),
        }
        for s in spec.settings
    ]


def _notebook_context(spec: ServiceSpec) -> dict[str, Any]:

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
        "score_extras": score_extras(),
        "settings": _settings(spec),
        "artifacts": [{"name": a.name, "sha256": a.sha256} for a in spec.artifacts],
        "io": {
            "input_kind": spec.examples.input_kind,
            "array_dtype": spec.examples.array_dtype,
            "vectorised_batch": _vectorised(spec),
            "batch_split": spec.examples.batch_split,
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
            "notebook_main": list(spec.notebook_main),
            "call": _call(spec),
        },
    }
