"""Stage 2 of analysis: the pipeline's role functions (NB301/302, NB312-314)."""

from __future__ import annotations

import ast
from collections.abc import Sequence

from nb2svc.analysis.model import ParsedCell, diag, nowhere
from nb2svc.errors import Diagnostic, Severity
from nb2svc.model import FUNCTION_ROLES, MarkedCell, RawNotebook, Role, RoleFunction


def role_functions(
    nb: RawNotebook,
    marked: Sequence[MarkedCell],
    parsed: Sequence[ParsedCell],
    by_role: dict[Role, list[ParsedCell]],
    problems: list[Diagnostic],
) -> list[RoleFunction]:
    """Each function role: at most one cell; predict is required."""
    functions: list[RoleFunction] = []
    for role in FUNCTION_ROLES:
        cells = by_role.get(role, [])
        if len(cells) > 1:
            others = ", ".join(str(pc.marked.cell.index + 1) for pc in cells[1:])
            problems.append(
                diag(
                    nb,
                    cells[0].marked,
                    None,
                    f"several cells are marked '{role.value}' (also cell {others})",
                    "merge them into one cell, or mark the extra ones helpers",
                    "NB301",
                )
            )
        if not cells:
            if role is Role.PREDICT:
                problems.append(_no_predict(nb, marked, parsed))
            continue
        fn = _role_function(nb, cells[0], role, problems)
        if fn is not None:
            functions.append(fn)
    return functions


def _no_predict(
    nb: RawNotebook, marked: Sequence[MarkedCell], parsed: Sequence[ParsedCell]
) -> Diagnostic:
    """NB302, at the cell that defines a function named predict when one does."""
    hint = "'# nb2svc: predict' or the tag 'nb2svc:predict'"
    for pc in parsed:
        for node in pc.tree.body:
            if (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.name == "predict"
            ):
                role = pc.marked.role
                return diag(
                    nb,
                    pc.marked,
                    node.lineno,
                    "no cell is marked 'predict'; this cell defines predict()",
                    (
                        f"mark this cell with {hint}"
                        if role is None
                        else f"move predict() out of this '{role.value}' cell into a "
                        f"cell of its own, marked with {hint}"
                    ),
                    "NB302",
                )
    if nb.cells:
        where = nb.cells[0].location(nb.name)
    else:
        where = marked[0].cell.location(nb.name) if marked else nowhere(nb)
    return Diagnostic(
        Severity.ERROR,
        where,
        "no cell is marked 'predict'",
        f"mark the cell that defines your predict function with {hint}",
        "NB302",
    )


def _role_function(
    nb: RawNotebook, pc: ParsedCell, role: Role, problems: list[Diagnostic]
) -> RoleFunction | None:
    defs = [
        s for s in pc.tree.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    chosen = next((d for d in defs if d.name == role.value), None)
    if chosen is None and len(defs) == 1:
        chosen = defs[0]
    if chosen is None:
        found = ", ".join(d.name for d in defs) or "none"
        problems.append(
            diag(
                nb,
                pc.marked,
                None,
                f"{role.value} cell must define a function named "
                f"'{role.value}' or exactly one function (found: {found})",
                f"def {role.value}(...): ...",
                "NB312",
            )
        )
        return None
    if isinstance(chosen, ast.AsyncFunctionDef):
        problems.append(
            diag(
                nb,
                pc.marked,
                chosen.lineno,
                f"{role.value} must be a plain function, not async",
                None,
                "NB313",
            )
        )
        return None
    args = chosen.args.posonlyargs + chosen.args.args
    required = len(args) - len(chosen.args.defaults)
    if not args or required > 1:
        problems.append(
            diag(
                nb,
                pc.marked,
                chosen.lineno,
                f"{chosen.name} must take exactly one required argument "
                f"(takes {required})",
                "the pipeline calls it with one value",
                "NB314",
            )
        )
        return None
    annotation = ast.unparse(args[0].annotation) if args[0].annotation else None
    returns = ast.unparse(chosen.returns) if chosen.returns else None
    return RoleFunction(role, chosen.name, annotation, returns)
