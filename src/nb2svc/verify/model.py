"""The result of ``nb2svc verify``: a Report that owns its exit code."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from nb2svc.errors import Diagnostic, ExitCode
from nb2svc.verify.compare import Difference, Point, Tolerance


class Outcome(enum.Enum):
    MATCH = "match"
    MISMATCH = "mismatch"
    NONDETERMINISTIC = "nondeterministic"
    NOTEBOOK_FAILED = "notebook_failed"
    SERVICE_FAILED = "service_failed"


_EXIT_CODES = {
    Outcome.MATCH: ExitCode.OK,
    Outcome.MISMATCH: ExitCode.MISMATCH,
    Outcome.NONDETERMINISTIC: ExitCode.NONDETERMINISTIC,
    Outcome.NOTEBOOK_FAILED: ExitCode.NOTEBOOK_FAILED,
    Outcome.SERVICE_FAILED: ExitCode.SERVICE_FAILED,
}


@dataclass(frozen=True)
class ExampleResult:
    """One example: what the notebook returned, what the service answered."""

    index: int
    status: str  # "match" | "mismatch" | "error" (the service answered an error)
    input: Any
    notebook: Any
    service: Any  # /predict's answer (None on error)
    batch: Any  # this example's item of /predict/batch's answer
    latency_ms: float | None
    max_abs_error: float
    max_rel_error: float
    differences: tuple[Difference, ...] = ()
    points: tuple[Point, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Report:
    notebook: str  # file name
    out: str  # the service's directory, as given
    package: str
    outcome: Outcome
    tolerance: Tolerance
    runs: int
    build: str  # what verify did about the build, e.g. "up to date"
    examples: tuple[ExampleResult, ...] = ()
    #: differences that belong to no single example (batch length, golden file...)
    general: tuple[Difference, ...] = ()
    #: the notebook disagreeing with itself (between runs, or between two calls)
    nondeterminism: tuple[Difference, ...] = ()
    batch_latency_ms: float | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT_CODES[self.outcome]

    @property
    def differences(self) -> list[Difference]:
        """Every notebook-vs-service difference, general ones first."""
        return [*self.general, *(d for e in self.examples for d in e.differences)]
