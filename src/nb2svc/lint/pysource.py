"""A code cell as Python: IPython-only lines found and neutralised, line numbers kept.

Notebooks are written for IPython, not for Python: `!pip install ...`, `%time fit()`,
`files = !ls`, `%%bash` cells. Lint and tag need the Python underneath, with every
line still where it was, and a list of what was taken out.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass

#: Cell magics whose body is Python (the first line is the only IPython part).
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
#: Line magics that run the Python statement that follows them.
STATEMENT_MAGICS = frozenset({"time", "timeit", "prun"})

_CELL_MAGIC = re.compile(r"^\s*%%(?P<name>\w+)")
_LINE_MAGIC = re.compile(r"^(?P<indent>\s*)%(?P<name>\w+)(?P<rest>.*)$")
_SHELL = re.compile(r"^\s*!{1,2}(?P<command>.*)$")
_SHELL_ASSIGN = re.compile(
    r"^(?P<indent>\s*)(?P<targets>[A-Za-z_][\w]*(?:\s*,\s*[A-Za-z_]\w*)*)\s*=\s*"
    r"(?P<kind>!|%(?P<name>\w+))(?P<rest>.*)$"
)
#: Magics IPython runs without their % ("automagic"): `pip install pandas`.
_AUTOMAGIC = re.compile(
    r"^(?P<indent>\s*)(?P<name>pip|conda|cd|ls|pwd|mkdir|rm|cp|mv|cat|env|who|whos"
    r"|matplotlib|load_ext|reset|time|timeit|run|history)(?:\s+(?![=(\[.,:+\-*/%<>!&|^])"
    r"(?P<rest>.*))?$"
)
_HELP = re.compile(r"^\s*(?:\?{1,2}\s*[\w.]+|[\w.]+\s*\?{1,2})\s*$")


@dataclass(frozen=True)
class Magic:
    """One IPython-only construct in a cell."""

    line: int  # 1-based
    kind: str  # "shell" | "line" | "cell" | "help"
    name: str  # magic name ("pip", "cd", ...) or the shell command's first word
    text: str  # the line as written, stripped
    binds: tuple[str, ...] = ()  # `files = !ls` binds files


@dataclass(frozen=True)
class PyCell:
    """The Python in one code cell."""

    source: str
    code: str  # IPython lines neutralised, same line count as source
    tree: ast.Module | None  # None: not valid Python even without the magics
    magics: tuple[Magic, ...] = ()
    error: str | None = None
    error_line: int | None = None
    python: bool = True  # False for %%bash, %%html, ... cells

    @property
    def shell_or_magic(self) -> bool:
        return bool(self.magics)


def _parse(code: str) -> tuple[ast.Module | None, str | None, int | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like
            return ast.parse(code), None, None
    except SyntaxError as exc:
        return None, exc.msg, exc.lineno
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, deep nesting
        return None, str(exc) or exc.__class__.__name__, None


def _first_word(command: str) -> str:
    words = command.strip().split()
    return words[0] if words else ""


def parse_cell(source: str) -> PyCell:
    """Parse a code cell, neutralising IPython syntax; never raises."""
    tree, error, error_line = _parse(source)
    if tree is not None:
        return PyCell(source, source, tree)
    lines = source.splitlines()
    magics: list[Magic] = []
    first = next((i for i, text in enumerate(lines) if text.strip()), None)
    captured = ""
    if first is not None and (match := _CELL_MAGIC.match(lines[first])):
        name = match.group("name")
        binds = _capture_target(lines[first]) if name == "capture" else ()
        magics.append(Magic(first + 1, "cell", name, lines[first].strip(), binds))
        if name not in PYTHON_CELL_MAGICS:
            blank = "\n" * source.count("\n")
            return PyCell(
                source, blank, ast.Module([], []), tuple(magics), python=False
            )
        lines[first] = ""
        # `%%capture out` binds out (the captured output): keep it bound.
        captured = f"{binds[0]} = None" if binds else ""
    out: list[str] = []
    for number, text in enumerate(lines, start=1):
        if number - 1 == first and magics:
            out.append(captured)
            continue
        line, magic = _blank_magic(number, text)
        if magic is not None:
            magics.append(magic)
        out.append(line)
    code = "\n".join(out) + ("\n" if source.endswith("\n") else "")
    tree, error, error_line = _parse(code)
    return PyCell(source, code, tree, tuple(magics), error, error_line)


def _blank_magic(number: int, text: str) -> tuple[str, Magic | None]:
    """Line ``number`` as Python, and the IPython syntax it held (None for plain
    Python)."""
    if match := _SHELL_ASSIGN.match(text):
        targets = tuple(t.strip() for t in match.group("targets").split(","))
        name = match.group("name") or _first_word(match.group("rest"))
        kind = "line" if match.group("name") else "shell"
        # Keep the names bound, so later cells that use them are not flagged.
        line = f"{match.group('indent')}{', '.join(targets)} = None"
        return line, Magic(number, kind, name, text.strip(), targets)
    if match := _SHELL.match(text):
        command = _first_word(match.group("command"))
        return _placeholder(text), Magic(number, "shell", command, text.strip())
    if match := _LINE_MAGIC.match(text):
        name = match.group("name")
        rest = match.group("rest").strip()
        magic = Magic(number, "line", name, text.strip())
        if name in STATEMENT_MAGICS and rest and not rest.startswith("-"):
            return match.group("indent") + rest, magic
        return _placeholder(text), magic
    if (match := _AUTOMAGIC.match(text)) and _invalid(text.strip()):
        name = match.group("name")
        rest = (match.group("rest") or "").strip()
        magic = Magic(number, "line", name, text.strip())
        if name in STATEMENT_MAGICS and rest:
            return match.group("indent") + rest, magic
        return _placeholder(text), magic
    if _HELP.match(text):
        return "", Magic(number, "help", "?", text.strip())
    return text, None


def _capture_target(line: str) -> tuple[str, ...]:
    """The variable `%%capture [--no-stderr] [--no-stdout] [--no-display] [name]` binds."""
    words = [w for w in line.split()[1:] if not w.startswith("-")]
    return (words[0],) if words and words[0].isidentifier() else ()


def _placeholder(text: str) -> str:
    """`pass` at the line's indent keeps an indented block valid (`if x:\\n    !ls`)."""
    indent = text[: len(text) - len(text.lstrip())]
    return f"{indent}pass" if indent else ""


def _invalid(line: str) -> bool:
    """Is this single line not Python on its own (so IPython reads it as a magic)?"""
    tree, _, _ = _parse(line)
    return tree is None
