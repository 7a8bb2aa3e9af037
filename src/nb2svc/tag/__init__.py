"""`nb2svc tag`: propose nb2svc markers for an unmarked notebook.

It runs the notebook once in a fresh kernel under a tracer (trace.py) and picks the
model the notebook settles on (choose.py: the one it saves, else the one it uses last
on held-out data, else it says it cannot tell); with `static=True` it runs nothing and
picks statically (the one the notebook saves, else the last one fitted, not on a
column subset). From the static view it then follows its input back to raw data (preprocess), finds the model call
(predict) and held-out rows (example), marks or moves the cells they need (imports,
helpers, config), and, for a model that lives only in memory, adds a save cell after
its training and a load cell. The proposal is checked against the contract before it
is shown. Returns a TagResult; never prints, writes only through write_tagged().
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from nb2svc.errors import (
    Diagnostic,
    ExitCode,
    Location,
    NotebookExecutionError,
    Severity,
)
from nb2svc.model import Progress, RawNotebook
from nb2svc.tag.choose import Choice
from nb2svc.tag.edit import Edited, apply_proposal, write_tagged
from nb2svc.tag.plan import Proposal, TagError, plan_tags
from nb2svc.tag.reference import none_note
from nb2svc.tag.trace import Trace

__all__ = ["TagResult", "tag_notebook", "write_tagged"]


@dataclass(frozen=True)
class TagResult:
    notebook: str
    diff: str  # empty when nothing is proposed
    notes: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...]
    content: str | None  # the tagged notebook, in the input's format
    exit_code: ExitCode = ExitCode.OK
    trace: Trace | None = None  # what the traced run recorded (None: --static)

    @property
    def proposed(self) -> bool:
        return self.content is not None


def _self_check(path: Path, content: str, proposal: Proposal) -> list[Diagnostic]:
    """The contract checks of `build`, run on the tagged notebook; and a secret scan
    of the cells it would export."""
    from nb2svc.analysis import analyse
    from nb2svc.lint.outputs import NotebookExtras
    from nb2svc.lint.secrets import find_secrets
    from nb2svc.model import EXPORTED_ORDER
    from nb2svc.naming import env_prefix, package_name
    from nb2svc.notebook.markers import mark_cells
    from nb2svc.notebook.reader import read_notebook

    with tempfile.TemporaryDirectory(prefix="nb2svc-tag-") as tmp:
        tagged = Path(tmp) / path.name
        tagged.write_text(content, encoding="utf-8")
        nb, _ = read_notebook(tagged)
    marked, problems = mark_cells(nb)
    service = package_name(nb.service_name or path.stem)
    problems += analyse(nb, marked, env_prefix(service)).diagnostics
    found = [
        Diagnostic(
            Severity.WARNING,
            d.location,
            f"the tagged notebook still breaks the contract ({d.code}): {d.message}",
            d.hint,
            "NB1202",
        )
        for d in problems
        if d.severity is Severity.ERROR
    ]
    exported = {mc.cell.index for mc in marked if mc.role in EXPORTED_ORDER}
    for secret in find_secrets(nb, NotebookExtras()):
        if secret.cell in exported:
            found.append(
                Diagnostic(
                    Severity.WARNING,
                    nb.cells[secret.cell].location(nb.name, secret.line),
                    f"a proposed exported cell holds a possible secret "
                    f"({', '.join(secret.kinds)}): {secret.redacted}",
                    "'nb2svc build' refuses to put it in the service: read it from "
                    "an environment variable instead",
                    "NB1208",
                )
            )
    return found


#: The self-check's messages about train cells (NB330-336): tag then proposes the
#: service without them.
_TRAIN_PROBLEMS = tuple(
    f"the tagged notebook still breaks the contract (NB33{n})" for n in range(7)
)

#: The self-check's messages about the reference cell (NB315, NB316, NB337): tag
#: then proposes the service without it.
_REFERENCE_PROBLEMS = tuple(
    f"the tagged notebook still breaks the contract ({code})"
    for code in ("NB315", "NB316", "NB337")
)
#: Seconds a cell of the traced run may take (as `build --timeout`).
DEFAULT_TIMEOUT = 600


def tag_notebook(
    path: Path,
    *,
    static: bool = False,
    model: str | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
) -> TagResult:
    """Propose markers for the notebook at `path`. Raises InputError if unreadable.

    Runs the notebook once under the tracer unless `static`; `model` names the
    model to serve instead of the one tag would choose.
    """
    from nb2svc.notebook.reader import read_notebook

    nb, _ = read_notebook(path)
    try:
        return _tag(path, nb, static, model, timeout, progress)
    except Exception as exc:  # a weird notebook must give a message, not a traceback
        return _failed(
            nb.name,
            f"internal error while proposing markers: {exc.__class__.__name__}: {exc}",
            "please report this with the notebook; mark the cells by hand meanwhile",
            "NB1299",
            ExitCode.INTERNAL,
        )


def _tag(
    path: Path,
    nb: RawNotebook,
    static: bool,
    model: str | None,
    timeout: int,
    progress: Progress | None,
) -> TagResult:
    from nb2svc.naming import package_name
    from nb2svc.tag.choose import choose_model

    refused = _refuse(path, nb)
    if refused is not None:
        return refused
    trace = None
    choice = None
    if not static:
        traced = _trace(path, nb, timeout, progress)
        if isinstance(traced, TagResult):
            return traced
        trace = traced
        choice = choose_model(trace, model)
    wanted = model if static else None
    try:
        proposal = plan_tags(nb, choice, wanted, trace)
    except TagError as exc:
        return TagResult(
            nb.name, "", (), (exc.diagnostic,), None, ExitCode.USER_ERROR, trace
        )
    service = package_name(nb.service_name or path.stem)
    edited, checks = _edited(path, proposal, service)
    train, reference = True, True
    untrainable = [d for d in checks if d.message.startswith(_TRAIN_PROBLEMS)]
    if untrainable:  # the train cells break the contract: propose the service alone
        train = False
        proposal = plan_tags(nb, choice, wanted, trace, train=False)
        proposal.notes.append(
            "train: not proposed: " + untrainable[0].message.split(": ", 1)[1]
        )
        edited, checks = _edited(path, proposal, service)
    unprofiled = [d for d in checks if d.message.startswith(_REFERENCE_PROBLEMS)]
    if unprofiled:  # the reference cell breaks the contract: propose none
        reference = False
        proposal = _without_reference(
            nb, choice, wanted, trace, train, unprofiled[0].message.split(": ", 1)[1]
        )
        edited, checks = _edited(path, proposal, service)
    result = _result(path, nb, proposal, edited, checks, service, trace)
    if static or checks:
        return result
    checked, failed = _check_by_running(path, result, proposal, timeout, progress)
    if not reference or failed is None:
        return checked
    # the run fails at the proposed reference cell: propose the rest without it
    proposal = _without_reference(nb, choice, wanted, trace, train, failed)
    edited, checks = _edited(path, proposal, service)
    result = _result(path, nb, proposal, edited, checks, service, trace)
    if checks:
        return result
    return _check_by_running(path, result, proposal, timeout, progress)[0]


def _without_reference(
    nb: RawNotebook,
    choice: Choice | None,
    wanted: str | None,
    trace: Trace | None,
    train: bool,
    why: str,
) -> Proposal:
    """The proposal without its reference cell, saying why."""
    proposal = plan_tags(nb, choice, wanted, trace, train=train, reference=False)
    proposal.notes.append(none_note(f"the proposed one fails: {why}"))
    return proposal


def _result(
    path: Path,
    nb: RawNotebook,
    proposal: Proposal,
    edited: Edited,
    checks: list[Diagnostic],
    service: str,
    trace: Trace | None,
) -> TagResult:
    notes = list(proposal.notes)
    if edited.upgraded:
        notes.append("format: the notebook is nbformat v3; the tagged copy is v4")
    if nb.service_name is None:
        notes.append(
            f"service name: {service}, kept in the notebook's metadata (nb2svc.name) "
            "so that a tagged copy builds the same service; 'nb2svc build --name' "
            "overrides it"
        )
    return TagResult(
        nb.name,
        edited.diff,
        tuple(notes),
        (*proposal.diagnostics, *checks),
        edited.content,
        trace=trace,
    )


def _edited(
    path: Path, proposal: Proposal, service: str
) -> tuple[Edited, list[Diagnostic]]:
    """The proposal applied to the notebook, and the contract's checks of it."""
    edited = apply_proposal(path, path.read_text(encoding="utf-8"), proposal, service)
    return edited, _self_check(path, edited.content, proposal)


