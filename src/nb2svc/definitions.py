"""The notebook's own classes and functions inside the objects its load code restores.

A model pickled in the notebook refers to a class or function defined in a notebook
cell as ``__main__.<name>`` (the kernel's namespace). The service has no such names in
its ``__main__``, so unpickling fails there, unless the definitions are exported (a
``helpers`` cell) and the generated pipeline lends them to ``__main__`` while its load
code runs (``templates/service/src/<pkg>/pipeline.py.jinja``).

What the loaded objects need is found by running: in the capture kernel, after the load
code, each load global is pickled once more into a sink that keeps nothing, and
``Pickler.reducer_override`` notes every class and function of ``__main__`` the pickle
refers to (``MAIN_REFS_CODE``). ``check_definitions`` then requires each of them to be
defined at the top level of an exported cell.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence

from nb2svc.errors import Diagnostic, Severity
from nb2svc.model import MarkedCell, RawNotebook, Role

#: Roles whose top-level definitions land at the pipeline module's top level.
_MODULE_ROLES = frozenset(
    {Role.IMPORTS, Role.HELPERS, Role.PREPROCESS, Role.PREDICT, Role.POSTPROCESS}
)


def top_level_definitions(code: str) -> set[str]:
    """Names a cell binds with ``class`` or ``def`` (or an assignment) at top level."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def exported_definitions(marked: Iterable[MarkedCell]) -> list[str]:
    """Names defined at the top level of the cells exported to the pipeline module."""
    names: set[str] = set()
    for mc in marked:
        if mc.role in _MODULE_ROLES and mc.cell.cell_type == "code":
            names |= top_level_definitions(mc.code)
    return sorted(names)


def check_definitions(
    nb: RawNotebook,
    cells: Iterable[tuple[Role | None, int, str]],
    needed: Sequence[str],
) -> list[Diagnostic]:
    """An error for each ``__main__`` name the loaded objects need that no exported
    cell defines at its top level; ``cells``: (role, index, code) of every code cell,
    marked or not, in notebook order."""
    cells = list(cells)
    exported: set[str] = set()
    load_cell: int | None = None
    for role, index, code in cells:
        if role in _MODULE_ROLES:
            exported |= top_level_definitions(code)
        elif role is Role.LOAD and load_cell is None:
            load_cell = index
    problems: list[Diagnostic] = []
    for name in needed:
        if name in exported:
            continue
        definers = [
            index
            for role, index, code in cells
            if role not in _MODULE_ROLES and name in top_level_definitions(code)
        ]
        where = (
            f"defined only in {_role_name(cells, definers[-1])} cell {definers[-1] + 1}"
            if definers
            else "defined in no cell (an earlier session's definition?)"
        )
        hint = (
            f"mark cell {definers[-1] + 1} as helpers (a cell holding only imports "
            "and definitions), so the service defines it too"
            if definers
            else "define it in a cell marked helpers"
        )
        location = (
            nb.cells[load_cell].location(nb.name)
            if load_cell is not None
            else nb.cells[0].location(nb.name)
        )
        problems.append(
            Diagnostic(
                Severity.ERROR,
                location,
                f"the objects the load code restores refer to __main__.{name}, "
                f"the notebook's own definition, {where}: the service could not "
                "unpickle them",
                hint,
                "NB320",
            )
        )
    return problems


_MISSING_MAIN = re.compile(r"Can't get attribute '([\w.]+)' on <module '__main__'")


def missing_main_hint(message: str) -> str | None:
    """A hint for a load that failed in the kernel because a definition the pickle
    refers to was not run (only exported cells run when nothing else is needed)."""
    found = _MISSING_MAIN.search(message)
    if found is None:
        return None
    name = found.group(1).split(".")[0]
    return (
        f"the file was saved with the notebook's own '{name}' (pickle refers to it as "
        f"__main__.{name}): mark the cell that defines it helpers, so that build runs "
        "it and the service has it"
    )


def _role_name(cells: list[tuple[Role | None, int, str]], index: int) -> str:
    for role, i, _ in cells:
        if i == index:
            return "unmarked" if role is None else role.value
    return "unmarked"
