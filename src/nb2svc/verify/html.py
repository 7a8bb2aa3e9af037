"""``--html out.html``: one self-contained page a reviewer can open offline.

No scripts, fonts or stylesheets from anywhere: inline CSS, and plots drawn here as
inline SVG. Two plots for the numeric outputs: notebook value against service value
(every point on the diagonal when they agree), and each value's relative error on a
log scale against the tolerance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from nb2svc import __version__
from nb2svc.verify.compare import Point
from nb2svc.verify.model import ExampleResult, Outcome, Report

_COLOURS = {
    Outcome.MATCH: "#1a7f37",
    Outcome.MISMATCH: "#cf222e",
    Outcome.NONDETERMINISTIC: "#bc4c00",
    Outcome.NOTEBOOK_FAILED: "#cf222e",
    Outcome.SERVICE_FAILED: "#cf222e",
}
_OK, _BAD = "#2f6fbf", "#cf222e"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:1120px;padding:0 16px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;
border-bottom:1px solid #d0d7de;padding-bottom:4px}
.badge{display:inline-block;color:#fff;border-radius:6px;padding:3px 10px;
font-weight:600;letter-spacing:.03em}
.sub{color:#59636e;margin:6px 0 0}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;
border-bottom:1px solid #eaeef2;vertical-align:top}th{background:#f6f8fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kv th{width:190px;background:none;color:#59636e;font-weight:500}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
font-size:12.5px}
pre{background:#f6f8fa;padding:8px;border-radius:6px;overflow:auto;max-height:260px;
margin:4px 0}
.st-match{color:#1a7f37;font-weight:600}.st-mismatch,.st-error{color:#cf222e;
font-weight:600}
ul.diffs{padding-left:20px}ul.diffs li{margin:2px 0}
.diag-error{color:#cf222e}.diag-warning{color:#9a6700}
.plots{display:flex;flex-wrap:wrap;gap:16px}.plots figure{margin:0}
figcaption{color:#59636e;font-size:12.5px;max-width:520px}
.cols{display:grid;grid-template-columns:repeat(4,1fr);gap:8px}
.cols h4{margin:4px 0;font-size:12.5px;color:#59636e}
details summary{cursor:pointer;color:#2f6fbf}
"""


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if math.isinf(value):
        return "∞"
    return f"{value:.2e}"


def _json(value: Any, limit: int = 6000) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=True)
    return text if len(text) <= limit else text[:limit] + "\n…"


def render_html(report: Report) -> str:
    colour = _COLOURS[report.outcome]
    label = report.outcome.value.replace("_", " ").upper()
    matched = sum(1 for e in report.examples if e.status == "match")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>nb2svc verify: {escape(report.notebook)} — {label}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>nb2svc verify: {escape(report.notebook)}</h1>",
        f'<p><span class="badge" style="background:{colour}">{label}</span> '
        f"exit code {int(report.exit_code)} · {matched} of {len(report.examples)} "
        "examples match</p>",
        f'<p class="sub">Does the service in <code>{escape(report.out)}</code> answer '
        "what the notebook returns? Every example was run through the notebook's own "
        "preprocess → predict → postprocess and sent to the running service, one by "
        "one and as one batch.</p>",
        _summary(report),
    ]
    if report.diagnostics:
        parts.append("<h2>Notes</h2><ul>")
        for d in report.diagnostics:
            hint = f"<br><small>hint: {escape(d.hint)}</small>" if d.hint else ""
            parts.append(
                f'<li class="diag-{d.severity.value}"><b>{d.severity.value}</b> '
                f"<code>{escape(str(d.location))}</code>: "
                f"<span>{escape(d.message)}</span>{hint}</li>"
            )
        parts.append("</ul>")
    if report.nondeterminism:
        parts.append("<h2>The notebook disagrees with itself</h2>")
        parts.append(_diff_list([str(d) for d in report.nondeterminism]))
    if report.differences:
        parts.append(f"<h2>Differences ({len(report.differences)})</h2>")
        parts.append(_diff_list([str(d) for d in report.differences]))
    if report.examples:
        points = [p for e in report.examples for p in e.points]
        parts.append("<h2>Numeric outputs: notebook vs service</h2>")
        parts.append(_plots(points, report.tolerance.rtol, report.tolerance.atol))
        parts.append("<h2>Examples</h2>")
        parts.append(_examples(report.examples))
    if report.environment:
        rows = "".join(
            f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>"
            for k, v in report.environment
        )
        parts.append(f'<h2>Environment</h2><table class="kv">{rows}</table>')
    parts.append(
        f'<p class="sub">Generated by nb2svc {escape(__version__)}. '
        "This page is self-contained: it loads nothing.</p></body></html>"
    )
    return "\n".join(parts) + "\n"


