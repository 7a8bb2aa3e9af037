"""``nb2svc build --capture NAME[:FORMAT]``: objects that live only in the kernel,
saved as artifacts and loaded by a load cell nb2svc writes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from nb2svc.errors import Diagnostic, Location, Severity
from nb2svc.model import EXPORTED_ORDER, Cell, MarkedCell, RawNotebook, Role

#: Where captured objects are saved, relative to the notebook's folder.
CAPTURED_DIR = "nb2svc-captured"
CAPTURE_FORMATS = ("joblib", "skops")


@dataclass(frozen=True)
class CaptureSpec:
    """One object to capture from the kernel: its global name and how to save it."""

    name: str
    fmt: str = "joblib"

    @property
    def artifact(self) -> str:
        return f"{CAPTURED_DIR}/{self.name}.{self.fmt}"

    def load_code(self) -> str:
        """The load cell nb2svc writes for it (the path becomes artifact_path(...))."""
        note = (
            f"# captured from the notebook's kernel by 'nb2svc build --capture "
            f"{self.name}'\n"
        )
        path = json.dumps(self.artifact)
        if self.fmt == "skops":
            # The artifact's sha256 is checked before this runs, so the types in it
            # are the ones the build saved.
            return (
                f"{note}import skops.io\n\n"
                f"{self.name} = skops.io.load(\n"
                f"    {path}, trusted=skops.io.get_untrusted_types(file={path})\n)\n"
            )
        return f"{note}import joblib\n\n{self.name} = joblib.load({path})\n"


def parse_capture(values: list[str]) -> tuple[tuple[CaptureSpec, ...], list[str]]:
    """`--capture model,vectorizer:skops` -> specs, and a message per bad value."""
    import keyword

    specs: dict[str, CaptureSpec] = {}
    problems: list[str] = []
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            name, _, fmt = item.partition(":")
            fmt = fmt or "joblib"
            if not name.isidentifier() or keyword.iskeyword(name):
                problems.append(f"{name!r} is not a Python name")
            elif fmt not in CAPTURE_FORMATS:
                problems.append(
                    f"unknown format {fmt!r} for {name} (use {' or '.join(CAPTURE_FORMATS)})"
                )
            elif name in specs and specs[name].fmt != fmt:
                problems.append(f"{name} is captured twice, in two formats")
            else:
                specs[name] = CaptureSpec(name, fmt)
    return tuple(specs.values()), problems


def _binding_cell(nb: RawNotebook, name: str) -> int | None:
    """The last code cell that binds `name` at its top level (magics understood)."""
    import symtable

    from nb2svc.lint.pysource import parse_cell

    found = None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parsed = parse_cell(cell.source)
        if parsed.tree is None:
            continue
        try:
            table = symtable.symtable(parsed.code, "<cell>", "exec")
            sym = table.lookup(name)
        except (KeyError, SyntaxError, ValueError):
            continue
        if sym.is_assigned() or sym.is_imported() or sym.is_namespace():
            found = cell.index
    return found


def capture_cells(
    nb: RawNotebook, marked: list[MarkedCell], specs: tuple[CaptureSpec, ...]
) -> tuple[list[MarkedCell], list[Diagnostic]]:
    """A load cell per captured object, attributed to the cell that makes the object."""
    cells: list[MarkedCell] = []
    problems: list[Diagnostic] = []
    declared = {a for mc in marked for a in mc.artifacts}
    for spec in specs:
        origin = _binding_cell(nb, spec.name)
        problem = _origin_problem(nb, marked, spec, origin, declared)
        if problem is not None:
            problems.append(problem)
            continue
        assert origin is not None
        cells.append(_load_cell(nb.cells[origin], spec))
    return cells, problems


def _origin_problem(
    nb: RawNotebook,
    marked: list[MarkedCell],
    spec: CaptureSpec,
    origin: int | None,
    declared: set[str],
) -> Diagnostic | None:
    """NB1301 when no cell binds the object, NB1302 when it is exported already."""
    import difflib

    if origin is None:
        names = sorted(
            {n for c in nb.cells for n in re.findall(r"\b([A-Za-z_]\w*)\s*=", c.source)}
        )
        close = difflib.get_close_matches(spec.name, names, n=1)
        return Diagnostic(
            Severity.ERROR,
            Location(nb.name),
            f"--capture {spec.name}: no cell of the notebook binds '{spec.name}'",
            f"did you mean '{close[0]}'?" if close else None,
            "NB1301",
        )
    exported = any(
        mc.role in EXPORTED_ORDER and origin == mc.cell.index for mc in marked
    )
    if exported or spec.artifact in declared:
        return Diagnostic(
            Severity.ERROR,
            nb.cells[origin].location(nb.name),
            f"--capture {spec.name}: '{spec.name}' is already exported by "
            "this cell, so there is nothing to capture",
            "capture objects that only unmarked (training) cells make",
            "NB1302",
        )
    return None


def _load_cell(cell: Cell, spec: CaptureSpec) -> MarkedCell:
    """The load cell nb2svc writes for ``spec``. The origin's index and id give the
    generated code its provenance header; the code itself never runs in the capture
    kernel (the dump cell does)."""
    source = spec.load_code()
    synthetic = Cell(cell.index, cell.cell_id, "code", source)
    return MarkedCell(
        synthetic, Role.LOAD, (("capture", spec.name),), (spec.artifact,), source
    )