def _refuse(path: Path, nb: RawNotebook) -> TagResult | None:
    """A notebook tag does not propose markers for: marked already, or not Python."""
    from nb2svc.lint.outputs import read_extras
    from nb2svc.notebook.markers import mark_cells

    marked, _ = mark_cells(nb)
    if any(mc.role is not None for mc in marked):
        return TagResult(
            nb.name,
            "",
            (),
            (
                Diagnostic(
                    Severity.WARNING,
                    Location(nb.name),
                    "the notebook already has nb2svc markers; tag proposes markers "
                    "for unmarked notebooks only, so nothing was changed",
                    f"'nb2svc lint {path.name}' checks the markers it has",
                    "NB1201",
                ),
            ),
            None,
        )
    language = read_extras(path).language
    if language not in (None, "python", "python3", "ipython"):
        return _failed(
            nb.name,
            f"the notebook's kernel language is '{language}', not Python",
            "nb2svc builds services from Python notebooks only",
            "NB1205",
            ExitCode.USER_ERROR,
        )
    return None


def _trace(
    path: Path, nb: RawNotebook, timeout: int, progress: Progress | None
) -> Trace | TagResult:
    """The traced run; a failed run gives its cause first, and the static way out."""
    from nb2svc.tag.trace import trace_notebook

    try:
        return trace_notebook(nb, path.parent, timeout, progress)
    except NotebookExecutionError as exc:
        failed = tuple(
            replace(
                d,
                message=d.message.replace(
                    "executing the notebook failed",
                    "tag runs the notebook to see its model; the run failed",
                ),
                hint=(d.hint + "; " if d.hint else "")
                + "'nb2svc tag --static' proposes markers without running it",
            )
            for d in exc.diagnostics
        )
        return TagResult(nb.name, "", (), failed, None, exc.exit_code)


