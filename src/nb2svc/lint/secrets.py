"""Credentials in a notebook's cells and outputs, found with detect-secrets.

detect-secrets (Yelp's maintained detector: keyword assignments, AWS/GitHub/Slack/
Stripe/OpenAI/... token formats, private keys, basic-auth URLs, high-entropy strings)
does the finding; two detectors it lacks are added here: payment card numbers (Luhn
check on a known issuer prefix) and Google API keys. A line ending in
``# pragma: allowlist secret`` is left alone, as in detect-secrets itself.

A secret's value never leaves this module in clear: messages show ``redact(value)``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from nb2svc.errors import Diagnostic, Severity
from nb2svc.lint.outputs import NotebookExtras, read_extras
from nb2svc.model import RawNotebook

#: detect-secrets plugins left out: public IP addresses are not credentials.
_SKIPPED_PLUGINS = frozenset({"IPPublicDetector"})
#: detect-secrets' own false-positive filters, minus "indirect reference", which drops
#: every line of the form `x = call(...)` — and with it `connect("postgres://u:pw@h")`.
_FILTERS = (
    "detect_secrets.filters.allowlist.is_line_allowlisted",
    "detect_secrets.filters.heuristic.is_sequential_string",
    "detect_secrets.filters.heuristic.is_potential_uuid",
    "detect_secrets.filters.heuristic.is_likely_id_string",
    "detect_secrets.filters.heuristic.is_templated_secret",
    "detect_secrets.filters.heuristic.is_prefixed_with_dollar_sign",
    "detect_secrets.filters.heuristic.is_not_alphanumeric_string",
)
_ALLOWLISTED = re.compile(r"pragma:\s*allowlist[ -]secret", re.IGNORECASE)
#: Not inside a longer number: a printed float's decimals (0.4010792443028479) are
#: digits after a point, and a card number is followed by no decimal part either.
_CARD = re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w-]|\.\d)")
_GOOGLE_KEY = re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")
_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=.:@]+")
_MAX_LINE = 4000  # longer lines are scanned in overlapping windows
_MAX_LINES_PER_TEXT = 20000
#: Values shorter than this are not searched for in generated files (too common).
MIN_LEAK_LENGTH = 6

_lock = threading.Lock()


@dataclass(frozen=True)
class Secret:
    """A probable credential: where it is, what kind, and its value (never printed)."""

    cell: int  # 0-based cell index
    cell_id: str | None
    line: int  # 1-based line in the cell's source, or in the output's text
    output: int | None  # None: in the source; else the 1-based output number
    kinds: tuple[str, ...]
    value: str

    @property
    def redacted(self) -> str:
        return redact(self.value)

    def where(self) -> str:
        if self.output is None:
            return f"cell {self.cell + 1} line {self.line}"
        return f"cell {self.cell + 1} output {self.output} line {self.line}"


def redact(value: str) -> str:
    """Enough to recognise a secret, never enough to use it."""
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:4]}{'*' * 8} ({len(value)} chars)"


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_issuer(digits: str) -> bool:
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    return (
        (digits[0] == "4" and n in (13, 16, 19))
        or (51 <= two <= 55 and n == 16)
        or (2221 <= four <= 2720 and n == 16)
        or (two in (34, 37) and n == 15)
        or ((four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649) and n >= 16)
    )


def _extra_detectors(line: str) -> Iterator[tuple[str, str]]:
    for match in _CARD.finditer(line):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and _card_issuer(digits) and _luhn(digits):
            yield "Payment Card Number", match.group().strip()
    for match in _GOOGLE_KEY.finditer(line):
        yield "Google API Key", match.group()


def _leak_value(value: str, line: str) -> str:
    """The whole token around a short match (detect-secrets reports 'ghp' for a GitHub
    token), so that looking for it elsewhere finds the token, not three letters."""
    if len(value) >= 12 or value not in line:
        return value
    best = value
    for match in _TOKEN.finditer(line):
        if value in match.group() and len(match.group()) > len(best):
            best = match.group()
    return best


def _windows(line: str) -> Iterator[str]:
    if len(line) <= _MAX_LINE:
        yield line
        return
    step = _MAX_LINE - 200
    for start in range(0, len(line), step):
        yield line[start : start + _MAX_LINE]


def _scan(
    lines: list[tuple[int, str]], filename: str
) -> Iterator[tuple[int, str, str]]:
    """(line, kind, value) for every probable secret; detect-secrets plus our own."""
    from detect_secrets.core.scan import _process_line_based_plugins

    chunks = [(n, w) for n, text in lines for w in _windows(text)]
    by_line = dict(chunks)
    for secret in _process_line_based_plugins(chunks, filename):
        number = int(secret.line_number)
        value = str(secret.secret_value or "")
        text = by_line.get(number, "")
        if value:
            yield number, str(secret.type), _leak_value(value, text)
    for number, text in chunks:
        if _ALLOWLISTED.search(text):
            continue
        for kind, value in _extra_detectors(text):
            yield number, kind, value


def _settings() -> dict[str, object]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    plugins: list[type] = list(get_mapping_from_secret_type_to_class().values())
    names = sorted(
        plugin.__name__ for plugin in plugins if plugin.__name__ not in _SKIPPED_PLUGINS
    )
    return {
        "plugins_used": [{"name": n} for n in names],
        "filters_used": [{"path": p} for p in _FILTERS],
    }


def find_secrets(nb: RawNotebook, extras: NotebookExtras) -> list[Secret]:
    """Every probable secret in any cell's source and in the saved outputs."""
    from detect_secrets.settings import transient_settings

    found: dict[tuple[int, int | None, int, str], set[str]] = {}
    # detect-secrets keeps its settings in a global: one scan at a time.
    with _lock, transient_settings(_settings()):
        for cell in nb.cells:
            lines = list(enumerate(cell.source.splitlines(), start=1))
            name = "cell.py" if cell.cell_type == "code" else "cell.md"
            for number, kind, value in _scan(lines, name):
                found.setdefault((cell.index, None, number, value), set()).add(kind)
            outputs = extras.outputs.get(cell.index)
            for output in outputs.texts if outputs else ():
                text_lines = output.text.splitlines()[:_MAX_LINES_PER_TEXT]
                numbered = list(enumerate(text_lines, start=1))
                for number, kind, value in _scan(numbered, "output.txt"):
                    key = (cell.index, output.number, number, value)
                    found.setdefault(key, set()).add(kind)
    ids = {c.index: c.cell_id for c in nb.cells}
    secrets = [
        Secret(index, ids.get(index), line, output, tuple(sorted(kinds)), value)
        for (index, output, line, value), kinds in found.items()
    ]
    return _drop_contained(
        sorted(secrets, key=lambda s: (s.cell, s.output or 0, s.line, s.value))
    )


