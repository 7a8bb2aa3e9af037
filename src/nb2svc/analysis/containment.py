"""Stage 3 of analysis: exported code uses only what exported code defines
(NB303-306)."""

from __future__ import annotations

import ast
from collections.abc import Sequence

from nb2svc.analysis.model import BUILTINS, ParsedCell, diag, nowhere
from nb2svc.errors import Diagnostic, Severity
from nb2svc.model import EXPORTED_ORDER, RawNotebook

#: Names the generated pipeline module defines itself.
RESERVED_NAMES = frozenset(
    {
        "load_resources",
        "resources_loaded",
        "score",
        "score_batch",
        "artifact_path",
        "to_jsonable",
        "get_settings",
    }
)


def check_self_contained(
    nb: RawNotebook,
    exported: Sequence[ParsedCell],
    parsed: Sequence[ParsedCell],
    problems: list[Diagnostic],
) -> set[str]:
    """Report reserved names and names exported code uses but does not define;
    returns the names exported code binds."""
    exported_bound: set[str] = (
        set().union(*(pc.bound for pc in exported)) if exported else set()
    )
    star = any(pc.star_import for pc in exported)
    for pc in exported:
        problems.extend(_reserved_clashes(nb, pc))
        if not star:
            problems.extend(_undefined_names(nb, pc, exported_bound, parsed))
    if star:
        problems.append(
            Diagnostic(
                Severity.WARNING,
                nowhere(nb),
                "a star import in exported code hides which names are "
                "defined; self-containment was not checked",
                "import names explicitly",
                "NB306",
            )
        )
    return exported_bound


def _reserved_clashes(nb: RawNotebook, pc: ParsedCell) -> list[Diagnostic]:
    """NB303: the cell binds a name the generated pipeline defines itself."""
    return [
        diag(
            nb,
            pc.marked,
            _first_use(pc.tree, name),
            f"'{name}' is a name the generated pipeline defines itself",
            "rename it in the notebook",
            "NB303",
        )
        for name in sorted(pc.bound & RESERVED_NAMES)
    ]


def _undefined_names(
    nb: RawNotebook,
    pc: ParsedCell,
    exported_bound: set[str],
    parsed: Sequence[ParsedCell],
) -> list[Diagnostic]:
    """NB304 (defined only in an unmarked cell) and NB305 (defined nowhere)."""
    problems: list[Diagnostic] = []
    for name in sorted(pc.free - exported_bound - BUILTINS):
        line = _first_use(pc.tree, name)
        what = pc.marked.role.value if pc.marked.role else "exported"
        definers = [
            other
            for other in parsed
            if other.marked.role not in EXPORTED_ORDER and name in other.bound
        ]
        if definers:
            where = ", ".join(str(d.marked.cell.index + 1) for d in definers)
            problems.append(
                diag(
                    nb,
                    pc.marked,
                    line,
                    f"{what} uses '{name}', defined only in unmarked cell {where}",
                    f"mark cell {definers[-1].marked.cell.index + 1} as load or helpers, "
                    "or define the name in an exported cell",
                    "NB304",
                )
            )
        else:
            problems.append(
                diag(
                    nb,
                    pc.marked,
                    line,
                    f"{what} uses '{name}', which no cell defines",
                    "import or define it in an exported cell",
                    "NB305",
                )
            )
    return problems


def _first_use(tree: ast.AST, name: str) -> int | None:
    lines = [
        n.lineno
        for n in ast.walk(tree)
        if (isinstance(n, ast.Name) and n.id == name)
        or (
            isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and n.name == name
        )
        or (isinstance(n, ast.alias) and (n.asname or n.name.split(".")[0]) == name)
    ]
    return min(lines) if lines else None