def _check_by_running(
    path: Path,
    result: TagResult,
    proposal: Proposal,
    timeout: int,
    progress: Progress | None,
) -> tuple[TagResult, str | None]:
    """The proposal as build runs it; rejected (shown, never written) if it fails.
    With it, why the run failed at the reference cell (None: it did not)."""
    from nb2svc.tag.check import check_by_running

    assert result.content is not None
    # A model built from the notebook's own classes or functions: its saved copy
    # refers to __main__, so build's capture passes and the service cannot load it.
    rejected = [
        replace(d, severity=Severity.ERROR)
        for d in proposal.diagnostics
        if d.code == "NB1207"
    ]
    shipped: list[Diagnostic] = []
    profile_notes: tuple[str, ...] = ()
    at_reference = None
    if not rejected:
        checked = check_by_running(path, result.content, timeout, progress)
        rejected, shipped = checked.rejected, checked.shipped
        profile_notes = checked.profile_notes
        at_reference = checked.reference_failure
    if rejected:
        return (
            replace(
                result,
                diagnostics=(
                    *(d for d in proposal.diagnostics if d.code != "NB1207"),
                    *rejected,
                ),
                content=None,
                exit_code=ExitCode.USER_ERROR,
            ),
            at_reference,
        )
    return (
        replace(
            result,
            notes=(
                *result.notes,
                *(f"reference profile: {note}" for note in profile_notes),
                "checked: the tagged notebook runs as build runs it, and its "
                "examples go through preprocess and predict"
                + (
                    "; build profiles its reference" if _has_reference(proposal) else ""
                ),
            ),
            diagnostics=(*result.diagnostics, *shipped),
        ),
        None,
    )


def _has_reference(proposal: Proposal) -> bool:
    from nb2svc.model import Role

    return any(cell.role is Role.REFERENCE for cell in proposal.inserts)


def _failed(
    name: str, message: str, hint: str, code: str, exit_code: ExitCode
) -> TagResult:
    diagnostic = Diagnostic(Severity.ERROR, Location(name), message, hint, code)
    return TagResult(name, "", (), (diagnostic,), None, exit_code)
