"""Apply a Proposal to the notebook file's content; show it as a diff; write it safely.

An .ipynb (v4) is edited as JSON so that everything tag does not touch — outputs,
metadata, cell ids, key order — stays byte-for-byte what Jupyter wrote. Other inputs
(nbformat v3, jupytext percent .py) go through nbformat/jupytext.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb2svc.errors import Diagnostic, Location, OutputError, Severity
from nb2svc.tag.plan import NewCell, Proposal


@dataclass(frozen=True)
class Edited:
    content: str  # the tagged notebook, in the input's format
    diff: str  # unified diff of the cells, percent-format style
    upgraded: bool  # an nbformat v3 file was written as v4


def directive(role: str, options: str = "") -> str:
    return f"# nb2svc: {role}" + (f" {options}" if options else "")


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _source(cell: dict[str, Any]) -> str:
    value = cell.get("source", "")
    return "".join(value) if isinstance(value, list) else str(value or "")


def _render(cells: list[dict[str, Any]]) -> list[str]:
    """Cells as percent-format text, the view the diff is made in."""
    out: list[str] = []
    for cell in cells:
        kind = cell.get("cell_type", "code")
        out.append("# %%" if kind == "code" else f"# %% [{kind}]")
        out.extend(_source(cell).splitlines())
        out.append("")
    return out


def _new_cell(spec: NewCell, with_id: bool, ids: set[str]) -> dict[str, Any]:
    source = spec.source
    if spec.role is not None:
        source = directive(spec.role.value, spec.options) + "\n" + source
    cell: dict[str, Any] = {"cell_type": spec.cell_type, "metadata": {}}
    if with_id:
        base = f"nb2svc-{spec.key}"
        new_id, n = base, 1
        while new_id in ids:
            n += 1
            new_id = f"{base}-{n}"
        ids.add(new_id)
        cell["id"] = new_id
    if spec.cell_type == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    cell["source"] = _lines(source)
    return cell


def _edit_cells(
    cells: list[dict[str, Any]], proposal: Proposal, with_id: bool
) -> list[dict[str, Any]]:
    ids = {str(c["id"]) for c in cells if isinstance(c, dict) and "id" in c}
    inserts = sorted(proposal.inserts, key=lambda n: n.order)
    before: dict[int, list[NewCell]] = {}
    after: dict[int, list[NewCell]] = {}
    end: list[NewCell] = []
    for spec in inserts:
        if spec.where == "before":
            before.setdefault(spec.anchor, []).append(spec)
        elif spec.where == "after":
            after.setdefault(spec.anchor, []).append(spec)
        else:
            end.append(spec)
    out: list[dict[str, Any]] = []
    for index, cell in enumerate(cells):
        out += [_new_cell(s, with_id, ids) for s in before.get(index, [])]
        edited = copy.deepcopy(cell)
        if index in proposal.replace:
            edited["source"] = _lines(proposal.replace[index])
        if index in proposal.marks:
            text = _source(edited)
            line = directive(
                proposal.marks[index].value, proposal.mark_options.get(index, "")
            )
            edited["source"] = _lines(line + ("\n" + text if text else ""))
        out.append(edited)
        out += [_new_cell(s, with_id, ids) for s in after.get(index, [])]
    out += [_new_cell(s, with_id, ids) for s in end]
    return out


def _keep_name(metadata: dict[str, Any], service: str | None) -> None:
    """Store the service's name in the notebook's metadata (``nb2svc.name``), unless
    it has one: a tagged copy (``-o churn_tagged.ipynb``) then builds the same service,
    with the same package and environment variables, as the original would."""
    ours = metadata.get("nb2svc")
    if service is None or (isinstance(ours, dict) and ours.get("name")):
        return
    metadata["nb2svc"] = {**(ours if isinstance(ours, dict) else {}), "name": service}


def apply_proposal(
    path: Path, text: str, proposal: Proposal, service: str | None = None
) -> Edited:
    """The tagged notebook's text and the diff, for the file `path` whose text is `text`;
    ``service``: the service name to keep in the notebook's metadata."""
    upgraded = False
    if path.suffix == ".ipynb":
        data = json.loads(text)
        if data.get("nbformat") == 4 and isinstance(data.get("cells"), list):
            cells, new_cells, content = _edit_v4(data, proposal, service)
        else:  # nbformat v3: upgraded, as every other nb2svc command reads it
            cells, new_cells, content = _edit_v3(text, proposal, service)
            upgraded = True
    else:
        cells, new_cells, content = _edit_percent(text, proposal, service)
    diff = "\n".join(
        difflib.unified_diff(
            _render(cells),
            _render(new_cells),
            f"a/{path.name}",
            f"b/{path.name}",
            lineterm="",
        )
    )
    return Edited(content, diff + "\n" if diff else "", upgraded)


