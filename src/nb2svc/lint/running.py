"""Lint rules on whether the notebook runs as it reads: magics and shell escapes
(NB1101), names used before they are defined (NB1102), execution order (NB1108),
cells that are not Python (NB1111).

Each check takes a LintContext and yields Diagnostics; none prints, none raises on
purpose (the orchestrator turns an unexpected exception into NB1199).
"""

from __future__ import annotations

import ast
import itertools
import re
import symtable
from collections.abc import Iterator

from nb2svc.analysis import HARMLESS_MAGICS
from nb2svc.errors import Diagnostic
from nb2svc.lint.context import LintContext, diag
from nb2svc.lint.pysource import PYTHON_CELL_MAGICS, PyCell

#: Magics that only change what the session shows or measures.
QUIET_MAGICS = HARMLESS_MAGICS | {
    "time",
    "timeit",
    "prun",
    "capture",
    "who",
    "whos",
    "who_ls",
    "debug",
    "pdb",
    "tb",
    "xmode",
    "pprint",
    "history",
    "lsmagic",
    "magic",
    "page",
    "pinfo",
    "pinfo2",
    "psearch",
    "colors",
    "html",
    "HTML",
    "markdown",
    "latex",
    "javascript",
    "js",
    "svg",
}
#: Magics after which the names a notebook defines can no longer be known statically.
_OPAQUE_MAGICS = frozenset({"run", "store", "load", "sql", "R", "Rpull"})
_IPYTHON_NAMES = frozenset(
    {
        "display",
        "get_ipython",
        "In",
        "Out",
        "_",
        "__",
        "___",
        "_i",
        "_ii",
        "_iii",
        "_ih",
        "_oh",
        "_dh",
        "exit",
        "quit",
        "__file__",
    }
)
_IPYTHON_NAME = re.compile(r"^_i{0,3}\d+$")


# --- NB1101 magics and shell escapes ---------------------------------------------


def check_magics(ctx: LintContext) -> Iterator[Diagnostic]:
    """Exported cells are checked by the build's own rules (NB201/NB202)."""
    for index, cell in ctx.cells.items():
        if ctx.exported(index) or not ctx.runs(index):
            continue
        for magic in cell.magics:
            if magic.kind == "help":
                continue
            if magic.kind == "cell" and magic.name in PYTHON_CELL_MAGICS | QUIET_MAGICS:
                continue
            if magic.kind == "line" and magic.name in QUIET_MAGICS:
                continue
            message, hint = _magic_message(magic.kind, magic.name, magic.text)
            yield diag(ctx, index, magic.line, message, hint, "NB1101")


def _magic_message(kind: str, name: str, text: str) -> tuple[str, str]:
    shown = text if len(text) <= 80 else text[:77] + "..."
    if name in ("pip", "conda", "mamba", "uv") or text.lstrip("!%").startswith(
        ("pip ", "conda ", "python -m pip")
    ):
        return (
            f"installs packages whenever the notebook runs: {shown!r}",
            "nb2svc runs the whole notebook to capture examples; install packages "
            "in the environment (requirements) and delete the line",
        )
    if name == "cd":
        return (
            f"changes the working directory: {shown!r}",
            "relative paths after it, artifacts included, depend on it; use paths "
            "relative to the notebook's folder instead",
        )
    if name == "run":
        return (
            f"runs another file: {shown!r}",
            "the notebook depends on code outside it; import it as a module instead",
        )
    if kind == "shell":
        return (
            f"shell command: {shown!r}",
            "the notebook only runs where this command exists and behaves the same; "
            "use Python (pathlib, shutil, subprocess) or mark the cell skip",
        )
    what = "cell magic" if kind == "cell" else "magic"
    return (
        f"IPython {what} that changes the session: {shown!r}",
        "plain Python runs everywhere; move it out of the notebook, or mark the "
        "cell skip if it is only for exploration",
    )


# --- NB1102 names used before they are defined -------------------------------------


def _scope_names(code: str) -> tuple[set[str], set[str]]:
    """(names a cell reads as it runs, names it binds). Function bodies run later."""
    table = symtable.symtable(code, "<cell>", "exec")
    binds: set[str] = set()
    uses: set[str] = set()
    for sym in table.get_symbols():
        if sym.is_assigned() or sym.is_imported() or sym.is_namespace():
            binds.add(sym.get_name())
        elif sym.is_referenced():
            uses.add(sym.get_name())

    def walk(tab: symtable.SymbolTable, immediate: bool) -> None:
        for child in tab.get_children():
            runs_now = immediate and (
                child.get_type() == "class"
                or child.get_name() in ("listcomp", "setcomp", "dictcomp", "genexpr")
            )
            for sym in child.get_symbols():
                if sym.is_declared_global() and sym.is_assigned():
                    binds.add(sym.get_name())
                elif runs_now and sym.is_global() and sym.is_referenced():
                    uses.add(sym.get_name())
            walk(child, runs_now)

    walk(table, True)
    return uses - binds, binds


