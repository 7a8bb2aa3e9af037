"""What a comparison found: frozen values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from nb2svc.errors import ExitCode


@dataclass(frozen=True)
class Tolerance:
    """Two numbers agree when ``|a - b| <= atol + rtol * |a|`` (numpy's isclose)."""

    atol: float = 1e-6
    rtol: float = 1e-6


@dataclass(frozen=True)
class FieldAgreement:
    field: str
    kind: Literal["numeric", "categorical"]
    rows: int
    exact: int  # rows with equal values
    within: int  # rows that agree within the tolerance (== exact for categories)
    max_abs_diff: float | None  # numeric fields only
    mean_abs_diff: float | None

    @property
    def rate(self) -> float:
        return self.within / self.rows if self.rows else 1.0


@dataclass(frozen=True)
class FieldShift:
    """How the field's distribution over the rows moved from A to B."""

    field: str
    kind: Literal["numeric", "categorical"]
    psi: float  # population stability index, A's quantile bins (or categories)
    ks: float | None  # Kolmogorov-Smirnov statistic (numeric)
    ks_pvalue: float | None
    mean_a: float | None
    mean_b: float | None
    # categorical: label -> (share in A, share in B), labels sorted
    frequencies: tuple[tuple[str, float, float], ...] = ()


@dataclass(frozen=True)
class Disagreement:
    row: int  # 1-based row of the data file
    input: Any
    a: Any
    b: Any
    fields: tuple[str, ...]  # the fields that disagree
    score: float  # the largest absolute numeric difference; inf for a changed label


@dataclass(frozen=True)
class CompareReport:
    a: str
    b: str
    data: str
    rows: int
    tolerance: Tolerance
    max_disagreement: float  # the share of disagreeing rows still accepted
    agreement: tuple[FieldAgreement, ...]
    shift: tuple[FieldShift, ...]
    disagreements: tuple[Disagreement, ...]  # the largest, most different first
    disagreeing_rows: int
    #: each numeric field's outputs from A and from B (the HTML page plots them)
    numeric_values: dict[str, tuple[list[float], list[float]]] = field(
        default_factory=dict, repr=False, compare=False
    )
    #: values from the data shown redacted: they look like secrets (compare.redact)
    redacted: int = 0

    @property
    def disagreement_rate(self) -> float:
        return self.disagreeing_rows / self.rows if self.rows else 0.0

    @property
    def passed(self) -> bool:
        return self.disagreement_rate <= self.max_disagreement

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.passed else ExitCode.DISAGREE
