"""Machine-readable verify reports: ``--report out.json`` for CI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from nb2svc import __version__
from nb2svc.verify.compare import Difference
from nb2svc.verify.model import ExampleResult, Report

#: Bumped when a key changes meaning or disappears; new keys may appear any time.
REPORT_VERSION = 1


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _plain(value: Any) -> Any:
    """A strict-JSON copy: non-finite floats become null."""
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _difference(d: Difference) -> dict[str, Any]:
    return {
        "path": d.path,
        "detail": d.detail,
        "abs_error": _number(d.abs_error),
        "rel_error": _number(d.rel_error),
        "text": str(d),
    }


def _example(e: ExampleResult) -> dict[str, Any]:
    return {
        "index": e.index,
        "status": e.status,
        "max_abs_error": _number(e.max_abs_error),
        "max_rel_error": _number(e.max_rel_error),
        "latency_ms": _number(e.latency_ms),
        "error": e.error,
        "differences": [_difference(d) for d in e.differences],
        "input": _plain(e.input),
        "notebook": _plain(e.notebook),
        "service": _plain(e.service),
        "batch": _plain(e.batch),
    }


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "report_version": REPORT_VERSION,
        "nb2svc_version": __version__,
        "notebook": report.notebook,
        "out": report.out,
        "package": report.package,
        "outcome": report.outcome.value,
        "exit_code": int(report.exit_code),
        "build": report.build,
        "runs": report.runs,
        "tolerance": {"rtol": report.tolerance.rtol, "atol": report.tolerance.atol},
        "summary": {
            "examples": len(report.examples),
            "matched": sum(1 for e in report.examples if e.status == "match"),
            "max_abs_error": _number(
                max((e.max_abs_error for e in report.examples), default=0.0)
            ),
            "max_rel_error": _number(
                max((e.max_rel_error for e in report.examples), default=0.0)
            ),
            "batch_latency_ms": _number(report.batch_latency_ms),
        },
        "differences": [_difference(d) for d in report.differences],
        "nondeterminism": [_difference(d) for d in report.nondeterminism],
        "diagnostics": [d.as_json() for d in report.diagnostics],
        "environment": dict(report.environment),
        "examples": [_example(e) for e in report.examples],
    }


def render_json(report: Report) -> str:
    data = report_dict(report)
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_report(report: Report, path: Path) -> None:
    from nb2svc.shipped import check_report

    check_report(report, "JSON")  # refuses to write a possible secret
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_json(report), encoding="utf-8")
