"""Parse before write: every generated file is parsed in memory, by the parser of its
syntax, before anything is written. A file that does not parse (an nb2svc bug, a
broken custom template, or hostile input that got past the serialisers) stops the
build: a half-valid package is never written."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from collections.abc import Callable, Collection, Mapping
from pathlib import PurePosixPath

import yaml

from nb2svc.errors import Diagnostic, Location, Severity

_TOML_LINE = re.compile(r"at line (\d+)")


def _python(text: str, name: str) -> None:
    compile(text, name, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)


def _toml(text: str, name: str) -> None:
    tomllib.loads(text)


def _yaml(text: str, name: str) -> None:
    for _ in yaml.safe_load_all(text):
        pass


def _json(text: str, name: str) -> None:
    json.loads(text)


PARSERS: dict[str, Callable[[str, str], None]] = {
    ".py": _python,
    ".toml": _toml,
    ".yaml": _yaml,
    ".yml": _yaml,
    ".json": _json,
}


def _line(exc: Exception) -> int | None:
    """The 1-based line a parser's error points at, when it says."""
    if isinstance(exc, SyntaxError | json.JSONDecodeError):
        return exc.lineno
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        return int(exc.problem_mark.line) + 1
    match = _TOML_LINE.search(str(exc))
    return int(match.group(1)) if match else None


def _message(exc: Exception) -> str:
    if isinstance(exc, SyntaxError):
        return exc.msg
    return " ".join(str(exc).split())


def syntax_errors(
    files: Mapping[str, bytes], skip: Collection[str] = (), hint: str | None = None
) -> list[Diagnostic]:
    """One error per file of ``files`` (but ``skip``) whose syntax, known from its
    suffix (.py, .toml, .yaml/.yml, .json), does not parse; text files must be UTF-8."""
    problems = []
    for rel in sorted(files):
        parse = PARSERS.get(PurePosixPath(rel).suffix)
        if parse is None or rel in skip:
            continue
        try:
            parse(files[rel].decode("utf-8"), rel)
        except UnicodeDecodeError as exc:
            problems.append(_diagnostic(rel, f"is not UTF-8: {exc.reason}", None, hint))
        except (
            SyntaxError,
            ValueError,  # NUL bytes in Python source, JSON and TOML errors
            yaml.YAMLError,
        ) as exc:
            problems.append(
                _diagnostic(rel, f"does not parse: {_message(exc)}", _line(exc), hint)
            )
    return problems


def _diagnostic(
    rel: str, message: str, line: int | None, hint: str | None
) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR,
        Location(rel, line=line),
        f"generated file {message}; nothing was written",
        hint,
        "NB802",
    )
