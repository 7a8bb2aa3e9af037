"""The cell half of `tag`: which cells the service needs (the closure of the names its
code uses), and whether to mark each one as it is or move what is needed out of it.
"""

from __future__ import annotations

import ast
import contextlib

from nb2svc.model import RawNotebook, Role
from nb2svc.tag.flow import BUILTIN_NAMES, cell_no, changed_after, diag, free_names
from nb2svc.tag.proposal import (
    ORDER,
    SYNTHETIC_IMPORTS,
    Needs,
    NewCell,
    Proposal,
    import_block,
    is_docstring,
    is_literal,
    scalar_literal,
    stmt_lines,
)
from nb2svc.tag.scan import Binding, NotebookScan


class CellPlanner:
    """Marks, moves and imports for the names exported code needs."""

    def __init__(self, scan: NotebookScan) -> None:
        self.scan = scan
        self.nb = scan.nb
        self.p = Proposal()
        self.needs = Needs()
        # cell index -> statements to move out of it, by the role of their new cell
        self.extract: dict[int, dict[Role, list[Binding]]] = {}
        self.artifacts: list[str] = []
        #: literals the service must expose as config settings (a threshold)
        self.settings: set[str] = set()
        # Cells holding a probable secret are never marked whole: what the service
        # needs from them is moved out, so the secret stays behind.
        self.secret_cells = _secret_cells(scan.nb)

    # -- the closure of names the exported code needs ------------------------------

    def need(self, names: set[str]) -> None:
        work = sorted(names)
        while work:
            name = work.pop(0)
            if name in BUILTIN_NAMES or self.needs.known(name):
                continue
            b = self.scan.binding(name)
            if b is None:
                if name in SYNTHETIC_IMPORTS:
                    self.needs.synthetic[name] = SYNTHETIC_IMPORTS[name]
                elif name not in self.needs.missing:
                    self.needs.missing.append(name)
            elif b.kind == "import":
                self.needs.imports[name] = b
            elif b.kind in ("def", "class"):
                self.needs.defs[name] = b
                with contextlib.suppress(SyntaxError, ValueError, RecursionError):
                    work.extend(sorted(free_names(self.source_of(b))))
            elif (
                b.kind == "assign"
                and b.index is None
                and is_literal(b.value)
                and not changed_after(self.scan, name, b.pos)  # encoders = {}, filled
            ):
                self.needs.literals[name] = b
            else:
                self.needs.state[name] = b

    def source_of(self, b: Binding) -> str:
        start, end = stmt_lines(b.stmt)
        return "\n".join(self.scan.cells[b.cell].code.splitlines()[start - 1 : end])

    # -- helpers, preprocess/predict functions, imports ------------------------------

    def _movable(self, cell_index: int, keep: set[int]) -> bool:
        """Can the cell be marked as it is: only imports, docstrings and `keep`?"""
        cell = self.scan.cells[cell_index]
        assert cell.tree is not None
        if cell_index in self.secret_cells:
            return False
        return not cell.magics and all(
            isinstance(s, ast.Import | ast.ImportFrom)
            or is_docstring(s)
            or id(s) in keep
            for s in cell.tree.body
        )

    def _function_cell(self, b: Binding, role: Role) -> None:
        """Mark the function's cell with `role`, or move the function into a new one."""
        cell = self.scan.cells[b.cell]
        assert cell.tree is not None
        self.needs.defs.pop(b.name, None)
        defs = [
            s
            for s in cell.tree.body
            if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
        literals = {
            id(s)
            for s in cell.tree.body
            if isinstance(s, ast.Assign | ast.AnnAssign) and is_literal(s.value)
        }
        if (
            len(defs) == 1
            and b.cell not in self.p.marks
            and b.cell not in self.extract
            and self._movable(b.cell, {id(b.stmt)} | literals)
        ):
            self.p.marks[b.cell] = role
            return
        self.extract.setdefault(b.cell, {}).setdefault(role, []).append(b)

    def _helpers(self) -> None:
        by_cell: dict[int, list[Binding]] = {}
        for b in [*self.needs.defs.values(), *self.needs.literals.values()]:
            by_cell.setdefault(b.cell, []).append(b)
        for cell_index, bindings in sorted(by_cell.items()):
            if cell_index in self.p.marks:
                continue  # exported already, with everything in it
            names = ", ".join(sorted(b.name for b in bindings))
            keep = {id(b.stmt) for b in bindings}
            if cell_index not in self.extract and self._movable(cell_index, keep):
                role = Role.CONFIG if self._config_cell(cell_index) else Role.HELPERS
                if role is Role.CONFIG or not self.settings & {
                    b.name for b in bindings
                }:
                    self.p.marks[cell_index] = role
                    self.p.notes.append(
                        f"{role.value}: {cell_no(cell_index)} ({names})"
                    )
                    continue
            nested = [b for b in bindings if not b.top_level]
            if nested:
                self.p.diagnostics.append(
                    diag(
                        self.nb,
                        "the service needs "
                        + ", ".join(sorted(b.name for b in nested))
                        + " from this cell, but they are defined inside a block "
                        "(if/with/try), which tag cannot move",
                        "define them at the top level of a cell",
                        "NB1203",
                        cell_index,
                    )
                )
            by_role = self.extract.setdefault(cell_index, {})
            for b in bindings:
                if b.top_level:
                    setting = b.name in self.settings and scalar_literal(b.value)
                    role = Role.CONFIG if setting else Role.HELPERS
                    by_role.setdefault(role, []).append(b)

    def _config_cell(self, cell_index: int) -> bool:
        """Only assignments of scalar literals: the cell is config."""
        cell = self.scan.cells[cell_index]
        assert cell.tree is not None
        body = [s for s in cell.tree.body if not is_docstring(s)]
        return bool(body) and all(
            isinstance(s, ast.Assign)
            and len(s.targets) == 1
            and isinstance(s.targets[0], ast.Name)
            and scalar_literal(s.value)
            for s in body
        )

    def _apply_extractions(self) -> None:
        """Move statements into new marked cells just above the cell they come from."""
        for cell_index, by_role in sorted(self.extract.items()):
            cell = self.scan.cells[cell_index]
            code_lines = cell.code.splitlines()
            dropped: set[int] = set()
            for role, bindings in sorted(by_role.items(), key=lambda r: ORDER[r[0]]):
                stmts = sorted(
                    {id(b.stmt): b.stmt for b in bindings}.values(),
                    key=lambda s: s.lineno,
                )
                moved = []
                for stmt in stmts:
                    start, end = stmt_lines(stmt)
                    moved.append("\n".join(code_lines[start - 1 : end]))
                    dropped.update(range(start, end + 1))
                names = ", ".join(sorted({b.name for b in bindings}))
                self.p.inserts.append(
                    NewCell(
                        "before",
                        cell_index,
                        "\n\n\n".join(moved),
                        role,
                        key=f"{role.value}-{cell_index + 1}",
                        order=ORDER[role],
                    )
                )
                self.p.notes.append(
                    f"{role.value}: {names} moved out of {cell_no(cell_index)} into a "
                    "new cell above it"
                )
            kept = [
                text
                for number, text in enumerate(cell.source.splitlines(), start=1)
                if number not in dropped
            ]
            self.p.replace[cell_index] = "\n".join(kept).strip("\n")

    def _imports(self) -> None:
        needed = self.needs.imports
        covered = {
            name
            for name, b in needed.items()
            if b.top_level and b.cell in self.p.marks and b.cell not in self.p.replace
        }
        for cell_index in sorted({b.cell for b in needed.values()}):
            if cell_index in self.p.marks or cell_index in self.extract:
                continue
            cell = self.scan.cells[cell_index]
            assert cell.tree is not None
            body = cell.tree.body
            if not body or cell.magics or cell_index in self.secret_cells:
                continue
            if not all(isinstance(s, ast.Import | ast.ImportFrom) for s in body):
                continue
            aliases = {
                b.name
                for bindings in self.scan.bindings.values()
                for b in bindings
                if b.cell == cell_index
            }
            if aliases <= set(needed):
                self.p.marks[cell_index] = Role.IMPORTS
                covered |= aliases
                self.p.notes.append(f"imports: {cell_no(cell_index)}")
        rest = sorted(
            (b for name, b in needed.items() if name not in covered),
            key=lambda b: b.pos,
        )
        lines = [b.import_line for b in rest if b.import_line is not None]
        lines += list(self.needs.synthetic.values())
        if not lines:
            return
        first = min((b.cell for b in rest), default=min(self.scan.cells, default=0))
        self.p.inserts.append(
            NewCell(
                "before",
                first,
                import_block(lines),
                Role.IMPORTS,
                key="imports",
                order=0,
            )
        )
        self.p.notes.append(
            f"imports: a new cell above {cell_no(first)} with the imports the "
            "service needs"
        )


def _secret_cells(nb: RawNotebook) -> set[int]:
    from nb2svc.lint.outputs import NotebookExtras
    from nb2svc.lint.secrets import find_secrets

    return {s.cell for s in find_secrets(nb, NotebookExtras())}
