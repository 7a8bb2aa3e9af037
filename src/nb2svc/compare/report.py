"""``nb2svc compare --json``: the report as JSON (numbers that are not finite become
null, so any JSON parser reads it)."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from nb2svc.compare.model import CompareReport


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def report_dict(report: CompareReport) -> dict[str, Any]:
    return {
        "exit_code": int(report.exit_code),
        "passed": report.passed,
        "a": report.a,
        "b": report.b,
        "data": report.data,
        "rows": report.rows,
        "disagreeing_rows": report.disagreeing_rows,
        "disagreement_rate": _plain(report.disagreement_rate),
        "max_disagreement": report.max_disagreement,
        "redacted": report.redacted,
        "tolerance": dataclasses.asdict(report.tolerance),
        "agreement": [
            {**_plain(dataclasses.asdict(f)), "rate": _plain(f.rate)}
            for f in report.agreement
        ],
        "shift": [
            {
                **_plain(
                    {
                        k: v
                        for k, v in dataclasses.asdict(s).items()
                        if k != "frequencies"
                    }
                ),
                "frequencies": {
                    label: {"a": a, "b": b} for label, a, b in s.frequencies
                },
            }
            for s in report.shift
        ],
        "disagreements": [_plain(dataclasses.asdict(d)) for d in report.disagreements],
    }


def render_json(report: CompareReport) -> str:
    return (
        json.dumps(report_dict(report), indent=2, sort_keys=True, allow_nan=False)
        + "\n"
    )
