"""Verify, step by step: run the notebook (N times), run the service, compare.

``nb2svc.api.verify`` makes sure there is a service to verify, then calls
``verify_service``. Every outcome, failures included, is a Report.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nb2svc.capture import CapturePlan
from nb2svc.errors import (
    Diagnostic,
    Location,
    NotebookExecutionError,
    ServiceError,
    Severity,
)
from nb2svc.model import Progress, RawNotebook, Redaction
from nb2svc.verify.compare import Comparison, Difference, Tolerance, compare_values
from nb2svc.verify.model import ExampleResult, Outcome, Report
from nb2svc.verify.notebook import NotebookRun, run_notebook
from nb2svc.verify.service import Answer, ServiceRun, run_service
from nb2svc.writer import sha256

GOLDEN = "tests/golden/examples.json"


@dataclass(frozen=True)
class Target:
    """The service under test and what verify did to get it."""

    out: Path
    package: str
    env_prefix: str
    build: str  # "built", "rebuilt", "up to date", "not rebuilt: hand-edited", ...
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> packaged sha256
    diagnostics: tuple[Diagnostic, ...] = ()
    #: The build's --redact-examples substitutions (from its golden fixtures).
    redactions: tuple[Redaction, ...] = ()


@dataclass(frozen=True)
class Settings:
    tolerance: Tolerance = field(default_factory=Tolerance)
    runs: int = 1
    timeout: int = 600
    startup_timeout: float = 120.0
    request_timeout: float = 60.0
    image: str | None = None  # run the service as this image (built first), not here
    keep_image: bool = False


def verify_service(
    nb: RawNotebook,
    folder: Path,
    plan: CapturePlan,
    target: Target,
    settings: Settings,
    progress: Progress | None = None,
) -> Report:
    """Run the notebook (``settings.runs`` times), check it agrees with itself, start
    the service and compare its answers with the notebook's."""
    say: Progress = progress or (lambda _text: None)
    base = Report(
        notebook=nb.name,
        out=str(target.out),
        package=target.package,
        outcome=Outcome.MATCH,
        tolerance=settings.tolerance,
        runs=settings.runs,
        build=target.build,
    )
    notes = list(target.diagnostics)
    runs: list[NotebookRun] = []
    try:
        _notebook_runs(nb, folder, plan, target, settings, say, runs)
    except NotebookExecutionError as exc:
        return replace(
            base,
            outcome=Outcome.NOTEBOOK_FAILED,
            diagnostics=(*exc.diagnostics, *notes),  # the cause first
            environment=_environment(runs, None),
        )
    notes += _python_notes(nb.name, runs[0])
    inconsistent = _self_consistency(base, nb, runs, settings, notes)
    if inconsistent is not None:
        return inconsistent
    first = runs[-1]  # hash seed 0, like the build's capture
    try:
        service = _service_answers(target, settings, first, say)
    except ServiceError as exc:
        return replace(
            base,
            outcome=Outcome.SERVICE_FAILED,
            diagnostics=(*notes, *exc.diagnostics),
            environment=_environment(runs, None),
        )
    return _compare(base, nb, folder, target, settings, runs, service, notes)


def _notebook_runs(
    nb: RawNotebook,
    folder: Path,
    plan: CapturePlan,
    target: Target,
    settings: Settings,
    say: Progress,
    runs: list[NotebookRun],
) -> None:
    """Run the notebook ``settings.runs`` times, appending each run to ``runs``
    (which holds the runs that finished when one fails)."""
    for number in range(1, settings.runs + 1):
        of = f" (run {number}/{settings.runs})" if settings.runs > 1 else ""
        say(f"executing {nb.name} in a fresh kernel{of}")
        # Each run another string hash seed; the last one 0, as at build time,
        # so the artifacts it leaves next to the notebook are the build's.
        seed = settings.runs - number
        runs.append(
            run_notebook(
                nb,
                folder,
                plan,
                settings.timeout,
                hash_seed=seed,
                redactions=target.redactions,
                progress=say,
            )
        )


def _self_consistency(
    base: Report,
    nb: RawNotebook,
    runs: list[NotebookRun],
    settings: Settings,
    notes: list[Diagnostic],
) -> Report | None:
    """The report of a notebook that disagrees with itself (exit 9), or None."""
    self_diffs = notebook_self_differences(runs, settings.tolerance)
    if not self_diffs:
        return None
    notes.append(
        Diagnostic(
            Severity.ERROR,
            Location(nb.name),
            "the notebook disagrees with itself, so the service was not compared",
            "seed every random generator (random.seed, np.random.seed, "
            "random_state=...), don't "
            "depend on the order of sets of strings (each run has another "
            "PYTHONHASHSEED), or loosen --rtol/--atol",
            "NB703",
        )
    )
    return replace(
        base,
        outcome=Outcome.NONDETERMINISTIC,
        nondeterminism=tuple(self_diffs),
        diagnostics=tuple(notes),
        environment=_environment(runs, None),
    )


