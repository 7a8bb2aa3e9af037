"""Read a notebook file (.ipynb v3/v4 or a jupytext percent-format .py) into a RawNotebook."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from nb2svc.errors import Diagnostic, InputError, Location, Severity
from nb2svc.model import Cell, RawNotebook


def _input_error(
    name: str, message: str, line: int | None = None, hint: str | None = None
) -> InputError:
    return InputError(
        [Diagnostic(Severity.ERROR, Location(name, line=line), message, hint, "NB001")]
    )


def _source(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def read_notebook(path: Path) -> tuple[RawNotebook, list[Diagnostic]]:
    """Read and validate a notebook. Returns it with any warnings (a v3 upgrade, say)."""
    name = path.name
    if not path.exists():
        raise _input_error(name, "no such file", hint=f"check the path {path.name!r}")
    if path.is_dir():
        raise _input_error(name, "is a directory, not a notebook")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _input_error(
            name, f"cannot be read as UTF-8 text ({exc.__class__.__name__})"
        ) from exc

    if path.suffix in {".py", ".md", ".R", ".jl"} and path.suffix != ".ipynb":
        return _read_jupytext(name, text), []
    return _read_ipynb(name, text)


def _read_jupytext(name: str, text: str) -> RawNotebook:
    import jupytext

    try:
        nb = jupytext.reads(text, fmt="py:percent")
    except Exception as exc:  # jupytext raises many kinds
        raise _input_error(
            name, f"not a jupytext percent-format notebook: {exc}"
        ) from exc
    if not any("# %%" in line for line in text.splitlines()):
        raise _input_error(
            name,
            "not a notebook: no '# %%' cell markers",
            hint="nb2svc reads .ipynb files and jupytext percent-format .py files",
        )
    # jupytext invents random cell ids: they are not in the file, so they are not kept.
    return _from_nbnode(name, nb, 4, keep_ids=False)


def _read_ipynb(name: str, text: str) -> tuple[RawNotebook, list[Diagnostic]]:
    import nbformat

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _input_error(
            name,
            f"not valid JSON: {exc.msg} (column {exc.colno})",
            line=exc.lineno,
            hint="is the file truncated or a merge conflict?",
        ) from exc
    if not isinstance(data, dict) or ("cells" not in data and "worksheets" not in data):
        raise _input_error(name, "valid JSON but not a Jupyter notebook (no 'cells')")
    diagnostics: list[Diagnostic] = []
    major = data.get("nbformat")
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # nbformat warns about missing ids; we normalise
        try:
            nb = nbformat.reads(text, as_version=4)
        except Exception as exc:
            raise _input_error(name, f"not a readable notebook: {exc}") from exc
    if major == 3:
        diagnostics.append(
            Diagnostic(
                Severity.WARNING,
                Location(name),
                "nbformat v3 notebook upgraded to v4 in memory",
                "save it from a current Jupyter to silence this",
                "NB002",
            )
        )
    elif major != 4:
        raise _input_error(name, f"unsupported nbformat version {major!r}")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        diagnostics.append(
            Diagnostic(
                Severity.WARNING,
                Location(name),
                f"notebook does not validate against its schema: {exc.message}",
                None,
                "NB003",
            )
        )
    # Upgrading v3 invents random cell ids; keep only ids stored in the file so that
    # messages and generated files stay the same from one build to the next.
    keep_ids = major == 4
    return _from_nbnode(name, nb, int(major or 4), keep_ids=keep_ids), diagnostics


def _from_nbnode(name: str, nb: Any, version: int, *, keep_ids: bool) -> RawNotebook:
    cells = []
    for index, cell in enumerate(nb.get("cells", [])):
        metadata = cell.get("metadata", {}) or {}
        tags = metadata.get("tags", []) or []
        cells.append(
            Cell(
                index=index,
                cell_id=cell.get("id") if keep_ids else None,
                cell_type=str(cell.get("cell_type", "code")),
                source=_source(cell.get("source", "")),
                tags=tuple(str(t) for t in tags),
                execution_count=cell.get("execution_count"),
            )
        )
    return RawNotebook(
        name=name,
        cells=tuple(cells),
        nbformat=version,
        service_name=_service_name(nb.get("metadata", {})),
    )


def _service_name(metadata: Any) -> str | None:
    """The service name stored in the notebook (``metadata.nb2svc.name``), if any:
    `nb2svc tag` keeps the original's name there, so a tagged copy builds the same
    service."""
    ours = metadata.get("nb2svc") if isinstance(metadata, dict) else None
    name = ours.get("name") if isinstance(ours, dict) else None
    return name if isinstance(name, str) and name.strip() else None
