"""What every lint rule reads: the notebook, its outputs, its roles and parsed cells."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nb2svc.errors import Diagnostic, Severity
from nb2svc.lint.outputs import NotebookExtras
from nb2svc.lint.pysource import PyCell
from nb2svc.model import EXPORTED_ORDER, Cell, RawNotebook, Role


@dataclass(frozen=True)
class LintContext:
    nb: RawNotebook
    extras: NotebookExtras
    roles: dict[int, Role | None]  # by cell index; code cells only
    cells: dict[int, PyCell]  # code cells by index
    python: bool  # the kernel is Python (or unknown)
    artifacts: frozenset[str] = frozenset()  # declared artifacts, normalised
    folder: Path | None = None  # the notebook's folder, resolved

    def exported(self, index: int) -> bool:
        return self.roles.get(index) in EXPORTED_ORDER

    def runs(self, index: int) -> bool:
        """nb2svc executes every code cell but skip cells."""
        return self.roles.get(index) is not Role.SKIP

    def cell(self, index: int) -> Cell:
        return self.nb.cells[index]


def diag(
    ctx: LintContext,
    index: int,
    line: int | None,
    message: str,
    hint: str | None,
    code: str,
    severity: Severity = Severity.WARNING,
) -> Diagnostic:
    location = ctx.cell(index).location(ctx.nb.name, line)
    return Diagnostic(severity, location, message, hint, code)