_WORD = re.compile(r"[A-Za-z_]\w*")
#: Lines that continue the statement above rather than start one.
_CONTINUATION = re.compile(r"^(?:[)\]}]|(?:else|elif|except|finally|case)\b)")


def _top_level_chunks(code: str) -> list[str]:
    """The cell cut before every unindented line that starts a statement; each chunk
    keeps its lines' numbers (blank lines above it)."""
    lines = code.splitlines()
    starts = [
        i
        for i, text in enumerate(lines)
        if text.strip()
        and not text[0].isspace()
        and not _CONTINUATION.match(text)
        and not text.lstrip().startswith("#")
    ]
    bounds = sorted({0, *starts, len(lines)})
    return ["\n" * a + "\n".join(lines[a:b]) for a, b in itertools.pairwise(bounds)]


def _salvaged_bindings(code: str) -> set[str]:
    """Names a cell that does not parse may bind.

    What its statements that do parse bind, and every name in the ones that don't:
    the broken cell is reported once (NB1111), it must not also make every name it
    would define look "used before defined" in the cells below.
    """
    names: set[str] = set()
    for chunk in _top_level_chunks(code):
        try:
            names |= _scope_names(chunk)[1]
        except (SyntaxError, ValueError, RecursionError):
            names |= set(_WORD.findall(chunk))
    return names


def _opaque(cell: PyCell) -> bool:
    """After this cell the notebook's names cannot be known statically."""
    for magic in cell.magics:
        if magic.name in _OPAQUE_MAGICS:
            return True
        if magic.name == "load_ext" and "autoreload" not in magic.text:
            return True  # an extension may define names (%load_ext sql)
    if cell.tree is None:
        return False
    for node in ast.walk(cell.tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("exec", "globals", "vars", "locals")
        ):
            return True
    return False


def check_hidden_state(ctx: LintContext) -> Iterator[Diagnostic]:
    import builtins

    known = set(dir(builtins)) | _IPYTHON_NAMES
    order = [i for i in sorted(ctx.cells) if ctx.runs(i) and ctx.cells[i].python]
    names: dict[int, tuple[set[str], set[str]]] = {}
    for index in order:
        cell = ctx.cells[index]
        try:
            names[index] = (
                _scope_names(cell.code) if cell.tree is not None else (set(), set())
            )
        except (SyntaxError, ValueError, RecursionError):
            names[index] = (set(), set())
        if cell.tree is None:
            names[index][1].update(_salvaged_bindings(cell.code))
    defined: set[str] = set()
    for position, index in enumerate(order):
        uses, binds = names[index]
        cell = ctx.cells[index]
        if _opaque(cell):
            return  # names may come from `import *`, %run, exec(...): unknowable
        if cell.tree is not None:
            for name in sorted(uses - defined - known):
                if _IPYTHON_NAME.match(name):
                    continue
                later = next(
                    (j for j in order[position + 1 :] if name in names[j][1]), None
                )
                line = _first_line(cell.tree, name)
                if later is not None:
                    yield diag(
                        ctx,
                        index,
                        line,
                        f"'{name}' is used here but first defined in cell "
                        f"{later + 1}, further down: the notebook does not run "
                        "from top to bottom",
                        f"move cell {later + 1} above this one; Restart & Run All "
                        "shows what a fresh run does",
                        "NB1102",
                    )
                else:
                    yield diag(
                        ctx,
                        index,
                        line,
                        f"'{name}' is used here but no cell defines it: it lives only "
                        "in the kernel that saved this notebook",
                        "define or import it in a cell above; Restart & Run All "
                        "shows what a fresh run does",
                        "NB1102",
                    )
        defined |= binds


def _first_line(tree: ast.AST, name: str) -> int | None:
    lines = [
        n.lineno for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == name
    ]
    return min(lines) if lines else None


# --- NB1108 execution order, NB1111 syntax ------------------------------------------


def check_execution_order(ctx: LintContext) -> Iterator[Diagnostic]:
    previous: tuple[int, int] | None = None  # (cell index, execution count)
    for cell in ctx.nb.cells:
        count = cell.execution_count
        if cell.cell_type != "code" or not isinstance(count, int):
            continue
        if previous is not None and count < previous[1]:
            yield diag(
                ctx,
                cell.index,
                None,
                f"execution counts out of order: this cell ran (In [{count}]) "
                f"before cell {previous[0] + 1} above it (In [{previous[1]}]); the "
                "saved outputs may not come from the code as it reads now",
                "restart the kernel, run all cells in order and save",
                "NB1108",
            )
        previous = (cell.index, count)


def check_syntax(ctx: LintContext) -> Iterator[Diagnostic]:
    """Exported cells are checked by the build's own rules (NB203)."""
    for index, cell in ctx.cells.items():
        if cell.tree is not None or ctx.exported(index) or not ctx.runs(index):
            continue
        where = f" (line {cell.error_line}: {cell.error})" if cell.error else ""
        yield diag(
            ctx,
            index,
            cell.error_line,
            f"cell is not valid Python{where}; executing the notebook will fail "
            "here, and other rules skip this cell",
            "fix the cell, or mark it skip if it is not needed",
            "NB1111",
        )
