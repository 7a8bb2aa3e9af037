"""``src/<package>/retrain.json``: what ``python -m <package> retrain`` reruns, as data.

The notebook's code reaches the generated package as JSON strings (never spliced into
Python): the runtime's ``nb2svc_runtime.retrain`` reads this file and runs the cells
in a fresh kernel.
"""

from __future__ import annotations

import json

from nb2svc.model import CodeBlock, ServiceSpec
from nb2svc_runtime.reference import profile_names

RETRAIN_FILE = "retrain.json"
#: The document's format, checked by the runtime.
FORMAT = 1


def _cell(block: CodeBlock) -> dict[str, object]:
    return {
        "role": block.role.value,
        "cell": block.cell + 1,
        "cell_id": block.cell_id,
        "code": block.code,
    }


def _reference(spec: ServiceSpec) -> dict[str, object] | None:
    """What retrain needs to rebuild the drift profile as the build made it: the
    cells to rerun, the pipeline's functions, the example's columns and features."""
    plan = spec.retrain
    if plan is None or spec.reference_profile is None or not plan.reference:
        return None
    examples = spec.examples
    return {
        "file": spec.reference_profile,
        "cells": [_cell(b) for b in plan.reference],
        "functions": dict(plan.functions),
        "columns": [list(c) for c in examples.columns],
        "names": profile_names(examples.inputs, examples.input_kind),
    }


def retrain_document(spec: ServiceSpec) -> bytes | None:
    """The retrain plan of ``spec`` as JSON bytes, or None when it has no train cells."""
    plan = spec.retrain
    if plan is None:
        return None
    trained = set(plan.trained)
    reference = _reference(spec)
    rebuilt = {spec.reference_profile} if reference is not None else set()
    document = {
        "format": FORMAT,
        "notebook": spec.notebook,
        "service": spec.package,
        "cells_sha256": spec.cells_sha256,
        "data": plan.data,
        "holdout": list(plan.holdout),
        "metric": plan.metric,
        "cells": [_cell(b) for b in plan.cells],
        "evaluate": [_cell(b) for b in plan.evaluate],
        "call": plan.call,
        "input_kind": spec.examples.input_kind,
        "trained": sorted(trained),
        "kept": sorted(
            a.name for a in spec.artifacts if a.name not in trained | rebuilt
        ),
        "reference": reference,
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