def _service_answers(
    target: Target, settings: Settings, first: NotebookRun, say: Progress
) -> ServiceRun:
    """Start the service (here, or as its image) and send it the examples."""
    if settings.image is not None:
        from nb2svc.verify.container import run_image_service

        return run_image_service(
            target.out,
            settings.image,
            target.env_prefix,
            first.inputs,
            startup_timeout=settings.startup_timeout,
            request_timeout=settings.request_timeout,
            keep_image=settings.keep_image,
            on_stage=say,
        )
    say(f"starting the service {target.package}")
    return run_service(
        target.out,
        target.package,
        target.env_prefix,
        first.inputs,
        startup_timeout=settings.startup_timeout,
        request_timeout=settings.request_timeout,
        on_stage=say,
    )


def _compare(
    base: Report,
    nb: RawNotebook,
    folder: Path,
    target: Target,
    settings: Settings,
    runs: list[NotebookRun],
    service: ServiceRun,
    notes: list[Diagnostic],
) -> Report:
    """The report: the service's answers against the notebook's and the golden
    examples'."""
    first = runs[-1]
    if not service.stopped.startswith("cleanly"):
        notes.append(
            Diagnostic(
                Severity.WARNING,
                Location(f"{target.out.name}/src/{target.package}"),
                f"the service did not stop cleanly: {service.stopped}",
                None,
                "NB802",
            )
        )
    examples, general = compare_with_service(first, service, settings.tolerance)
    general += compare_with_golden(first, target.out, settings.tolerance)
    mismatch = general or any(e.differences for e in examples)
    if mismatch:
        notes += _artifact_notes(nb.name, target, folder)
    if mismatch and settings.runs == 1:
        notes.append(
            Diagnostic(
                Severity.WARNING,
                Location(nb.name),
                "the service disagrees with the notebook",
                "if the notebook itself is not deterministic, '--runs 2' shows it",
                "NB701",
            )
        )
    return replace(
        base,
        outcome=Outcome.MISMATCH if mismatch else Outcome.MATCH,
        examples=tuple(examples),
        general=tuple(general),
        batch_latency_ms=service.batch.seconds * 1000,
        diagnostics=tuple(notes),
        environment=_environment(runs, service),
    )


def notebook_self_differences(
    runs: Sequence[NotebookRun], tolerance: Tolerance
) -> list[Difference]:
    """Where the notebook's runs (or two calls in one run) disagree."""
    diffs: list[Difference] = []
    first = runs[0]
    for number, run in enumerate(runs, start=1):
        for index, (output, again) in enumerate(
            zip(run.outputs, run.repeats, strict=True)
        ):
            diffs += compare_values(
                output,
                again,
                tolerance,
                f"examples[{index}]",
                labels=(f"run {number} call 1", "call 2"),
            ).differences
        if number == 1:
            continue
        labels = ("run 1", f"run {number}")
        if len(run.inputs) != len(first.inputs):
            diffs.append(
                Difference(
                    "examples",
                    f"run 1 has {len(first.inputs)} examples vs run {number} "
                    f"{len(run.inputs)}",
                )
            )
            continue
        for index in range(len(first.inputs)):
            diffs += compare_values(
                first.inputs[index],
                run.inputs[index],
                tolerance,
                f"inputs[{index}]",
                labels=labels,
            ).differences
            diffs += compare_values(
                first.outputs[index],
                run.outputs[index],
                tolerance,
                f"examples[{index}]",
                labels=labels,
            ).differences
    return diffs


def compare_with_service(
    run: NotebookRun, service: ServiceRun, tolerance: Tolerance
) -> tuple[list[ExampleResult], list[Difference]]:
    """Per-example results for /predict, and /predict/batch item by item."""
    general: list[Difference] = []
    batch = service.batch
    batch_items: list[Any] | None = None
    if batch.error is not None:
        general.append(Difference("batch", f"service answered {batch.error}"))
    elif not isinstance(batch.body, list) or len(batch.body) != len(run.inputs):
        size = len(batch.body) if isinstance(batch.body, list) else "no list"
        general.append(
            Difference(
                "batch",
                f"{len(run.inputs)} examples sent vs service {size} items "
                f"answered: {json.dumps(batch.body)[:80]}",
            )
        )
    else:
        batch_items = batch.body

    results = []
    for index, answer in enumerate(service.single):
        expected, shape = run.outputs[index], run.shapes[index]
        comparison = Comparison()
        if answer.error is None:
            comparison.merge(
                compare_values(
                    expected, answer.body, tolerance, f"examples[{index}]", shape=shape
                )
            )
        else:
            comparison.differences.append(
                Difference(
                    f"examples[{index}]",
                    f"notebook {json.dumps(expected)[:60]} vs service answered "
                    f"{answer.error}",
                )
            )
        item = batch_items[index] if batch_items is not None else None
        if batch_items is not None:
            comparison.merge(
                compare_values(
                    expected, item, tolerance, f"batch[{index}]", shape=shape
                )
            )
        results.append(_result(index, run, answer, item, comparison))
    return results, general


