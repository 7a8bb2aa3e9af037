"""`nb2svc lint`: every problem of a notebook in one run, without building it.

The contract checks of `build` (markers, magics in exported code, self-containment,
...) plus the rules in rules.py: shell escapes, hidden state, secrets, paths,
randomness, execution order, output size. Returns a LintReport; never prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from nb2svc.errors import Diagnostic, ExitCode, Location, Severity
from nb2svc.lint.content import (
    check_large_outputs,
    check_paths,
    check_randomness,
    check_secrets,
)
from nb2svc.lint.context import LintContext
from nb2svc.lint.outputs import NotebookExtras, read_extras
from nb2svc.lint.pysource import parse_cell
from nb2svc.lint.rules import RULES, Rule
from nb2svc.lint.running import (
    check_execution_order,
    check_hidden_state,
    check_magics,
    check_syntax,
)
from nb2svc.model import MarkedCell, RawNotebook, Role

__all__ = ["RULES", "LintReport", "Rule", "lint_notebook", "sort_diagnostics"]

Check = Callable[[LintContext], Iterable[Diagnostic]]
#: Rules that read Python code; skipped for notebooks in another language.
_CODE_CHECKS: tuple[Check, ...] = (
    check_syntax,
    check_magics,
    check_hidden_state,
    check_paths,
    check_randomness,
)
_ANY_CHECKS: tuple[Check, ...] = (
    check_secrets,
    check_execution_order,
    check_large_outputs,
)


@dataclass(frozen=True)
class LintReport:
    notebook: str
    diagnostics: tuple[Diagnostic, ...]
    marked: bool  # the notebook has nb2svc markers (so contract checks ran)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    def exit_code(self, strict: bool = False) -> ExitCode:
        if self.errors or (strict and self.warnings):
            return ExitCode.USER_ERROR
        return ExitCode.OK


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return sorted(
        set(diagnostics),
        key=lambda d: (
            -1 if d.location.cell is None else d.location.cell,
            d.location.line or 0,
            d.code,
            d.message,
        ),
    )


def _internal(nb: RawNotebook, what: str, exc: BaseException) -> Diagnostic:
    return Diagnostic(
        Severity.WARNING,
        Location(nb.name),
        f"{what} could not check this notebook: internal error "
        f"{exc.__class__.__name__}: {exc}",
        "the other rules still ran; please report this with the notebook",
        "NB1199",
    )


def _contract(
    path: Path, nb: RawNotebook, marked: list[MarkedCell]
) -> list[Diagnostic]:
    """The build's own static checks, for a notebook that has markers."""
    from nb2svc.analysis import analyse
    from nb2svc.naming import env_prefix, package_name

    return analyse(
        nb, marked, env_prefix(package_name(nb.service_name or path.stem))
    ).diagnostics


def _context(
    nb: RawNotebook, extras: NotebookExtras, marked: list[MarkedCell]
) -> LintContext:
    roles = {mc.cell.index: mc.role for mc in marked if mc.cell.cell_type == "code"}
    cells = {c.index: parse_cell(c.source) for c in nb.cells if c.cell_type == "code"}
    python = extras.language in (None, "python", "python3", "ipython")
    return LintContext(nb, extras, roles, cells, python)


def lint_notebook(path: Path) -> LintReport:
    """Lint a notebook. An unreadable file raises InputError; nothing else raises."""
    from nb2svc.notebook.markers import mark_cells
    from nb2svc.notebook.reader import read_notebook

    nb, diagnostics = read_notebook(path)
    extras = read_extras(path)
    try:
        marked, problems = mark_cells(nb)
    except Exception as exc:  # lint the cells as unmarked rather than not at all
        marked = [MarkedCell(c, None, code=c.source) for c in nb.cells]
        problems = [_internal(nb, "reading the markers", exc)]
    diagnostics += problems
    is_marked = any(mc.role is not None for mc in marked) or bool(problems)
    if not is_marked:
        diagnostics.append(
            Diagnostic(
                Severity.WARNING,
                Location(nb.name),
                "no cell is marked, so the notebook contract was not checked",
                f"'nb2svc tag {path.name}' proposes the markers",
                "NB1100",
            )
        )
    ctx = _context(nb, extras, marked)
    if not ctx.python:
        diagnostics.append(
            Diagnostic(
                Severity.WARNING,
                Location(nb.name),
                f"the notebook's kernel language is '{extras.language}', not Python: "
                "rules that read code were skipped",
                "nb2svc builds services from Python notebooks only",
                "NB1112",
            )
        )
    elif any(mc.role not in (None, Role.SKIP) for mc in marked):
        try:
            diagnostics += _contract(path, nb, marked)
        except Exception as exc:  # one failing rule must not hide the others
            diagnostics.append(_internal(nb, "the contract checks", exc))
    checks = (*_CODE_CHECKS, *_ANY_CHECKS) if ctx.python else _ANY_CHECKS
    for check in checks:
        try:
            diagnostics += list(check(ctx))
        except Exception as exc:
            name = check.__name__.removeprefix("check_").replace("_", " ")
            diagnostics.append(_internal(nb, f"the {name} rule", exc))
    return LintReport(nb.name, tuple(sort_diagnostics(diagnostics)), is_marked)
