"""Stage 4 of analysis: the artifacts load cells declare (NB401), and the string
literals in exported code that name them."""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Sequence

from nb2svc.analysis.model import ParsedCell, diag
from nb2svc.errors import Diagnostic
from nb2svc.model import RawNotebook


def normalise_artifact(path: str) -> str | None:
    """The declared path, normalised; None when it is absolute or leaves the folder."""
    clean = posixpath.normpath(path.strip().replace("\\", "/"))
    if (
        clean.startswith(("/", "../"))
        or clean == ".."
        or re.match(r"^[A-Za-z]:", clean)
    ):
        return None
    return clean


def declared_artifacts(
    nb: RawNotebook, load_cells: Sequence[ParsedCell], problems: list[Diagnostic]
) -> dict[str, str]:
    """Artifacts declared on load cells, by their normalised path."""
    artifacts: dict[str, str] = {}
    for pc in load_cells:
        for declared in pc.marked.artifacts:
            clean = normalise_artifact(declared)
            if clean is None:
                problems.append(
                    diag(
                        nb,
                        pc.marked,
                        None,
                        f"artifact path '{declared}' must be relative to the "
                        "notebook's folder and stay inside it",
                        "save artifacts next to the notebook",
                        "NB401",
                    )
                )
            else:
                artifacts[clean] = clean
    return artifacts


def rewrite_artifacts(code: str, tree: ast.AST, artifacts: dict[str, str]) -> str:
    """Replace string literals naming a declared artifact with artifact_path(...)."""
    if not artifacts:
        return code
    hits: list[tuple[int, int, int, str]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.end_lineno == node.lineno
            and node.end_col_offset is not None
        ):
            key = posixpath.normpath(node.value.replace("\\", "/"))
            if key in artifacts:
                hits.append(
                    (node.lineno, node.col_offset, node.end_col_offset, artifacts[key])
                )
    lines = code.splitlines(keepends=True)
    for lineno, start, end, name in sorted(hits, reverse=True):
        raw = lines[lineno - 1].encode()
        new = raw[:start] + f"artifact_path({name!r})".encode() + raw[end:]
        lines[lineno - 1] = new.decode()
    return "".join(lines)
