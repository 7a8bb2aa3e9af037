"""Serialisers that write data as data: text from a notebook or its data reaches a
generated file only through one of these, made for the file's syntax.

- ``python_literal``: a deterministic Python literal (``pyrepr`` in templates);
- ``toml_value``: a TOML value (tomli-w);
- ``prose``: user text made harmless inside a comment or a docstring;
- ``markdown_code``: a Markdown code span whatever backticks the text holds;
- ``shell_word``: one word of a POSIX shell command.

Nothing here imports other nb2svc modules.
"""

from __future__ import annotations

import math
import re
from typing import Any

import tomli_w

#: Replaces, in prose, every character that could end a comment or a docstring.
PROSE_PLACEHOLDER = "?"
_BACKTICKS = re.compile(r"`+")


def python_literal(value: Any) -> str:
    """A Python expression that evaluates to ``value``: the same text on every machine
    (sets and frozensets sorted by their items' literals, floats by repr). Strings are
    ASCII, every other character escaped (``\\xe9``, ``\\u200b``): a reviewer sees
    exactly which characters the data holds (homoglyphs, zero-width and bidirectional
    controls), and linters find nothing to flag."""
    if isinstance(value, str):
        return ascii(value)
    if value is None or isinstance(value, bool | int | bytes):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else '-float("inf")'
        return repr(value)
    if isinstance(value, complex):
        return f"complex({python_literal(value.real)}, {python_literal(value.imag)})"
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        items = [python_literal(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, dict):
        pairs = (f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, set | frozenset):
        items = sorted(python_literal(v) for v in value)
        if not items:
            return "set()" if isinstance(value, set) else "frozenset()"
        text = "{" + ", ".join(items) + "}"
        return text if isinstance(value, set) else f"frozenset({text})"
    if value is Ellipsis:
        return "..."
    raise TypeError(f"no Python literal for a {type(value).__name__}")


def toml_value(value: str | int | float | bool) -> str:
    """A TOML string, number or boolean for ``value``, by tomli-w."""
    if not isinstance(value, str | int | float | bool):
        raise TypeError(f"no TOML scalar for a {type(value).__name__}")
    line = tomli_w.dumps({"v": value}, multiline_strings=False)
    assert line.startswith("v = ") and line.endswith("\n"), line
    return line[len("v = ") : -1]


def shell_word(text: str) -> str:
    """``text`` as one POSIX shell word, always single-quoted (as shlex.quote quotes)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _harmless(char: str) -> bool:
    return char.isprintable() and char not in '\\"`'


def prose(text: str) -> str:
    """``text`` on one line, fit for a Python comment or docstring, a TOML, YAML or
    Dockerfile comment: every character that is not printable (line breaks, NUL,
    U+2028, lone surrogates), a backslash, a double quote or a backtick becomes ``?``.
    Where the exact text matters, write it as a literal instead."""
    return "".join(c if _harmless(c) else PROSE_PLACEHOLDER for c in text)


def markdown_code(text: str, table: bool = False) -> str:
    """A Markdown code span showing ``text``: its fence is one backtick longer than
    the longest run of backticks in it; line breaks become spaces (a code span shows
    them so), NUL becomes U+FFFD (as CommonMark reads it). ``table``: in a table cell,
    where ``|`` must be escaped even inside a code span."""
    text = "".join(
        " " if c in "\r\n\v\f\x85\u2028\u2029" else c
        for c in text.replace("\0", "\ufffd")
    )
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates: "?"
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    if (
        text.startswith("`")
        or text.endswith("`")
        or (text.startswith(" ") and text.endswith(" ") and text.strip(" "))
    ):
        text = f" {text} "
    return f"{fence}{text}{fence}"
