"""The gate a retrained model must pass to be registered."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Metric names (sklearn.metrics' conventions) where lower is better.
_LOWER_IS_BETTER = ("_error", "_loss", "_deviance")


def greater_is_better(metric: str) -> bool:
    """sklearn.metrics' convention: ``*_error``, ``*_loss``, ``*_deviance`` are lower-
    is-better; every other score (accuracy, roc_auc_score, r2_score) higher."""
    return not metric.endswith(_LOWER_IS_BETTER)


@dataclass(frozen=True)
class Gate:
    """New must beat current by ``min_delta`` in the metric's better direction (a
    negative ``min_delta`` allows that much regression)."""

    min_delta: float = 0.0

    def judge(self, current: float, new: float, greater: bool) -> Verdict:
        delta = (new - current) if greater else (current - new)
        passed = math.isfinite(delta) and delta >= self.min_delta
        return Verdict(current, new, delta, passed)


@dataclass(frozen=True)
class Verdict:
    current: float
    new: float
    delta: float  # the improvement: positive is better, whatever the direction
    passed: bool
