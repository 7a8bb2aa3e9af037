"""``nb2svc compare --html FILE``: one self-contained page, readable offline.

Inline CSS and inline SVG only; a Content-Security-Policy forbids everything else
(scripts, fonts, stylesheets, images from anywhere). Every value from the data or the
models is HTML-escaped.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any

from nb2svc import __version__
from nb2svc.compare.model import CompareReport, FieldShift
from nb2svc.compare.redact import redacted_note

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_A, _B = "#2f6fbf", "#d4762c"
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:1120px;padding:0 16px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;
border-bottom:1px solid #d0d7de;padding-bottom:4px}
.badge{display:inline-block;color:#fff;border-radius:6px;padding:3px 10px;font-weight:600}
.sub{color:#59636e;margin:6px 0 0}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;
border-bottom:1px solid #eaeef2;vertical-align:top}th{background:#f6f8fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
background:#f6f8fa;padding:6px;border-radius:6px;overflow:auto;max-height:200px;margin:0}
.plots{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}
figcaption{color:#59636e;font-size:12.5px}.key-a{color:#2f6fbf}.key-b{color:#d4762c}
"""


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "∞"
    return f"{value:.{digits}g}"


def _json(value: Any) -> str:
    return escape(json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True))


def _bars(title: str, labels: list[str], a: list[float], b: list[float]) -> str:
    """Grouped bars: A's and B's share per bin or label."""
    width, height, pad = 520, 220, 30
    top = max([*a, *b, 1e-9])
    step = (width - 2 * pad) / max(len(labels), 1)
    bar = step * 0.4
    parts = [
        f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height + 40}" role="img" aria-label="{escape(title)}">',
        f'<line x1="{pad}" y1="{height}" x2="{width - pad}" y2="{height}" '
        'stroke="#8c959f"/>',
    ]
    for i, label in enumerate(labels):
        x = pad + i * step + step * 0.1
        for offset, share, colour in ((0, a[i], _A), (bar, b[i], _B)):
            h = (height - pad) * share / top
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{height - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: '
                f"{share:.3f}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar:.1f}" y="{height + 14}" font-size="10" '
            f'text-anchor="middle">{escape(label[:12])}</text>'
        )
    parts.append("</svg>")
    parts.append(
        f"<figcaption>{escape(title)}: share of rows, "
        '<span class="key-a">■ A</span> <span class="key-b">■ B</span></figcaption>'
        "</figure>"
    )
    return "".join(parts)


def _histogram(shift: FieldShift, a: list[float], b: list[float]) -> str:
    values = [v for v in (*a, *b) if math.isfinite(v)]
    if not values:
        return ""
    low, high = min(values), max(values)
    bins = 10
    span = (high - low) or 1.0

    def shares(xs: list[float]) -> list[float]:
        counts = [0] * bins
        finite = [x for x in xs if math.isfinite(x)]
        for x in finite:
            counts[min(int((x - low) / span * bins), bins - 1)] += 1
        return [c / len(finite) if finite else 0.0 for c in counts]

    labels = [f"{low + span * i / bins:.3g}" for i in range(bins)]
    return _bars(shift.field, labels, shares(a), shares(b))


def render_html(report: CompareReport) -> str:
    rows = [
        *_head(report),
        *_agreement(report),
        *_shift(report),
        *_disagreements(report),
        "</body></html>\n",
    ]
    return "\n".join(rows)


def _head(report: CompareReport) -> list[str]:
    colour = "#1a7f37" if report.passed else "#cf222e"
    verdict = "AGREE" if report.passed else "DISAGREE"
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>nb2svc compare — {verdict}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>nb2svc compare: {escape(report.a)} vs {escape(report.b)}</h1>",
        f'<span class="badge" style="background:{colour}">{verdict}</span>',
        f'<p class="sub">{report.rows} rows of {escape(report.data)}; '
        f"{report.disagreeing_rows} disagree ({report.disagreement_rate:.2%}, "
        f"accepted up to {report.max_disagreement:.2%}); numbers agree within "
        f"atol {report.tolerance.atol:g} + rtol {report.tolerance.rtol:g}. "
        f"nb2svc {escape(__version__)}.</p>",
        *_redacted(report),
    ]


def _redacted(report: CompareReport) -> list[str]:
    if not report.redacted:
        return []
    return [f'<p class="sub">{redacted_note(report.redacted)}</p>']


def _agreement(report: CompareReport) -> list[str]:
    rows = [
        "<h2>Agreement per output field</h2><table><tr><th>field</th><th>kind</th>"
        "<th>exact</th><th>within tolerance</th><th>max |A&minus;B|</th>"
        "<th>mean |A&minus;B|</th></tr>",
    ]
    for f in report.agreement:
        rows.append(
            f"<tr><td>{escape(f.field)}</td><td>{f.kind}</td>"
            f'<td class="num">{f.exact}/{f.rows}</td>'
            f'<td class="num">{f.within}/{f.rows} ({f.rate:.2%})</td>'
            f'<td class="num">{_num(f.max_abs_diff)}</td>'
            f'<td class="num">{_num(f.mean_abs_diff)}</td></tr>'
        )
    rows.append("</table>")
    return rows


def _shift(report: CompareReport) -> list[str]:
    values = report.numeric_values
    rows = [
        "<h2>Shift of the prediction distribution</h2><table><tr>"
        "<th>field</th><th>PSI</th><th>KS</th><th>KS p-value</th><th>mean A</th>"
        "<th>mean B</th></tr>"
    ]
    for s in report.shift:
        rows.append(
            f'<tr><td>{escape(s.field)}</td><td class="num">{_num(s.psi)}</td>'
            f'<td class="num">{_num(s.ks)}</td><td class="num">{_num(s.ks_pvalue)}</td>'
            f'<td class="num">{_num(s.mean_a)}</td><td class="num">{_num(s.mean_b)}</td>'
            "</tr>"
        )
    rows.append('</table><div class="plots">')
    for s in report.shift:
        if s.kind == "numeric" and s.field in values:
            rows.append(_histogram(s, *values[s.field]))
        elif s.frequencies:
            labels = [label for label, _, _ in s.frequencies]
            rows.append(
                _bars(
                    s.field,
                    labels,
                    [a for _, a, _ in s.frequencies],
                    [b for _, _, b in s.frequencies],
                )
            )
    rows.append("</div>")
    return rows


def _disagreements(report: CompareReport) -> list[str]:
    rows = ["<h2>Largest disagreements</h2>"]
    if not report.disagreements:
        rows.append("<p>None: every row agrees.</p>")
        return rows
    rows.append(
        "<table><tr><th>row</th><th>fields</th><th>input</th><th>A</th><th>B</th></tr>"
    )
    for d in report.disagreements:
        rows.append(
            f'<tr><td class="num">{d.row}</td><td>{escape(", ".join(d.fields))}'
            f"</td><td><pre>{_json(d.input)}</pre></td><td><pre>{_json(d.a)}"
            f"</pre></td><td><pre>{_json(d.b)}</pre></td></tr>"
        )
    rows.append("</table>")
    return rows


def write_html(report: CompareReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
