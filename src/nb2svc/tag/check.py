"""Check a proposal the way `build` will: analyse the tagged notebook, then run it in a
fresh kernel and put its examples through preprocess -> predict -> postprocess.

What build would reject comes back as diagnostics pointing at the tagged notebook's
cells, so tag never offers a proposal that build then refuses with tag's own cells.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from nb2svc.errors import (
    ContractError,
    Diagnostic,
    Location,
    NotebookExecutionError,
    Severity,
)
from nb2svc.model import Progress

if TYPE_CHECKING:
    from nb2svc.capture import Captured


def _rejected(d: Diagnostic, what: str) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR,
        d.location,
        f"the proposal fails {what}: {d.message}",
        (d.hint + "; " if d.hint else "")
        + "mark the cells by hand, or pick another model with --model NAME",
        "NB1211",
    )


def shipped_data(
    captured: Captured, examples_at: Location, profile_at: Location | None = None
) -> list[Diagnostic]:
    """The scan `build` runs on the data it ships, on the proposal's examples and
    reference profile: a possible secret in them (a card number in a held-out row) is
    a warning here, as build refuses it unless asked to redact."""
    from nb2svc.shipped import data_diagnostics, scan_examples, scan_profile

    examples = data_diagnostics(examples_at, scan_examples(captured.examples), "")
    found = _as_warnings(
        examples,
        "the proposed examples: ",
        "build with 'nb2svc build --redact-examples' to ship synthetic values in its "
        "place, or edit the example cell to leave it out",
    )
    if profile_at is None:
        return found
    profile = data_diagnostics(
        profile_at, scan_profile(captured.profile), "reference profile: "
    )
    return found + _as_warnings(
        profile,
        "the proposed ",
        "build with 'nb2svc build --redact-examples' to profile that feature without "
        "its values, or edit the reference cell to leave it out",
    )


def _as_warnings(errors: list[Diagnostic], before: str, hint: str) -> list[Diagnostic]:
    """Build's refusals of shipped data as the proposal's warnings."""
    return [
        replace(
            d,
            severity=Severity.WARNING,
            message=before
            + d.message.removesuffix("; nothing was written")
            + "; 'nb2svc build' refuses to ship it",
            hint=hint,
        )
        for d in errors
    ]


@dataclass(frozen=True)
class Checked:
    """What running the proposal as build runs it found."""

    #: errors build would report (empty: it builds)
    rejected: list[Diagnostic]
    #: warnings about the data it would ship
    shipped: list[Diagnostic] = field(default_factory=list)
    #: what the reference profile leaves out (build's NB603 warnings)
    profile_notes: tuple[str, ...] = ()
    #: why the run failed at the reference cell, or could not profile its rows
    reference_failure: str | None = None


def check_by_running(
    path: Path, content: str, timeout: int, progress: Progress | None = None
) -> Checked:
    """What `build` would report for the tagged `content` of the notebook at `path`.
    Runs the whole tagged notebook from its folder, and profiles its reference."""
    from nb2svc.api import analyse_notebook
    from nb2svc.capture import plan_capture, run_capture

    folder = path.resolve().parent
    with tempfile.TemporaryDirectory(prefix="nb2svc-tag-check-") as tmp:
        tagged = Path(tmp) / path.name
        tagged.write_text(content, encoding="utf-8")
        try:
            nb, marked, analysis, _ = analyse_notebook(tagged)
        except ContractError as exc:
            rejected = [
                _rejected(d, "build's contract checks") for d in exc.diagnostics
            ]
            return Checked(rejected)
    code_by_index = {pc.marked.cell.index: pc.code for pc in analysis.cells}
    exported = [
        (mc.role, mc.cell.index, code_by_index.get(mc.cell.index, mc.code))
        for mc in marked
        if mc.role is not None
    ]
    assert analysis.example_cell is not None  # the contract checks require one
    example = (analysis.example_cell.marked.cell.index, analysis.example_cell.code)
    # The whole notebook, always: the proposal's own save cells make the artifacts
    # its load cell reads, and files left by an earlier run may be stale.
    reference = analysis.reference_cell
    plan = plan_capture(
        nb,
        exported,
        example,
        True,
        analysis.functions,
        analysis.load_globals,
        (reference.marked.cell.index, reference.code) if reference else None,
    )
    try:
        captured = run_capture(nb, folder, plan, timeout, progress=progress)
    except NotebookExecutionError as exc:
        at = reference.marked.cell.index if reference else None
        failure = next(
            (
                d.message
                for d in exc.diagnostics
                if at is not None and d.location.cell == at
            ),
            None,
        )
        return Checked(
            [_rejected(d, "when build runs it") for d in exc.diagnostics],
            reference_failure=failure,
        )
    examples_at = analysis.example_cell.marked.cell.location(path.name)
    profile_at = reference.marked.cell.location(path.name) if reference else None
    return Checked(
        [], shipped_data(captured, examples_at, profile_at), captured.profile_notes
    )