def write_html(report: Report, path: Path) -> None:
    from nb2svc.shipped import check_report

    check_report(report, "HTML")  # refuses to write a possible secret
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")


def _summary(report: Report) -> str:
    rows: list[tuple[str, str]] = [
        ("notebook", report.notebook),
        ("service", f"{report.out} (package {report.package})"),
        ("build", report.build),
        (
            "tolerance",
            f"rtol {report.tolerance.rtol:g}, atol {report.tolerance.atol:g}; "
            "strings, integers and booleans exact",
        ),
        ("notebook runs", str(report.runs)),
    ]
    if report.batch_latency_ms is not None:
        rows.append(("batch latency", f"{report.batch_latency_ms:.1f} ms"))
    body = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows
    )
    return f'<table class="kv">{body}</table>'


def _diff_list(lines: Sequence[str], limit: int = 200) -> str:
    items = "".join(f'<li class="mono">{escape(line)}</li>' for line in lines[:limit])
    more = (
        f"<li>… and {len(lines) - limit} more (see the JSON report)</li>"
        if len(lines) > limit
        else ""
    )
    return f'<ul class="diffs">{items}{more}</ul>'


def _examples(examples: Sequence[ExampleResult]) -> str:
    rows = [
        "<table><tr><th>#</th><th>status</th><th>max abs error</th>"
        "<th>max rel error</th><th>latency</th><th>first difference</th></tr>"
    ]
    for e in examples:
        first = escape(str(e.differences[0])) if e.differences else ""
        if len(e.differences) > 1:
            first += f" <small>(+{len(e.differences) - 1} more)</small>"
        latency = f"{e.latency_ms:.1f} ms" if e.latency_ms is not None else "-"
        rows.append(
            f"<tr><td>{e.index}</td><td class='st-{e.status}'>{e.status}</td>"
            f"<td class='num'>{_fmt(e.max_abs_error)}</td>"
            f"<td class='num'>{_fmt(e.max_rel_error)}</td>"
            f"<td class='num'>{latency}</td><td class='mono'>{first}</td></tr>"
        )
        service = e.service if e.error is None else e.error
        cols = "".join(
            f"<div><h4>{title}</h4><pre>{escape(_json(value))}</pre></div>"
            for title, value in (
                ("input", e.input),
                ("notebook", e.notebook),
                ("service /predict", service),
                ("service /predict/batch", e.batch),
            )
        )
        rows.append(
            f"<tr><td></td><td colspan='5'><details><summary>values of example "
            f"{e.index}</summary><div class='cols'>{cols}</div></details></td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


# --- plots ---------------------------------------------------------------------

W, H = 520, 400
ML, MR, MT, MB = 78, 18, 16, 48  # margins: left, right, top, bottom


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo
    raw = span / max(count, 1)
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * step:
            step *= factor
            break
    first = math.ceil(lo / step) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def _domain(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        pad = abs(hi) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _frame(title_x: str, title_y: str) -> list[str]:
    return [
        f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{H - MT - MB}" '
        'fill="#fff" stroke="#d0d7de"/>',
        f'<text x="{(ML + W - MR) / 2}" y="{H - 10}" text-anchor="middle" '
        f'font-size="12" fill="#59636e">{escape(title_x)}</text>',
        f'<text transform="translate(16 {(MT + H - MB) / 2}) rotate(-90)" '
        f'text-anchor="middle" font-size="12" fill="#59636e">{escape(title_y)}</text>',
    ]


def _scatter(points: Sequence[Point]) -> str:
    lo, hi = _domain([v for p in points for v in (p.expected, p.actual)])

    def sx(v: float) -> float:
        return ML + (v - lo) / (hi - lo) * (W - ML - MR)

    def sy(v: float) -> float:
        return H - MB - (v - lo) / (hi - lo) * (H - MT - MB)

    svg = _frame("notebook value", "service value")
    for t in _nice_ticks(lo, hi):
        svg.append(
            f'<line x1="{sx(t):.1f}" y1="{MT}" x2="{sx(t):.1f}" y2="{H - MB}" '
            f'stroke="#eaeef2"/><text x="{sx(t):.1f}" y="{H - MB + 16}" '
            f'text-anchor="middle" font-size="11" fill="#59636e">{t:.4g}</text>'
            f'<line x1="{ML}" y1="{sy(t):.1f}" x2="{W - MR}" y2="{sy(t):.1f}" '
            f'stroke="#eaeef2"/><text x="{ML - 6}" y="{sy(t) + 4:.1f}" '
            f'text-anchor="end" font-size="11" fill="#59636e">{t:.4g}</text>'
        )
    svg.append(
        f'<line x1="{sx(lo):.1f}" y1="{sy(lo):.1f}" x2="{sx(hi):.1f}" '
        f'y2="{sy(hi):.1f}" stroke="#8c959f" stroke-dasharray="5 4"/>'
    )
    for p in sorted(points, key=lambda p: p.ok, reverse=True):  # misses on top
        colour, radius = (_OK, 4) if p.ok else (_BAD, 6)
        svg.append(
            f'<circle cx="{sx(p.expected):.1f}" cy="{sy(p.actual):.1f}" r="{radius}" '
            f'fill="{colour}" fill-opacity="0.65" stroke="{colour}">'
            f"<title>{escape(p.path)}: notebook {p.expected!r} vs service "
            f"{p.actual!r}</title></circle>"
        )
    return _svg(svg, "notebook value against service value")


def _errors(points: Sequence[Point], rtol: float) -> str:
    floor, top = -16, 0  # decades: 1e-16 .. 1

    def rel(p: Point) -> float:
        scale = max(abs(p.expected), abs(p.actual))
        return abs(p.expected - p.actual) / scale if scale else 0.0

    def sy(r: float) -> float:
        decade = floor - 1 if r <= 0 else min(max(math.log10(r), floor), top)
        return H - MB - (decade - floor + 1) / (top - floor + 1) * (H - MT - MB)

    n = len(points)

    def sx(i: int) -> float:
        return ML + (i + 0.5) / n * (W - ML - MR)

    svg = _frame("numeric value (in example order)", "relative error")
    for decade in range(floor, top + 1, 2):
        y = sy(10.0**decade)
        svg.append(
            f'<line x1="{ML}" y1="{y:.1f}" x2="{W - MR}" y2="{y:.1f}" '
            f'stroke="#eaeef2"/><text x="{ML - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#59636e">1e{decade}</text>'
        )
    y0 = sy(0.0)
    svg.append(
        f'<text x="{ML - 6}" y="{y0 + 4:.1f}" text-anchor="end" font-size="11" '
        'fill="#59636e">0</text>'
    )
    if rtol > 0:
        y = sy(rtol)
        svg.append(
            f'<line x1="{ML}" y1="{y:.1f}" x2="{W - MR}" y2="{y:.1f}" '
            f'stroke="{_BAD}" stroke-dasharray="6 4"/><text x="{W - MR - 4}" '
            f'y="{y - 5:.1f}" text-anchor="end" font-size="11" fill="{_BAD}">'
            f"rtol {rtol:g}</text>"
        )
    for i, p in enumerate(points):
        colour, radius = (_OK, 3.5) if p.ok else (_BAD, 5.5)
        svg.append(
            f'<circle cx="{sx(i):.1f}" cy="{sy(rel(p)):.1f}" r="{radius}" '
            f'fill="{colour}" fill-opacity="0.65" stroke="{colour}">'
            f"<title>{escape(p.path)}: relative error {rel(p):.3g}</title></circle>"
        )
    return _svg(svg, "relative error of each numeric value, log scale")


def _svg(body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}">'
        + "".join(body)
        + "</svg>"
    )


def _plots(points: Sequence[Point], rtol: float, atol: float) -> str:
    if not points:
        return "<p>The outputs hold no numbers to plot.</p>"
    bad = sum(1 for p in points if not p.ok)
    return (
        '<div class="plots"><figure>'
        + _scatter(points)
        + f"<figcaption>Each of the {len(points)} numbers in the outputs (from "
        "/predict and /predict/batch): the notebook's value across, the service's "
        f"up. Agreeing values sit on the dashed diagonal; {bad} outside the "
        "tolerance are drawn larger, in red.</figcaption></figure><figure>"
        + _errors(points, rtol)
        + "<figcaption>The same numbers' relative error, |notebook - service| / "
        f"max(|notebook|, |service|). Values above the rtol line (and above atol "
        f"{atol:g} in absolute terms) differ; exact agreement sits at 0."
        "</figcaption></figure></div>"
    )
