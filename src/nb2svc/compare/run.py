"""Orchestration of ``nb2svc compare``: returns the report, never prints or exits."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nb2svc.compare.data import read_rows
from nb2svc.compare.model import CompareReport, Tolerance
from nb2svc.compare.redact import redacted_report
from nb2svc.compare.scoring import parse_side, score, serving
from nb2svc.compare.stats import compare_outputs


@dataclass(frozen=True)
class CompareOptions:
    a: str
    b: str
    data: Path
    service: Path | None = None  # serves models:/ sides
    tolerance: Tolerance = field(default_factory=Tolerance)
    top: int = 10
    max_disagreement: float = 0.0
    startup_timeout: float = 120.0


def compare(options: CompareOptions) -> CompareReport:
    rows = read_rows(options.data)
    side_a = parse_side(options.a, options.service, options.b)
    side_b = parse_side(options.b, options.service, options.a)
    with tempfile.TemporaryDirectory(prefix="nb2svc-compare-") as tmp:
        with serving(side_a, Path(tmp) / "a", options.startup_timeout) as url:
            outputs_a = score(side_a, url, rows)
        with serving(side_b, Path(tmp) / "b", options.startup_timeout) as url:
            outputs_b = score(side_b, url, rows)
    report = compare_outputs(
        rows,
        outputs_a,
        outputs_b,
        names=(options.a, options.b, options.data.name),
        tolerance=options.tolerance,
        top=options.top,
        max_disagreement=options.max_disagreement,
    )
    return redacted_report(report)  # what it shows of the data, secrets redacted
