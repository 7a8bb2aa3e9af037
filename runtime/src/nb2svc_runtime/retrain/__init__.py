"""``python -m <package> retrain --data NEW``: the notebook's train cells rerun on new
data in a fresh kernel, the new model scored against the current one on the held-out
slice the train cells keep aside, and registered in MLflow only when it passes a gate.

The generated package ships what to rerun as data (``retrain.json``, written by
``nb2svc build`` from the notebook's ``train`` cells); this package runs it. The kernel
and the registry client are the ``retrain`` extra: ``pip install '<service>[retrain]'``.
"""

from __future__ import annotations

from .gate import Gate, Verdict
from .plan import PlanError, RetrainPlan, load_plan
from .run import RetrainError, RetrainResult, retrain

__all__ = [
    "Gate",
    "PlanError",
    "RetrainError",
    "RetrainPlan",
    "RetrainResult",
    "Verdict",
    "load_plan",
    "retrain",
]
