"""Check a proposal the way `build` will: analyse the tagged notebook, then run it in a
fresh kernel and put its examples through preprocess -> predict -> postprocess.

What build would reject comes back as diagnostics pointing at the tagged notebook's
cells, so tag never offers a proposal that build then refuses with tag's own cells.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
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


def shipped_data(captured: Captured, examples_at: Location) -> list[Diagnostic]:
    """The scan `build` runs on the data it ships, on the proposal's examples: a
    possible secret in them (a card number in a held-out row) is a warning here, as
    build refuses it unless asked to redact."""
    from nb2svc.shipped import data_diagnostics, scan_examples

    return [
        replace(
            d,
            severity=Severity.WARNING,
            message="the proposed examples: "
            + d.message.removesuffix("; nothing was written")
            + "; 'nb2svc build' refuses to ship it",
            hint="build with 'nb2svc build --redact-examples' to ship synthetic "
            "values in its place, or edit the example cell to leave it out",
        )
        for d in data_diagnostics(examples_at, scan_examples(captured.examples), "")
    ]


def check_by_running(
    path: Path, content: str, timeout: int, progress: Progress | None = None
) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """Errors `build` would report for the tagged `content` of the notebook at
    `path` (empty: it builds), and warnings about the data it would ship. Runs the
    whole tagged notebook from its folder."""
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
            return rejected, []
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
    plan = plan_capture(
        nb, exported, example, True, analysis.functions, analysis.load_globals
    )
    try:
        captured = run_capture(nb, folder, plan, timeout, progress=progress)
    except NotebookExecutionError as exc:
        return [_rejected(d, "when build runs it") for d in exc.diagnostics], []
    examples_at = analysis.example_cell.marked.cell.location(path.name)
    return [], shipped_data(captured, examples_at)
