"""Render a template directory into an in-memory tree: {relative posix path: bytes}."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from nb2svc.errors import Diagnostic, Location, Severity, UserError
from nb2svc.literals import (
    markdown_code,
    prose,
    python_literal,
    shell_word,
    toml_value,
)

SUFFIX = ".jinja"
#: A file whose rendered name ends in ``.once`` belongs to the user: it is created when
#: missing and never overwritten, checked or deleted (the extension module, say).
ONCE = ".once"


@dataclass(frozen=True)
class RenderedTree:
    files: dict[str, bytes]  # relative posix path -> content, sorted
    once: frozenset[str] = frozenset()  # paths created once, then owned by the user


#: The serialisers templates write data with (see nb2svc.literals): ``pyrepr`` a Python
#: literal, ``toml`` a TOML value, ``prose`` text for a comment or docstring, ``mdcode``
#: a Markdown code span (``mdcode(table=True)`` in a table), ``shell`` a POSIX shell
#: word; ``tojson`` is Jinja's own.
FILTERS = {
    "pyrepr": python_literal,
    "toml": toml_value,
    "prose": prose,
    "mdcode": markdown_code,
    "shell": shell_word,
}


def make_environment(root: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # we generate code, not HTML
    )
    env.filters.update(FILTERS)
    return env


def render_tree(root: Path, context: dict[str, Any]) -> RenderedTree:
    """Render every file below ``root``; paths are templates too. Sorted, deterministic."""
    env = make_environment(root)
    files: dict[str, bytes] = {}
    sources = sorted(
        p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    for path in sources:
        relative = path.relative_to(root).as_posix()
        try:
            target = env.from_string(relative).render(context)
            if relative.endswith(SUFFIX):
                target = target[: -len(SUFFIX)]
                text = env.get_template(relative).render(context)
                content = text.encode("utf-8")
            else:
                content = path.read_bytes()
        except jinja2.UndefinedError as exc:
            raise UserError(
                [
                    Diagnostic(
                        Severity.ERROR,
                        Location(f"template {relative}"),
                        f"template uses an undefined variable: {exc.message}",
                        "see docs/generated-package.md for the template context",
                        "NB701",
                    )
                ]
            ) from exc
        except UnicodeEncodeError as exc:  # a lone surrogate no serialiser escaped
            raise UserError(
                [
                    Diagnostic(
                        Severity.ERROR,
                        Location(f"template {relative}"),
                        f"rendered text is not valid Unicode: {exc.reason}",
                        "write the value through a serialiser (pyrepr, tojson...)",
                        "NB703",
                    )
                ]
            ) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise UserError(
                [
                    Diagnostic(
                        Severity.ERROR,
                        Location(f"template {relative}", line=exc.lineno),
                        f"template syntax error: {exc.message}",
                        None,
                        "NB702",
                    )
                ]
            ) from exc
        if target in files:
            raise UserError(f"two templates render to the same file {target}")
        files[target] = content
    once = set()
    for target in [t for t in files if t.endswith(ONCE)]:
        files[target[: -len(ONCE)]] = files.pop(target)
        once.add(target[: -len(ONCE)])
    return RenderedTree(dict(sorted(files.items())), frozenset(once))


def hash_templates(root: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(
        p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ):
        digest.update(path.relative_to(root).as_posix().encode() + b"\x00")
        digest.update(path.read_bytes() + b"\x00")
    return digest.hexdigest()
