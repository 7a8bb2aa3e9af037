"""The marker grammar: `nb2svc:<role>` cell tags and `# nb2svc: <role> k=v` directives."""

from __future__ import annotations

import difflib
import re

from nb2svc.errors import Diagnostic, Severity
from nb2svc.model import TRAIN_OPTIONS, Cell, MarkedCell, RawNotebook, Role

TAG_PREFIX = "nb2svc:"
PAPERMILL_TAG = "parameters"
_DIRECTIVE = re.compile(r"^\s*#\s*nb2svc\s*:\s*(?P<body>.*?)\s*$")
_ROLE_NAMES = [r.value for r in Role]


def _did_you_mean(word: str) -> str | None:
    close = difflib.get_close_matches(word, _ROLE_NAMES, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _unknown_role(
    nb: RawNotebook, cell: Cell, word: str, line: int | None
) -> Diagnostic:
    hint = _did_you_mean(word) or f"roles are: {', '.join(_ROLE_NAMES)}"
    return Diagnostic(
        Severity.ERROR,
        cell.location(nb.name, line),
        f"unknown nb2svc role '{word}'",
        hint,
        "NB101",
    )


def _directive(cell: Cell) -> tuple[int, str] | None:
    """The directive on the first non-blank line: (1-based line number, body)."""
    for number, line in enumerate(cell.source.splitlines(), start=1):
        if not line.strip():
            continue
        match = _DIRECTIVE.match(line)
        return (number, match.group("body")) if match else None
    return None


def directive_line(cell: Cell) -> int | None:
    """The 1-based line of the cell's `# nb2svc:` directive, if it has one."""
    found = _directive(cell)
    return found[0] if found else None


def mark_cells(nb: RawNotebook) -> tuple[list[MarkedCell], list[Diagnostic]]:
    """Give every cell its role (or None); report every marker problem at once."""
    problems: list[Diagnostic] = []
    marked = [_mark_cell(nb, cell, problems) for cell in nb.cells]
    return marked, problems


def _mark_cell(nb: RawNotebook, cell: Cell, problems: list[Diagnostic]) -> MarkedCell:
    """The cell's role from its tags and its directive, which is blanked in its code."""
    roles: list[tuple[Role, int | None]] = []
    artifacts: list[str] = []
    params: dict[str, str] = {}
    code = cell.source
    _tag_roles(nb, cell, roles, artifacts, params, problems)
    directive = _directive(cell)
    if directive is not None:
        line, body = directive
        _directive_roles(nb, cell, line, body, roles, artifacts, params, problems)
        # Blank the directive line so exported code keeps its line numbers.
        lines = cell.source.splitlines(keepends=True)
        lines[line - 1] = "\n" if lines[line - 1].endswith("\n") else ""
        code = "".join(lines)
    role = _resolve_role(nb, cell, roles, problems)
    if artifacts and role not in (Role.LOAD, Role.SKIP):
        problems.append(
            Diagnostic(
                Severity.ERROR,
                cell.location(nb.name, directive[0] if directive else None),
                "artifacts are declared on a cell that is not a load cell",
                "declare artifacts on the cell that loads them: "
                "'# nb2svc: load artifacts=model.joblib'",
                "NB106",
            )
        )
    if params and role not in (Role.TRAIN, Role.SKIP):
        problems.append(
            Diagnostic(
                Severity.ERROR,
                cell.location(nb.name, directive[0] if directive else None),
                f"option {', '.join(sorted(params))} is for train cells, and this "
                "cell is not one",
                "mark the cell that fits the model: "
                "'# nb2svc: train data=TRAIN_PATH holdout=X_test,y_test'",
                "NB108",
            )
        )
    return MarkedCell(
        cell=cell,
        role=role,
        params=tuple(sorted(params.items())),
        artifacts=tuple(dict.fromkeys(a.strip() for a in artifacts)),
        code=code if cell.cell_type == "code" else "",
    )


def _tag_roles(
    nb: RawNotebook,
    cell: Cell,
    roles: list[tuple[Role, int | None]],
    artifacts: list[str],
    params: dict[str, str],
    problems: list[Diagnostic],
) -> None:
    """Roles, artifacts and train options from the cell's ``nb2svc:`` tags (and
    papermill's ``parameters``, a config cell)."""
    for tag in cell.tags:
        if tag == PAPERMILL_TAG:
            roles.append((Role.CONFIG, None))
            continue
        if not tag.startswith(TAG_PREFIX):
            continue
        body = tag[len(TAG_PREFIX) :].strip()
        if body.startswith(("artifact=", "artifacts=")):
            value = body.partition("=")[2]
            artifacts.extend(p for p in value.split(",") if p)
            continue
        key, sep, value = body.partition("=")
        if sep and key.strip() in TRAIN_OPTIONS:  # nb2svc:data=TRAIN_PATH
            params[key.strip()] = value.strip()
            continue
        try:
            roles.append((Role(body), None))
        except ValueError:
            problems.append(_unknown_role(nb, cell, body, None))


def _directive_roles(
    nb: RawNotebook,
    cell: Cell,
    line: int,
    body: str,
    roles: list[tuple[Role, int | None]],
    artifacts: list[str],
    params: dict[str, str],
    problems: list[Diagnostic],
) -> None:
    """The role and options of the ``# nb2svc: <role> k=v`` directive on ``line``."""
    words = body.split()
    if not words:
        problems.append(
            Diagnostic(
                Severity.ERROR,
                cell.location(nb.name, line),
                "nb2svc directive without a role",
                f"write '# nb2svc: <role>', roles are: {', '.join(_ROLE_NAMES)}",
                "NB102",
            )
        )
        return
    try:
        roles.append((Role(words[0]), line))
    except ValueError:
        problems.append(_unknown_role(nb, cell, words[0], line))
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not key:
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    cell.location(nb.name, line),
                    f"directive option '{word}' is not key=value",
                    "e.g. '# nb2svc: load artifacts=model.joblib'",
                    "NB103",
                )
            )
        elif key in ("artifacts", "artifact"):
            artifacts.extend(p for p in value.split(",") if p)
        elif key in TRAIN_OPTIONS:
            params[key] = value
        else:
            # An ignored option would fail silently (a misspelt artifacts= leaves
            # the model out of the package).
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    cell.location(nb.name, line),
                    f"unknown directive option '{key}'",
                    "options are artifacts=PATH[,PATH...] on load cells, and "
                    "data=NAME, holdout=X,Y, metric=NAME on train cells",
                    "NB107",
                )
            )


def _resolve_role(
    nb: RawNotebook,
    cell: Cell,
    roles: list[tuple[Role, int | None]],
    problems: list[Diagnostic],
) -> Role | None:
    """One role from the tags' and the directive's: skip wins; several others are an
    error (NB104); a role on a markdown cell too (NB105)."""
    distinct = sorted({r for r, _ in roles}, key=lambda r: r.value)
    role: Role | None = None
    if Role.SKIP in distinct:
        role = Role.SKIP
    elif len(distinct) > 1:
        problems.append(
            Diagnostic(
                Severity.ERROR,
                cell.location(nb.name, next((ln for _, ln in roles if ln), None)),
                "cell has several roles: " + ", ".join(r.value for r in distinct),
                "give each cell one role; split the cell if it does two things",
                "NB104",
            )
        )
    elif distinct:
        role = distinct[0]
    if role is not None and cell.cell_type != "code":
        problems.append(
            Diagnostic(
                Severity.ERROR,
                cell.location(nb.name),
                f"role '{role.value}' on a {cell.cell_type} cell",
                "only code cells can be exported; move the marker to a code cell",
                "NB105",
            )
        )
        role = None
    return role
