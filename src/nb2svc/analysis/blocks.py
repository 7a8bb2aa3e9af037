"""Stage 5 of analysis: exported cells become code blocks, with their imports hoisted
(NB307) and top-level expressions left out (NB308)."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nb2svc.analysis.artifacts import rewrite_artifacts
from nb2svc.analysis.config import config_settings
from nb2svc.analysis.model import ParsedCell, diag
from nb2svc.errors import Diagnostic, Severity
from nb2svc.model import CodeBlock, RawNotebook, Role, Setting


@dataclass(frozen=True)
class Exported:
    """What the exported cells give the generated package."""

    imports: list[str]  # hoisted import statements, first occurrence first
    blocks: list[CodeBlock]
    load_globals: list[str]
    modules: set[str]  # top-level modules imported by exported code
    settings: list[Setting]  # the config cell's, before check_setting_names


def export_blocks(
    nb: RawNotebook,
    exported: Sequence[ParsedCell],
    artifacts: dict[str, str],
    env_prefix: str,
    problems: list[Diagnostic],
) -> Exported:
    """Code blocks, hoisted imports, config settings and load globals, in pipeline
    order."""
    imports: dict[str, None] = {}
    blocks: list[CodeBlock] = []
    settings: list[Setting] = []
    load_globals: set[str] = set()
    modules: set[str] = set()
    for pc in exported:
        cell_role = pc.marked.role
        assert cell_role is not None
        modules |= _imported_modules(pc.tree)
        spans = _hoisted_spans(nb, pc, cell_role, imports, problems)
        if cell_role is Role.CONFIG:
            settings.extend(config_settings(nb, pc, env_prefix, problems))
            continue
        if cell_role is Role.LOAD:
            load_globals |= pc.bound - _top_level_imported(pc.tree)
        code = rewrite_artifacts(pc.code, pc.tree, artifacts)
        code = _remove_spans(code, spans).strip("\n")
        if code.strip():
            blocks.append(
                CodeBlock(cell_role, pc.marked.cell.index, pc.marked.cell.cell_id, code)
            )
    return Exported(list(imports), blocks, sorted(load_globals), modules, settings)


def _hoisted_spans(
    nb: RawNotebook,
    pc: ParsedCell,
    cell_role: Role,
    imports: dict[str, None],
    problems: list[Diagnostic],
) -> list[tuple[int, int]]:
    """The line spans taken out of the cell's block: imports (added to ``imports``)
    and, but in load and config cells, top-level expressions."""
    spans: list[tuple[int, int]] = []
    for stmt in pc.tree.body:
        end = stmt.end_lineno or stmt.lineno
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            if isinstance(stmt, ast.ImportFrom) and stmt.level:
                problems.append(
                    diag(
                        nb,
                        pc.marked,
                        stmt.lineno,
                        "relative import in exported code",
                        None,
                        "NB307",
                    )
                )
            imports[ast.unparse(stmt)] = None
            spans.append((stmt.lineno, end))
        elif (
            cell_role not in (Role.LOAD, Role.CONFIG)
            and isinstance(stmt, ast.Expr)
            and not isinstance(stmt.value, ast.Constant)
        ):
            problems.append(
                diag(
                    nb,
                    pc.marked,
                    stmt.lineno,
                    "top-level expression left out of the service "
                    "(it would run at import time)",
                    None,
                    "NB308",
                    Severity.WARNING,
                )
            )
            spans.append((stmt.lineno, end))
    return spans


def _imported_modules(tree: ast.AST) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def _top_level_imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                names.add(alias.asname or alias.name.split(".")[0])
    return names


def _remove_spans(code: str, spans: Iterable[tuple[int, int]]) -> str:
    lines = code.splitlines(keepends=True)
    for start, end in spans:
        for i in range(start - 1, end):
            lines[i] = ""
    return "".join(lines)