_Cells = list[dict[str, Any]]


def _edit_v4(
    data: dict[str, Any], proposal: Proposal, service: str | None
) -> tuple[_Cells, _Cells, str]:
    cells = data["cells"]
    with_id = int(data.get("nbformat_minor", 0)) >= 5 or any(
        isinstance(c, dict) and "id" in c for c in cells
    )
    new_cells = _edit_cells(cells, proposal, with_id)
    data["cells"] = new_cells
    if not isinstance(data.get("metadata"), dict):
        data["metadata"] = {}
    _keep_name(data["metadata"], service)
    # Jupyter's own layout: one-space indent, sorted keys, UTF-8.
    content = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    return cells, new_cells, content


def _edit_v3(
    text: str, proposal: Proposal, service: str | None
) -> tuple[_Cells, _Cells, str]:
    import nbformat

    # nbformat has no type hints.
    reads: Callable[..., Any] = nbformat.reads
    writes: Callable[..., str] = nbformat.writes
    from_dict: Callable[[Any], Any] = nbformat.from_dict
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        node = reads(text, as_version=4)
    cells = [dict(c) for c in node.cells]
    new_cells = _edit_cells(cells, proposal, with_id=True)
    node.cells = [from_dict({**c, "source": _source(c)}) for c in new_cells]
    node.nbformat_minor = max(int(node.get("nbformat_minor", 0)), 5)
    _keep_name(node.metadata, service)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        content = writes(node)
    return cells, new_cells, content


def _edit_percent(
    text: str, proposal: Proposal, service: str | None
) -> tuple[_Cells, _Cells, str]:
    import jupytext
    import nbformat

    from_dict: Callable[[Any], Any] = nbformat.from_dict
    node = jupytext.reads(text, fmt="py:percent")
    cells = [dict(c) for c in node.cells]
    new_cells = _edit_cells(cells, proposal, with_id=False)
    node.cells = [from_dict({**c, "source": _source(c)}) for c in new_cells]
    _keep_name(node.metadata, service)
    if service is not None:  # jupytext writes no other metadata unless told
        settings = node.metadata.setdefault("jupytext", {})
        kept = str(settings.get("notebook_metadata_filter", "-all"))
        if "nb2svc" not in kept.split(","):
            settings["notebook_metadata_filter"] = f"nb2svc,{kept}"
    content: str = jupytext.writes(node, fmt="py:percent")
    return cells, new_cells, content


def _backup_path(path: Path) -> Path:
    candidate = path.with_name(path.name + ".bak")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak.{n}")
        n += 1
    return candidate


def _write_atomic(target: Path, content: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(content)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tagged(
    source: Path, content: str, target: Path | None
) -> tuple[Path, Path | None]:
    """Write the tagged notebook: over `source` after a backup copy, or to `target`.

    Returns (written path, backup path or None). Raises OutputError.
    """
    try:
        if target is None or target.resolve() == source.resolve():
            backup = _backup_path(source)
            backup.write_bytes(source.read_bytes())
            _write_atomic(source, content)
            return source, backup
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(target, content)
        return target, None
    except OSError as exc:
        where = str(target or source)
        raise OutputError(
            [
                Diagnostic(
                    Severity.ERROR,
                    Location(where),
                    f"cannot write the tagged notebook: {exc.strerror or exc}",
                    "check the folder exists and is writable",
                    "NB1210",
                )
            ]
        ) from exc
