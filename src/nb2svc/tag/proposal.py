"""What `tag` proposes, as data: cells to mark, to rewrite and to insert; and the small
helpers the planner shares (literals, statement spans, import lines).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field

from nb2svc.errors import Diagnostic
from nb2svc.model import Role
from nb2svc.tag.scan import Binding

EXAMPLE_ROWS = 5
#: Imports the generated cells may need when the notebook has none of its own.
SYNTHETIC_IMPORTS: dict[str, tuple[str, str, str | None]] = {
    "joblib": ("joblib", "", None),
    "pickle": ("pickle", "", None),
    "np": ("numpy", "", "np"),
    "pd": ("pandas", "", "pd"),
}
#: Where new cells go among cells inserted at the same place.
ORDER = {
    Role.IMPORTS: 0,
    Role.CONFIG: 1,
    Role.HELPERS: 2,
    Role.LOAD: 4,
    Role.PREPROCESS: 5,
    Role.PREDICT: 6,
    Role.POSTPROCESS: 7,
    Role.EXAMPLE: 8,
    Role.REFERENCE: 9,
    Role.TRAIN: 3,
}
SCALARS = (int, float, str, bool, type(None))


@dataclass(frozen=True)
class NewCell:
    """A cell to insert: before/after an original cell (by index), or at the end."""

    where: str  # "before" | "after" | "end"
    anchor: int  # original cell index (ignored for "end")
    source: str
    role: Role | None = None
    options: str = ""  # directive options, e.g. "artifacts=model.joblib"
    cell_type: str = "code"
    key: str = "cell"  # stable, unique: becomes the new cell's id
    order: int = 3


def rows_cell(
    name: str, value: str, role: Role, key: str, after: int | None = None
) -> NewCell:
    """`name = value` (the example's or the reference's rows) in a new cell at the
    end; or, with `after`, a copy right after that cell, taken before the notebook
    changes the rows."""
    if after is None:
        return NewCell("end", 0, f"{name} = {value}", role, key=key, order=ORDER[role])
    return NewCell(
        "after", after, f"{name} = {value}.copy()", role, key=key, order=ORDER[role]
    )


@dataclass
class Proposal:
    marks: dict[int, Role] = field(default_factory=dict)  # original index -> role
    #: original index -> the directive's options (a train cell's data=, holdout=)
    mark_options: dict[int, str] = field(default_factory=dict)
    replace: dict[int, str] = field(default_factory=dict)  # original index -> source
    inserts: list[NewCell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class Needs:
    """What the exported code needs, by kind of binding."""

    imports: dict[str, Binding] = field(default_factory=dict)
    synthetic: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    defs: dict[str, Binding] = field(default_factory=dict)
    literals: dict[str, Binding] = field(default_factory=dict)
    state: dict[str, Binding | None] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def known(self, name: str) -> bool:
        return any(
            name in group
            for group in (
                self.imports,
                self.synthetic,
                self.defs,
                self.literals,
                self.state,
            )
        )


def is_literal(expr: ast.expr | None) -> bool:
    if expr is None:
        return False
    try:
        ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def scalar_literal(expr: ast.expr | None) -> bool:
    if not is_literal(expr):
        return False
    assert expr is not None
    return isinstance(ast.literal_eval(expr), SCALARS)


def stmt_lines(stmt: ast.stmt) -> tuple[int, int]:
    start = stmt.lineno
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        start = min([start, *(d.lineno for d in stmt.decorator_list)])
    return start, stmt.end_lineno or stmt.lineno


def import_block(lines: list[tuple[str, str, str | None]]) -> str:
    """Import statements, from-imports of one module merged, in first-seen order."""
    merged: dict[str, list[str]] = {}
    order: list[str] = []
    for module, name, asname in lines:
        alias = f" as {asname}" if asname else ""
        if not name:
            text = f"import {module}{alias}"
            if text not in order:
                order.append(text)
            continue
        key = f"from {module}"
        if key not in merged:
            merged[key] = []
            order.append(key)
        if name + alias not in merged[key]:
            merged[key].append(name + alias)
    return "\n".join(
        f"{key} import {', '.join(merged[key])}" if key in merged else key
        for key in order
    )


def is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


def quote(text: str) -> str:
    """A string literal in black's style (double quotes)."""
    return json.dumps(text, ensure_ascii=False)
