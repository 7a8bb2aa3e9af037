"""The build's capture stage: plan the kernel's run, reuse a stored capture or run the
notebook (twice with ``--redact-examples`` when its examples hold secrets), and check
what may ship."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nb2svc.analysis import Analysis
from nb2svc.capture.artifacts import missing_artifacts
from nb2svc.capture.cache import (
    REFERENCE_PROFILE,
    artifact_hashes,
    cached_capture,
    profile_bytes,
)
from nb2svc.capture.objects import CaptureSpec
from nb2svc.capture.plan import CapturePlan, plan_capture, with_capture
from nb2svc.capture.run import Captured, run_capture
from nb2svc.definitions import check_definitions
from nb2svc.errors import (
    ContractError,
    Diagnostic,
    Location,
    NotebookExecutionError,
    Severity,
)
from nb2svc.model import MarkedCell, Progress, RawNotebook, Redaction
from nb2svc.shipped import DataHit, check_shipped, redactions, scan_examples
from nb2svc.writer import sha256


@dataclass(frozen=True)
class CaptureOptions:
    folder: Path  # the notebook's folder, resolved
    out: Path  # the build's folder, which may hold a capture to reuse
    package: str
    timeout: int
    objects: tuple[CaptureSpec, ...] = ()  # --capture
    redact: bool = False  # --redact-examples (or the build being checked had it)


@dataclass(frozen=True)
class Capture:
    """The captured examples as they ship, and what the build packages with them."""

    captured: Captured
    key: str  # the capture key, with the packaged artifacts' hashes
    executed: bool  # the notebook ran (no stored capture matched)
    redact: bool  # the examples' secrets were replaced (--redact-examples)
    hits: tuple[DataHit, ...]  # secrets in the examples as the notebook made them
    artifacts: dict[str, bytes]  # the declared artifacts
    packaged: dict[str, bytes]  # the artifacts the package ships, profile included
    warnings: tuple[Diagnostic, ...]


def capture_examples(
    nb: RawNotebook,
    marked: list[MarkedCell],
    analysis: Analysis,
    options: CaptureOptions,
    progress: Progress | None = None,
) -> Capture:
    """Capture the examples' outputs (and the reference profile); raise with every
    problem that stops the build, before anything is written."""
    folder = options.folder
    unfit = missing_artifacts(nb, analysis, folder, missing_ok=True)
    if unfit:  # before the notebook runs: a FIFO would hang it, say
        raise ContractError(unfit)
    plan = with_capture(
        _plan(nb, marked, analysis, folder), nb, marked, options.objects
    )
    _check_profile_name(nb, analysis, plan)
    captured, executed, hits = _captured(nb, analysis, plan, options, progress)
    missing = missing_artifacts(nb, analysis, folder)
    if missing:
        raise ContractError(missing)
    cells = [(c.marked.role, c.marked.cell.index, c.code) for c in analysis.cells]
    undefined = check_definitions(nb, cells, captured.definitions)
    if undefined:
        raise ContractError(undefined)  # the service could not load the model
    assert analysis.example_cell is not None
    shipped = check_shipped(
        captured,
        options.redact,
        analysis.example_cell.marked.cell.location(nb.name),
        (
            nb.cells[plan.reference].location(nb.name)
            if plan.reference is not None
            else None
        ),
    )
    if shipped.errors:
        raise ContractError(list(shipped.errors))  # nothing is written
    captured = shipped.captured
    artifact_bytes = {name: (folder / name).read_bytes() for name in analysis.artifacts}
    key = plan.key({n: sha256(b) for n, b in artifact_bytes.items()}, options.redact)
    packaged = dict(artifact_bytes)
    warnings = list(shipped.warnings)
    warnings += _batch_notes(
        analysis.example_cell.marked.cell.location(nb.name), captured
    )
    if captured.profile is not None:
        packaged[REFERENCE_PROFILE] = profile_bytes(captured.profile)
        if plan.reference is not None:
            warnings += _profile_notes(nb, plan.reference, captured)
    return Capture(
        captured,
        key,
        executed,
        options.redact,
        tuple(hits),
        artifact_bytes,
        packaged,
        tuple(warnings),
    )


def _plan(
    nb: RawNotebook, marked: list[MarkedCell], analysis: Analysis, folder: Path
) -> CapturePlan:
    """Run only the exported cells and the example when that is enough; else everything.

    The whole notebook runs when the example uses names that only unmarked cells define,
    or when a declared artifact does not exist yet (the notebook's training cells make it).
    """
    code_by_index = {pc.marked.cell.index: pc.code for pc in analysis.cells}
    exported = [
        (mc.role, mc.cell.index, code_by_index.get(mc.cell.index, mc.code))
        for mc in marked
        if mc.role is not None
    ]
    assert analysis.example_cell is not None
    example = (analysis.example_cell.marked.cell.index, analysis.example_cell.code)
    reference = analysis.reference_cell
    full = (
        analysis.example_needs_notebook
        or analysis.reference_needs_notebook
        or any(not (folder / name).is_file() for name in analysis.artifacts)
    )
    return plan_capture(
        nb,
        exported,
        example,
        full,
        analysis.functions,
        analysis.load_globals,
        (reference.marked.cell.index, reference.code) if reference else None,
    )


def _check_profile_name(nb: RawNotebook, analysis: Analysis, plan: CapturePlan) -> None:
    """NB403: an artifact would be overwritten by the reference profile."""
    if REFERENCE_PROFILE in analysis.artifacts and plan.reference is not None:
        raise ContractError(
            [
                Diagnostic(
                    Severity.ERROR,
                    nb.cells[plan.reference].location(nb.name),
                    f"an artifact is named {REFERENCE_PROFILE}, the name of the "
                    "reference profile nb2svc packages",
                    "rename that artifact",
                    "NB403",
                )
            ]
        )


def _captured(
    nb: RawNotebook,
    analysis: Analysis,
    plan: CapturePlan,
    options: CaptureOptions,
    progress: Progress | None,
) -> tuple[Captured, bool, list[DataHit]]:
    """The stored capture when its key matches, else a run of the notebook; whether
    it ran, and the secrets in its examples (with --redact-examples)."""
    profile_path = f"src/{options.package}/artifacts/{REFERENCE_PROFILE}"
    captured = cached_capture(
        options.out,
        plan.key(artifact_hashes(options.folder, analysis.artifacts), options.redact),
        profile_path if plan.reference is not None else None,
    )
    hits: list[DataHit] = []
    if captured is not None:
        return captured, False, hits
    if progress is not None:
        progress(f"running {len(plan.cells)} cells of {nb.name} in a fresh kernel")
    captured = _run(nb, analysis, plan, options, progress=progress)
    if options.redact:
        hits = scan_examples(captured.examples)
        fixes = redactions(hits)
        if fixes:  # the notebook's outputs for the redacted inputs
            captured = _run(nb, analysis, plan, options, fixes, progress)
    return captured, True, hits


def _run(
    nb: RawNotebook,
    analysis: Analysis,
    plan: CapturePlan,
    options: CaptureOptions,
    fixes: Sequence[Redaction] = (),
    progress: Progress | None = None,
) -> Captured:
    folder = options.folder
    try:
        return run_capture(nb, folder, plan, options.timeout, fixes, progress)
    except NotebookExecutionError as exc:
        missing = missing_artifacts(nb, analysis, folder)
        failed = {d.location.cell for d in exc.diagnostics}
        if any(d.location.cell in failed for d in missing):
            # The load cell failed on its own declared artifact, still missing: that
            # is the cause.
            raise ContractError([*missing, *exc.diagnostics]) from exc
        if missing:
            # Another cell failed (the one that would have saved it, say): that cause
            # first, what follows from it after, the exit code of a run that failed.
            raise NotebookExecutionError([*exc.diagnostics, *missing]) from exc
        raise


def _batch_notes(location: Location, captured: Captured) -> list[Diagnostic]:
    """NB604: /predict/batch scores item by item (the pipeline took no batch)."""
    ex = captured.examples
    if ex.batch_vectorised or ex.input_kind == "json":
        return []
    return [
        Diagnostic(
            Severity.WARNING,
            location,
            "batches are scored one item at a time: "
            f"{ex.batch_reason or 'the examples gave no batch verdict'}",
            "make the pipeline's functions accept a batch (a DataFrame, a 2-D array "
            "or a list) and return one output per row, for one call per batch",
            "NB604",
        )
    ]


def _profile_notes(
    nb: RawNotebook, reference: int, captured: Captured
) -> list[Diagnostic]:
    """NB603: what the profile left out."""
    return [
        Diagnostic(
            Severity.WARNING,
            nb.cells[reference].location(nb.name),
            f"reference profile: {note}",
            None,
            "NB603",
        )
        for note in captured.profile_notes
    ]
