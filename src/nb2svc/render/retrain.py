"""``src/<package>/retrain.json``: what ``python -m <package> retrain`` reruns, as data.

The notebook's code reaches the generated package as JSON strings (never spliced into
Python): the runtime's ``nb2svc_runtime.retrain`` reads this file and runs the cells
in a fresh kernel.
"""

from __future__ import annotations

import json

from nb2svc.model import CodeBlock, ServiceSpec

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


def retrain_document(spec: ServiceSpec) -> bytes | None:
    """The retrain plan of ``spec`` as JSON bytes, or None when it has no train cells."""
    plan = spec.retrain
    if plan is None:
        return None
    trained = set(plan.trained)
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
        "kept": sorted(a.name for a in spec.artifacts if a.name not in trained),
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
