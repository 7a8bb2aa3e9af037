"""Stage 1 of analysis: each code cell parsed, magics handled (NB201-203), names found."""

from __future__ import annotations

import ast
import re
import symtable

from nb2svc.analysis.model import ParsedCell, diag
from nb2svc.errors import Diagnostic, Severity
from nb2svc.model import MarkedCell, RawNotebook, Role

#: Line magics that only affect the interactive session; removed with a warning.
HARMLESS_MAGICS = frozenset(
    {
        "matplotlib",
        "load_ext",
        "reload_ext",
        "autoreload",
        "config",
        "precision",
        "pylab",
    }
)
MAGIC_LINE = re.compile(r"^\s*(%{1,2}|!)(?P<name>[A-Za-z_]\w*)?")
SHELL_ASSIGN = re.compile(r"^\s*[\w.,\s]+=\s*[!%]")


def parse_cells(
    nb: RawNotebook, marked: list[MarkedCell], problems: list[Diagnostic]
) -> list[ParsedCell]:
    """Every code cell that is not skipped, parsed; the ones that cannot be are left out
    (with a diagnostic when exported code is at stake)."""
    parsed: list[ParsedCell] = []
    for mc in marked:
        if mc.cell.cell_type != "code" or mc.role is Role.SKIP:
            continue
        if mc.role in (None, Role.EXAMPLE, Role.REFERENCE, Role.TRAIN):
            found = _kernel_only_cell(nb, mc, problems)
        else:
            found = _exported_cell(nb, mc, problems)
        if found is None:
            continue
        code, tree = found
        bound, free, star = cell_names(code)
        parsed.append(ParsedCell(mc, code, tree, bound, free, star))
    return parsed


def _kernel_only_cell(
    nb: RawNotebook, mc: MarkedCell, problems: list[Diagnostic]
) -> tuple[str, ast.Module] | None:
    """Unmarked, example and reference cells run only in a kernel: magics are fine
    there."""
    code = "\n".join(
        "" if MAGIC_LINE.match(ln) or SHELL_ASSIGN.match(ln) else ln
        for ln in mc.code.splitlines()
    )
    try:
        return code, ast.parse(code)
    except SyntaxError:
        if mc.role is not None:
            problems.append(
                diag(
                    nb,
                    mc,
                    None,
                    f"{mc.role.value} cell is not valid Python",
                    None,
                    "NB203",
                )
            )
        return None


def _exported_cell(
    nb: RawNotebook, mc: MarkedCell, problems: list[Diagnostic]
) -> tuple[str, ast.Module] | None:
    cleaned, found = strip_magics(nb, mc)
    problems.extend(found)
    if cleaned is None:
        return None
    return cleaned, ast.parse(cleaned)


def strip_magics(
    nb: RawNotebook, mc: MarkedCell
) -> tuple[str | None, list[Diagnostic]]:
    """Remove harmless magics, reject the others; None when the cell cannot be exported."""
    code = mc.code
    try:
        ast.parse(code)
        return code, []
    except SyntaxError:
        pass
    problems: list[Diagnostic] = []
    lines = code.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        problem = _magic_problem(nb, mc, number, line)
        if problem is not None:
            problems.append(problem)
            lines[number - 1] = "\n"
    cleaned = "".join(lines)
    try:
        ast.parse(cleaned)
    except SyntaxError as exc:
        problems.append(
            diag(nb, mc, exc.lineno, f"syntax error: {exc.msg}", None, "NB203")
        )
        return None, problems
    if any(p.severity is Severity.ERROR for p in problems):
        return None, problems
    return cleaned, problems


def _magic_problem(
    nb: RawNotebook, mc: MarkedCell, number: int, line: str
) -> Diagnostic | None:
    """NB201 (a harmless magic, removed) or NB202 for a magic or shell line; None for
    plain Python."""
    match = MAGIC_LINE.match(line)
    shell_assign = SHELL_ASSIGN.match(line) and not match
    if not match and not shell_assign:
        return None
    name = match.group("name") if match else None
    if match and match.group(1) == "%" and name in HARMLESS_MAGICS:
        return diag(
            nb,
            mc,
            number,
            f"magic '%{name}' removed from exported code",
            None,
            "NB201",
            Severity.WARNING,
        )
    shown = line.strip()
    kind = "shell escape" if shown.startswith("!") or shell_assign else "IPython magic"
    return diag(
        nb,
        mc,
        number,
        f"{kind} in exported code: {shown!r}",
        "exported code must be plain Python: move it to an unmarked cell "
        "(or install packages in your environment, not the notebook)",
        "NB202",
    )


def cell_names(code: str) -> tuple[set[str], set[str], bool]:
    """Top-level names a cell binds, module-level names it reads, and star imports."""
    table = symtable.symtable(code, "<cell>", "exec")
    bound: set[str] = set()
    used: set[str] = set()
    # symtable does not record star imports: look for them in the syntax tree.
    star = any(
        isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
        for node in ast.walk(ast.parse(code))
    )
    for sym in table.get_symbols():
        name = sym.get_name()
        if sym.is_assigned() or sym.is_imported() or sym.is_namespace():
            bound.add(name)
        if sym.is_referenced() or sym.is_annotated():
            used.add(name)

    def walk(tab: symtable.SymbolTable) -> None:
        for child in tab.get_children():
            for sym in child.get_symbols():
                if sym.is_declared_global() and sym.is_assigned():
                    bound.add(sym.get_name())
                elif sym.is_global() and sym.is_referenced():
                    used.add(sym.get_name())
            walk(child)

    walk(table)
    return bound, used - bound, star
