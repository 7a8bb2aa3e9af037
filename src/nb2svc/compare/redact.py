"""What ``nb2svc compare`` shows of the data, with every probable secret redacted.

The rows compared are a data file or recent traffic: a card number or an API key can
sit in an input column, and an output can echo it. The report goes to a terminal, a CI
log, a JSON file or an HTML page attached to a review, so every value it shows from
the data (a disagreement's input and both outputs, a label's share in the
distribution shift) is scanned as ``build`` scans the data it ships
(:func:`nb2svc.shipped.scan_json`: detect-secrets, Luhn-checked card numbers, key
shapes), and each hit is shown redacted (``4111******** (16 chars)``), keeping enough
to recognise the row, never enough to use the value. A side given as a URL with a
password (``http://user:token@host``) is shown without the password.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from nb2svc.compare.model import CompareReport, Disagreement, FieldShift
from nb2svc.lint.secrets import redact
from nb2svc.shipped import DataHit, scan_json

#: The leaves that hit, by their path in the scanned document.
_Found = dict[tuple[str | int, ...], list[DataHit]]


def redacted_report(report: CompareReport) -> CompareReport:
    """The report with every probable secret among the data's values redacted, and
    ``redacted`` counting the values changed; the report itself when none hits."""
    document = {
        "disagreements": [
            {"input": d.input, "a": d.a, "b": d.b} for d in report.disagreements
        ],
        "shift": [[label for label, _, _ in s.frequencies] for s in report.shift],
    }
    found: _Found = {}
    for hit in scan_json(document):
        found.setdefault(hit.path, []).append(hit)
    a, b = shown_side(report.a), shown_side(report.b)
    if not found and (a, b) == (report.a, report.b):
        return report
    disagreements = tuple(
        _disagreement(d, ("disagreements", index), found)
        for index, d in enumerate(report.disagreements)
    )
    shift = tuple(
        _shift(s, ("shift", index), found) for index, s in enumerate(report.shift)
    )
    return dataclasses.replace(
        report,
        a=a,
        b=b,
        disagreements=disagreements,
        shift=shift,
        redacted=report.redacted + len(found),
    )


def redacted_note(count: int) -> str:
    """The line every form of the report carries when values were redacted."""
    values = "value" if count == 1 else "values"
    return (
        f"{count} {values} from the data looked like secrets (card numbers, keys) "
        "and are shown redacted."
    )


def shown_side(side: str) -> str:
    """A side as the report shows it: a URL's password replaced by ``****``."""
    try:
        parts = urlsplit(side)
        password = parts.password
    except ValueError:
        return side
    if not password:
        return side
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username or ''}:****@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _disagreement(
    d: Disagreement, at: tuple[str | int, ...], found: _Found
) -> Disagreement:
    return dataclasses.replace(
        d,
        input=_value(d.input, (*at, "input"), found),
        a=_value(d.a, (*at, "a"), found),
        b=_value(d.b, (*at, "b"), found),
    )


def _shift(s: FieldShift, at: tuple[str | int, ...], found: _Found) -> FieldShift:
    if not s.frequencies:
        return s
    frequencies = []
    seen: dict[str, int] = {}
    for index, (label, share_a, share_b) in enumerate(s.frequencies):
        shown = _leaf(label, found.get((*at, index), []))
        seen[shown] = seen.get(shown, 0) + 1
        if seen[shown] > 1:  # two labels redacted alike stay two labels
            shown = f"{shown} #{seen[shown]}"
        frequencies.append((shown, share_a, share_b))
    return dataclasses.replace(s, frequencies=tuple(frequencies))


def _value(value: Any, path: tuple[str | int, ...], found: _Found) -> Any:
    """``value`` (a JSON value at ``path``) with its hits redacted: scalars and keys."""
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            inner = (*path, str(key))
            keys = [hit for hit in found.get(inner, []) if hit.key]
            result[_leaf(str(key), keys) if keys else key] = _value(item, inner, found)
        return result
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_value(item, (*path, index), found) for index, item in enumerate(value)]
    hits = [hit for hit in found.get(path, []) if not hit.key]
    return _leaf(value, hits) if hits else value


def _leaf(value: Any, hits: Sequence[DataHit]) -> Any:
    """A scalar with each secret that hit in it redacted; a number that hit (a card
    number read as an int) becomes its redacted text."""
    if not hits:
        return value
    if not isinstance(value, str):
        return redact(str(int(value)))
    for hit in hits:
        value = value.replace(hit.value, redact(hit.value))
    return value
