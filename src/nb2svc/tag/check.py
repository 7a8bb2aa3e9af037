"""Check a proposal the way `build` will: analyse the tagged notebook, then run it in a
fresh kernel and put its examples through preprocess -> predict -> postprocess.

What build would reject comes back as diagnostics pointing at the tagged notebook's
cells, so tag never offers a proposal that build then refuses with tag's own cells.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from nb2svc.errors import ContractError, Diagnostic, NotebookExecutionError, Severity
from nb2svc.model import Progress


def _rejected(d: Diagnostic, what: str) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR,
        d.location,
        f"the proposal fails {what}: {d.message}",
        (d.hint + "; " if d.hint else "")
        + "mark the cells by hand, or pick another model with --model NAME",
        "NB1211",
    )


def check_by_running(
    path: Path, content: str, timeout: int, progress: Progress | None = None
) -> list[Diagnostic]:
    """Errors `build` would report for the tagged `content` of the notebook at
    `path` (empty: it builds). Runs the whole tagged notebook from its folder."""
    from nb2svc.api import analyse_notebook
    from nb2svc.capture import plan_capture, run_capture

    folder = path.resolve().parent
    with tempfile.TemporaryDirectory(prefix="nb2svc-tag-check-") as tmp:
        tagged = Path(tmp) / path.name
        tagged.write_text(content, encoding="utf-8")
        try:
            nb, marked, analysis, _ = analyse_notebook(tagged)
        except ContractError as exc:
            return [_rejected(d, "build's contract checks") for d in exc.diagnostics]
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
        run_capture(nb, folder, plan, timeout, progress=progress)
    except NotebookExecutionError as exc:
        return [_rejected(d, "when build runs it") for d in exc.diagnostics]
    return []
