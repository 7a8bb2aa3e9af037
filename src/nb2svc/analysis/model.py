"""What analysis works on and returns: parsed cells, the analysis, diagnostics."""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from nb2svc.errors import Diagnostic, Location, Severity
from nb2svc.model import (
    CodeBlock,
    MarkedCell,
    RawNotebook,
    RetrainSpec,
    RoleFunction,
    Setting,
)

#: Names every cell may use without defining them.
BUILTINS = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__"}


@dataclass
class ParsedCell:
    marked: MarkedCell
    code: str  # magics removed
    tree: ast.Module
    bound: set[str] = field(default_factory=set)
    free: set[str] = field(default_factory=set)
    star_import: bool = False


@dataclass
class Analysis:
    cells: list[ParsedCell]
    imports: list[str]
    blocks: list[CodeBlock]
    functions: list[RoleFunction]
    load_globals: list[str]
    settings: list[Setting]
    artifacts: list[str]
    modules: set[str]  # top-level modules imported by exported code
    example_cell: ParsedCell | None
    example_needs_notebook: bool
    diagnostics: list[Diagnostic]
    reference_cell: ParsedCell | None = None
    reference_needs_notebook: bool = False
    retrain: RetrainSpec | None = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


def diag(
    nb: RawNotebook,
    mc: MarkedCell,
    line: int | None,
    message: str,
    hint: str | None,
    code: str,
    severity: Severity = Severity.ERROR,
) -> Diagnostic:
    """A diagnostic located at a marked cell (and line)."""
    return Diagnostic(severity, mc.cell.location(nb.name, line), message, hint, code)


def nowhere(nb: RawNotebook) -> Location:
    """The notebook as a whole: for problems no one cell has."""
    return Location(nb.name)