def _result(
    index: int, run: NotebookRun, answer: Answer, item: Any, comparison: Comparison
) -> ExampleResult:
    if answer.error is not None:
        status = "error"
    else:
        status = "mismatch" if comparison.differences else "match"
    return ExampleResult(
        index=index,
        status=status,
        input=run.inputs[index],
        notebook=run.outputs[index],
        service=answer.body,
        batch=item,
        latency_ms=answer.seconds * 1000,
        max_abs_error=comparison.max_abs,
        max_rel_error=comparison.max_rel,
        differences=tuple(comparison.differences),
        points=tuple(comparison.points),
        error=answer.error,
    )


def compare_with_golden(
    run: NotebookRun, out: Path, tolerance: Tolerance
) -> list[Difference]:
    """The generated tests' fixtures must hold what the notebook returns now."""
    path = out / GOLDEN
    try:
        examples = json.loads(path.read_text(encoding="utf-8"))["examples"]
        golden = [(e["input"], e["output"]) for e in examples]
    except (OSError, ValueError, KeyError, TypeError):
        return [Difference("golden", f"{GOLDEN} is missing or unreadable")]
    if len(golden) != len(run.inputs):
        return [
            Difference(
                "golden",
                f"notebook {len(run.inputs)} examples vs {GOLDEN} {len(golden)}",
            )
        ]
    diffs: list[Difference] = []
    labels = ("notebook", "golden file")
    for index, (given, output) in enumerate(golden):
        diffs += compare_values(
            run.inputs[index], given, tolerance, f"golden[{index}].input", labels=labels
        ).differences
        diffs += compare_values(
            run.outputs[index],
            output,
            tolerance,
            f"golden[{index}].output",
            labels=labels,
        ).differences
    return diffs


def _python_notes(name: str, run: NotebookRun) -> list[Diagnostic]:
    if os.path.realpath(run.python) == os.path.realpath(sys.executable):
        return []
    return [
        Diagnostic(
            Severity.WARNING,
            Location(name),
            f"the notebook's kernel runs {run.python} but the service runs "
            f"{sys.executable}",
            "a difference may come from the two environments' package versions; "
            "install nb2svc into the notebook's environment",
            "NB704",
        )
    ]


def _artifact_notes(name: str, target: Target, folder: Path) -> list[Diagnostic]:
    """Artifacts the notebook's run rewrote with other bytes than the service ships.

    Only said when the service disagrees: pickles often differ in bytes alone (set
    order depends on the interpreter's hash seed) without changing any prediction.
    """
    notes = []
    for artifact, packaged in sorted(target.artifacts.items()):
        source = folder / artifact
        if source.is_file() and sha256(source.read_bytes()) != packaged:
            notes.append(
                Diagnostic(
                    Severity.WARNING,
                    Location(f"{name}: {artifact}"),
                    "the notebook's run wrote another version of this artifact than "
                    "the one the service ships: a retrained model may explain the "
                    "differences",
                    "make the training reproducible, or rebuild with 'nb2svc build'",
                    "NB705",
                )
            )
    return notes


def _environment(
    runs: Sequence[NotebookRun], service: ServiceRun | None
) -> tuple[tuple[str, str], ...]:
    env: list[tuple[str, str]] = []
    if runs:
        first = runs[0]
        env.append(("kernel python", f"{first.python} ({first.python_version})"))
        seconds = ", ".join(f"{r.seconds:.1f} s" for r in runs)
        env.append(("notebook execution", seconds))
        seeds = ", ".join(str(len(runs) - n) for n in range(1, len(runs) + 1))
        env.append(("kernel PYTHONHASHSEED", seeds))
        env += [(name, version) for name, version in sorted(first.versions.items())]
    version = sys.version.split()[0]
    if service is not None and service.command[0] == "docker":
        env.append(("service", service.python))  # the image, built and run
        env.append(("service command", " ".join(service.command)))
        env.append(("service start-up", f"{service.startup_seconds:.1f} s"))
        env.append(("service stop", service.stopped))
        return tuple(env)
    env.append(("service python", f"{sys.executable} ({version})"))
    if service is not None:
        shown = ["python", *service.command[1:]]
        env.append(("service command", " ".join(shown)))
        env.append(("service start-up", f"{service.startup_seconds:.1f} s"))
        env.append(("service stop", service.stopped))
    return tuple(env)
