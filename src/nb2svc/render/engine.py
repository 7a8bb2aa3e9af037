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
        target, content = _render_file(env, path, relative, context)
        if target in files:
            raise UserError(f"two templates render to the same file {target}")
        files[target] = content
    once = set()
    for target in [t for t in files if t.endswith(ONCE)]:
        files[target[: -len(ONCE)]] = files.pop(target)
        once.add(target[: -len(ONCE)])
    return RenderedTree(dict(sorted(files.items())), frozenset(once))


def _render_file(
    env: jinja2.Environment, path: Path, relative: str, context: dict[str, Any]
) -> tuple[str, bytes]:
    """The file ``relative`` renders to, and its content (a ``.jinja`` file rendered,
    any other copied); a template problem is a UserError naming the template."""
    try:
        target = env.from_string(relative).render(context)
        if not relative.endswith(SUFFIX):
            return target, path.read_bytes()
        text = env.get_template(relative).render(context)
        return target[: -len(SUFFIX)], text.encode("utf-8")
    except jinja2.UndefinedError as exc:
        raise _template_error(
            relative,
            f"template uses an undefined variable: {exc.message}",
            "see docs/generated-package.md for the template context",
            "NB701",
        ) from exc
    except UnicodeEncodeError as exc:  # a lone surrogate no serialiser escaped
        raise _template_error(
            relative,
            f"rendered text is not valid Unicode: {exc.reason}",
            "write the value through a serialiser (pyrepr, tojson...)",
            "NB703",
        ) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise _template_error(
            relative,
            f"template syntax error: {exc.message}",
            None,
            "NB702",
            exc.lineno,
        ) from exc


def _template_error(
    relative: str, message: str, hint: str | None, code: str, line: int | None = None
) -> UserError:
    return UserError(
        [
            Diagnostic(
                Severity.ERROR,
                Location(f"template {relative}", line=line),
                message,
                hint,
                code,
            )
        ]
    )


def hash_templates(root: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(
        p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ):
        digest.update(path.relative_to(root).as_posix().encode() + b"\x00")
        digest.update(path.read_bytes() + b"\x00")
    return digest.hexdigest()
