"""Declared artifacts that cannot be packaged: missing (NB402), or not a regular file
inside the notebook's folder (NB404)."""

from __future__ import annotations

import stat
from pathlib import Path

from nb2svc.analysis import Analysis, normalise_artifact
from nb2svc.errors import Diagnostic, Severity
from nb2svc.model import RawNotebook, Role
from nb2svc.notebook.markers import directive_line


def missing_artifacts(
    nb: RawNotebook, analysis: Analysis, folder: Path, missing_ok: bool = False
) -> list[Diagnostic]:
    """One error per declared artifact that is not a regular file inside the
    notebook's folder: missing (unless ``missing_ok``), or, symlinks followed, a
    directory, a FIFO, a device, or a file outside the folder."""
    problems = []
    for pc in analysis.cells:
        if pc.marked.role is not Role.LOAD:
            continue
        captured = bool(dict(pc.marked.params).get("capture"))
        cell = pc.marked.cell
        line = directive_line(cell)
        if line is not None and "artifacts=" not in cell.source.splitlines()[line - 1]:
            line = None  # declared by a tag
        for declared in pc.marked.artifacts:
            name = normalise_artifact(declared)
            if name is None:
                continue  # NB401
            problem = _artifact_problem(folder, name)
            if problem is None or (problem == "missing" and (missing_ok or captured)):
                continue  # captured objects are saved by the run itself, or it fails
            if problem == "missing":
                message = (
                    f"declared artifact '{name}' does not exist next to the "
                    "notebook, and running the notebook did not create it"
                )
                hint, code = (
                    "run the cell that saves it, or fix the artifacts= declaration",
                    "NB402",
                )
            else:
                message = f"declared artifact '{name}' {problem}: it is not packaged"
                hint = (
                    "an artifact must be a regular file inside the notebook's folder "
                    "(a symlink is followed and must stay inside it): copy the file "
                    "next to the notebook and declare that copy"
                )
                code = "NB404"
            problems.append(
                Diagnostic(
                    Severity.ERROR, cell.location(nb.name, line), message, hint, code
                )
            )
    return problems


def _artifact_problem(folder: Path, name: str) -> str | None:
    """Why ``folder/name`` cannot be packaged, or None (``folder`` is resolved)."""
    path = folder / name
    if not path.exists() and not path.is_symlink():
        return "missing"
    try:
        resolved = path.resolve(strict=True)
        mode = resolved.stat().st_mode
    except (OSError, RuntimeError):  # a dangling symlink, a loop
        return "is a symlink to nothing"
    if not resolved.is_relative_to(folder):
        return "resolves to a file outside the notebook's folder"
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        return f"is {kind}"
    return None
