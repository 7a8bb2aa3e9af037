"""The config cell's settings (NB501) and their environment variables (NB502)."""

from __future__ import annotations

import ast
from dataclasses import replace

from nb2svc.analysis.model import ParsedCell, diag, nowhere
from nb2svc.errors import Diagnostic, Severity
from nb2svc.literals import python_literal
from nb2svc.model import RawNotebook, Setting
from nb2svc.naming import setting_env, setting_name


def config_settings(
    nb: RawNotebook, pc: ParsedCell, env_prefix: str, problems: list[Diagnostic]
) -> list[Setting]:
    """One setting per literal the config cell assigns to a name."""
    settings: list[Setting] = []
    for stmt in pc.tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring or a bare string
        literal: object = None
        ok = isinstance(target, ast.Name) and value is not None
        if ok:
            try:
                literal = ast.literal_eval(value)  # type: ignore[arg-type]
            except ValueError:
                ok = False
        if not ok or not isinstance(target, ast.Name):
            problems.append(
                diag(
                    nb,
                    pc.marked,
                    stmt.lineno,
                    "config cells may only assign literals to names "
                    f"(found: {ast.unparse(stmt).splitlines()[0][:60]})",
                    "move computed values to a helpers or load cell",
                    "NB501",
                )
            )
            continue
        name = setting_name(target.id)
        settings.append(
            Setting(
                name,
                target.id,
                f"{env_prefix}{name.upper()}",
                _setting_type(literal),
                python_literal(literal),
            )
        )
    return settings


def check_setting_names(
    nb: RawNotebook,
    settings: list[Setting],
    env_prefix: str,
    problems: list[Diagnostic],
) -> list[Setting]:
    """The settings with their environment variables; NB502 for two config names
    that give the same setting."""
    names = frozenset(s.name for s in settings)
    settings = [
        replace(s, env=setting_env(env_prefix, s.name, names - {s.name}))
        for s in settings
    ]
    seen_fields: dict[str, str] = {}
    for s in settings:
        if s.name in seen_fields and seen_fields[s.name] != s.constant:
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    nowhere(nb),
                    f"config names '{seen_fields[s.name]}' and "
                    f"'{s.constant}' give the same setting '{s.name}'",
                    "rename one of them",
                    "NB502",
                )
            )
        seen_fields[s.name] = s.constant
    return settings


def _setting_type(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "str | None"
    for kind, text in ((int, "int"), (float, "float"), (str, "str")):
        if isinstance(value, kind):
            return text
    if isinstance(value, list):
        return "list[Any]"
    if isinstance(value, tuple):
        return "tuple[Any, ...]"
    if isinstance(value, dict):
        return "dict[str, Any]"
    return "Any"