def redact_lines(lines: list[str]) -> list[str]:
    """The lines with every probable secret in them redacted, for text that nb2svc
    shows (progress, logs); a line whose secret cannot be cut out is hidden whole."""
    from detect_secrets.settings import transient_settings

    numbered = list(enumerate(lines, start=1))
    found: dict[int, set[str]] = {}
    with _lock, transient_settings(_settings()):
        for number, _kind, value in _scan(numbered, "cell.py"):
            found.setdefault(number, set()).add(value)
    shown = []
    for number, line in numbered:
        values = found.get(number, set())
        if any(value not in line for value in values):
            line = "(line hidden: it holds a possible secret)"
        else:
            for value in sorted(values, key=len, reverse=True):
                line = line.replace(value, redact(value))
        shown.append(line)
    return shown


def _drop_contained(secrets: list[Secret]) -> list[Secret]:
    """One report per credential: a value inside a longer one on the same line goes."""
    kept = []
    for s in secrets:
        others = [
            o
            for o in secrets
            if o is not s
            and (o.cell, o.output, o.line) == (s.cell, s.output, s.line)
            and s.value in o.value
            and len(o.value) > len(s.value)
        ]
        if not others:
            kept.append(s)
    return kept


def leaks(
    files: Mapping[str, bytes], secrets: Iterable[Secret]
) -> list[tuple[str, Secret]]:
    """(file, secret) for every generated file that contains a secret's value."""
    found = []
    needles = [(s, _needles(s)) for s in secrets]
    for path in sorted(files):
        content = files[path]
        for secret, options in needles:
            if any(n in content for n in options):
                found.append((path, secret))
    return found


def _needles(secret: Secret) -> list[bytes]:
    """The byte strings that would give a secret away (a card also without spaces)."""
    values = {secret.value.strip()}
    if "Payment Card Number" in secret.kinds:
        values.add(re.sub(r"[ -]", "", secret.value))
    return [v.encode("utf-8") for v in sorted(values) if len(v) >= MIN_LEAK_LENGTH]


def secret_leaks(
    path: Path, nb: RawNotebook, files: Mapping[str, bytes]
) -> list[Diagnostic]:
    """NB1110, once per secret of the notebook that generated files would contain."""
    secrets = find_secrets(nb, read_extras(path))
    if not secrets:
        return []
    where: dict[Secret, list[str]] = {}
    for rel, secret in leaks(files, secrets):
        where.setdefault(secret, []).append(rel)
    return [
        Diagnostic(
            Severity.ERROR,
            nb.cells[secret.cell].location(
                nb.name, secret.line if secret.output is None else None
            ),
            f"the service would contain a possible secret "
            f"({', '.join(secret.kinds)}) from {secret.where()}: {secret.redacted} "
            f"(in {', '.join(files_)}); nothing was written",
            "read it at run time from an environment variable (os.environ[...]) in a "
            "load cell instead of writing it in the notebook; if it is not a secret, "
            "end its line with '# pragma: allowlist secret'",
            "NB1110",
        )
        for secret, files_ in where.items()
    ]
