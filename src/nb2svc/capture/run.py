"""Run a capture plan in the kernel: the examples' outputs, the reference profile, and
the errors that point at the cell that failed."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb2svc.capture.kernel import (
    KernelFailure,
    cell_progress,
    execute_in_kernel,
    kernel_env,
)
from nb2svc.capture.kernel_code import kernel_source
from nb2svc.capture.plan import CapturePlan
from nb2svc.definitions import missing_main_hint
from nb2svc.errors import Diagnostic, Location, NotebookExecutionError, Severity
from nb2svc.model import ExampleSet, RawNotebook, Redaction
from nb2svc.templates import jsonable_source
from nb2svc_runtime.reference import basis_from_capture, profile_call

if TYPE_CHECKING:
    from nb2svc.model import Progress

#: Kernel-side: the notebook's examples and pipeline functions, from its globals.
#: Shared by the build's capture and by verify, which run it in the kernel first.
KERNEL_EXAMPLES_CODE = kernel_source("examples")
_CAPTURE_CODE = (
    KERNEL_EXAMPLES_CODE + kernel_source("main_refs") + kernel_source("capture")
)


@dataclass(frozen=True)
class Captured:
    examples: ExampleSet
    modules: tuple[str, ...]
    profile: dict[str, Any] | None = None  # the reference profile, when planned
    profile_notes: tuple[str, ...] = ()
    redactions: tuple[Redaction, ...] = ()  # applied to the examples before the run
    #: __main__ classes and functions the loaded objects refer to (definitions.py)
    definitions: tuple[str, ...] = ()


def kernel_redactions(redactions: Sequence[Redaction]) -> str:
    """The redactions as the Python literal the kernel's code takes."""
    return repr([(r.example, list(r.path), r.value) for r in redactions])


def run_capture(
    nb: RawNotebook,
    notebook_dir: Path,
    plan: CapturePlan,
    timeout: int,
    redactions: Sequence[Redaction] = (),
    progress: Progress | None = None,
) -> Captured:
    """Run the plan in a fresh python3 kernel from the notebook's folder.

    ``redactions`` replace values of the examples before the pipeline runs on them;
    each cell is reported to ``progress`` as it starts.
    """
    with tempfile.TemporaryDirectory(prefix="nb2svc-capture-") as tmp:
        out_path = Path(tmp) / "capture.json"
        profile_path = Path(tmp) / "profile.json"
        cells = _kernel_cells(plan, out_path, profile_path, redactions)
        steps = ["capturing the examples' outputs", "profiling the reference data"]
        on_cell = cell_progress(plan, steps, progress)
        try:
            execute_in_kernel(
                cells, notebook_dir, timeout, kernel_env(), Path(tmp), on_cell=on_cell
            )
        except KernelFailure as failure:
            if (
                failure.kind == "error"
                and failure.index > len(plan.cells)
                and plan.reference is not None
            ):
                raise _profile_failure(nb, plan.reference, failure.message) from failure
            raise notebook_failure(
                nb, plan, failure.index, failure.message, failure.hint, failure.line
            ) from failure
        data = json.loads(out_path.read_text(encoding="utf-8"))
        profiled = (
            json.loads(profile_path.read_text(encoding="utf-8"))
            if plan.reference is not None
            else {"profile": None, "notes": []}
        )
    examples = ExampleSet(
        input_kind=data["kind"],
        inputs=tuple(data["inputs"]),
        outputs=tuple(data["outputs"]),
        columns=tuple((c, t) for c, t in data["columns"]),
        array_dtype=data["array_dtype"],
        batch_vectorised=bool(data["batch"]["vectorised"]),
        batch_split=str(data["batch"]["split"]),
        batch_reason=str(data["batch"]["reason"]),
        # Only an array's shape uses it (render/schema.py: array_shape).
        n_features=data.get("n_features") if data["kind"] == "array" else None,
    )
    return Captured(
        examples,
        tuple(data["modules"]),
        profiled["profile"],
        tuple(profiled["notes"]),
        tuple(redactions),
        tuple(data["main"]),
    )


def _kernel_cells(
    plan: CapturePlan,
    out_path: Path,
    profile_path: Path,
    redactions: Sequence[Redaction],
) -> list[Any]:
    """The plan's cells, then nb2svc's: the capture (into ``out_path``) and, with a
    reference cell, the profile (into ``profile_path``)."""
    import nbformat

    fn_names = {fn.role.value: fn.name for fn in plan.functions}
    call = (
        f"{_CAPTURE_CODE}\n__nb2svc_capture({str(out_path)!r}, {fn_names!r}, "
        f"{list(plan.load_globals)!r}, {jsonable_source()!r}, "
        f"{kernel_redactions(redactions)})\n"
    )
    cells = [nbformat.v4.new_code_cell(c.source) for c in plan.cells]
    cells.append(nbformat.v4.new_code_cell(call))
    if plan.reference is not None:
        # The runtime's code, which retrain runs too: one profile for the same data.
        basis = basis_from_capture(str(out_path))
        cells.append(
            nbformat.v4.new_code_cell(profile_call(str(profile_path), basis, fn_names))
        )
    return cells


def _profile_failure(
    nb: RawNotebook, reference: int, message: str
) -> NotebookExecutionError:
    return NotebookExecutionError(
        [
            Diagnostic(
                Severity.ERROR,
                nb.cells[reference].location(nb.name),
                f"profiling the reference data failed: {message}",
                "'reference' must hold raw inputs like the example's (a DataFrame "
                "with the same columns, say), which the pipeline can score",
                "NB602",
            )
        ]
    )


def notebook_failure(
    nb: RawNotebook,
    plan: CapturePlan,
    index: int,
    message: str,
    hint: str | None,
    line: int | None = None,
) -> NotebookExecutionError:
    if index < len(plan.cells) and plan.cells[index].origin is not None:
        origin = plan.cells[index].origin
        assert origin is not None
        cell = nb.cells[origin]
        if line is not None:
            # IPython drops a cell's leading blank lines (a blanked directive, say)
            # before it numbers the rest: count them back in.
            source = plan.cells[index].source.splitlines()
            line += next(
                (i for i, text in enumerate(source) if text.strip()), len(source)
            )
        location = cell.location(nb.name, line)
        text = f"executing the notebook failed: {message}"
        hint = missing_main_hint(message) or hint
    else:
        location = Location(nb.name)
        text = f"capturing the examples failed: {message}"
        hint = (
            hint or "check that the example cell's values go through preprocess/predict"
        )
    return NotebookExecutionError(
        [Diagnostic(Severity.ERROR, location, text, hint, "NB601")]
    )
