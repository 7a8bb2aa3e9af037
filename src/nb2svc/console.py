"""All terminal output (rich): diagnostics, summaries, progress."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from nb2svc.errors import Diagnostic, Severity

if TYPE_CHECKING:
    from pathlib import Path

    from nb2svc.compare.model import CompareReport
    from nb2svc.lint import LintReport
    from nb2svc.model import CellStarted, ProgressEvent
    from nb2svc.tag import TagResult
    from nb2svc.verify.model import Report as VerifyReport
    from nb2svc.writer import Change

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_diagnostics(diagnostics: Iterable[Diagnostic]) -> None:
    for d in diagnostics:
        colour = "red" if d.severity is Severity.ERROR else "yellow"
        # User text (paths, code, messages) may contain [brackets]: never markup.
        text = f"[bold]{escape(str(d.location))}[/bold]: [{colour}]{d.severity.value}[/{colour}] [dim]{d.code}[/dim] {escape(d.message)}"
        err.print(
            text if not d.hint else f"{text}\n    [dim]hint:[/dim] {escape(d.hint)}",
            markup=True,
        )


def print_error(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(message)}", markup=True)


def print_verify_report(report: VerifyReport) -> None:
    """nb2svc verify's result: notes, differences, a table of examples, a verdict."""
    from rich.table import Table

    from nb2svc.verify.model import Outcome

    print_diagnostics(report.diagnostics)
    for title, diffs in (
        ("the notebook disagrees with itself", report.nondeterminism),
        ("differences", report.differences),
    ):
        if diffs:
            err.print(f"[bold]{title}:[/bold]", markup=True)
            for d in diffs[:50]:
                err.print(f"  {escape(str(d))}", markup=True)
            if len(diffs) > 50:
                err.print(f"  … and {len(diffs) - 50} more (use --report)")
    if report.examples:
        table = Table(title=f"{report.notebook} vs {report.out}", title_justify="left")
        table.add_column("example", justify="right")
        table.add_column("status")
        table.add_column("max abs err", justify="right")
        table.add_column("max rel err", justify="right")
        table.add_column("latency", justify="right")
        for e in report.examples:
            colour = "green" if e.status == "match" else "red"
            table.add_row(
                str(e.index),
                f"[{colour}]{e.status}[/{colour}]",
                f"{e.max_abs_error:.2e}" if e.max_abs_error else "0",
                f"{e.max_rel_error:.2e}" if e.max_rel_error else "0",
                f"{e.latency_ms:.1f} ms" if e.latency_ms is not None else "-",
            )
        if report.batch_latency_ms is not None:
            table.add_row("batch", "", "", "", f"{report.batch_latency_ms:.1f} ms")
        out.print(table)
    verdicts = {
        Outcome.MATCH: "[green]the service matches the notebook[/green]",
        Outcome.MISMATCH: "[red]the service differs from the notebook[/red]",
        Outcome.NONDETERMINISTIC: "[yellow]the notebook is not deterministic; "
        "the service was not compared[/yellow]",
        Outcome.NOTEBOOK_FAILED: "[red]executing the notebook failed[/red]",
        Outcome.SERVICE_FAILED: "[red]the service did not start or answer[/red]",
    }
    matched = sum(1 for e in report.examples if e.status == "match")
    tally = f" ({matched}/{len(report.examples)} examples)" if report.examples else ""
    out.print(
        f"{verdicts[report.outcome]}{tally}; exit code {int(report.exit_code)}",
        markup=True,
    )


def print_json(data: object) -> None:
    """Machine-readable output on stdout (for --json), nothing else on stdout."""
    import json

    out.file.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    out.file.flush()


def print_changes(changes: Iterable[Change], *, with_diff: bool) -> None:
    """A per-file summary, then (optionally) the unified diff, for --check and diff."""
    changes = list(changes)
    for change in changes:
        out.print(f"{change.kind:>7}  {escape(change.path)}", markup=True)
    if with_diff:
        for change in changes:
            out.file.write(change.diff)
        out.file.flush()


def print_lint_report(report: LintReport, *, strict: bool) -> None:
    """nb2svc lint: every diagnostic, then a one-line tally."""
    print_diagnostics(report.diagnostics)
    errors, warnings = len(report.errors), len(report.warnings)
    if not errors and not warnings:
        out.print(f"{report.notebook}: no problems found", markup=False)
        return
    tally = f"{report.notebook}: {errors} error(s), {warnings} warning(s)"
    if strict and warnings:
        tally += " (--strict: warnings fail)"
    out.print(tally, markup=False)


def print_tag_result(
    result: TagResult, written: tuple[Path, Path | None] | None
) -> None:
    """nb2svc tag: the diff on stdout (pipe it to a file); notes and problems on stderr."""
    import sys

    if result.diff:
        sys.stdout.write(result.diff)
        sys.stdout.flush()
    if result.notes:
        err.print("[bold]proposal:[/bold]", markup=True)
        for note in result.notes:
            err.print(f"  - {escape(note)}", markup=True)
    print_diagnostics(result.diagnostics)
    if written is not None:
        path, backup = written
        kept = f" (the original is kept as {backup})" if backup else ""
        err.print(f"wrote {path}{kept}", markup=False)
    elif result.proposed:
        err.print(
            "nothing written: run again with --write (keeps a backup) or "
            "-o NEW.ipynb to apply it",
            markup=False,
        )


class NotebookProgress:
    """What a command that runs the notebook is doing, as it happens.

    On a terminal: one live line (a spinner, a bar over the cells, "cell n/N" and the
    cell's first line) that disappears when the command is done. Elsewhere (CI logs,
    a pipe): one plain line per step and per cell, so a log shows where a long or
    stuck run was. Called with the core's progress events (nb2svc.model.Progress).
    """

    #: Longest first line shown of a cell.
    WIDTH = 80

    def __init__(self, title: str, console: Console | None = None) -> None:
        self.title = title
        self.console = console or err
        self._live: Progress | None = None
        self._task: TaskID | None = None
        self._titled = False

    def __enter__(self) -> NotebookProgress:
        if self.console.is_terminal:
            self._live = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._live.start()
            self._task = self._live.add_task(escape(self.title), total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __call__(self, event: ProgressEvent) -> None:
        if isinstance(event, str):
            text, total, done = event, None, 0
        else:
            text, total, done = self.describe(event), event.total, event.number - 1
            if event.cell is None:
                done = event.total
        if self._live is not None and self._task is not None:
            self._live.update(
                self._task, description=escape(text), total=total, completed=done
            )
        else:
            self._plain(text)

    @classmethod
    def describe(cls, event: CellStarted) -> str:
        if event.cell is None:
            return event.first_line
        line = event.first_line
        if len(line) > cls.WIDTH:
            line = line[: cls.WIDTH - 1] + "…"
        return (
            f"cell {event.number}/{event.total} (notebook cell {event.cell + 1}): "
            f"{line}"
        )

    def _plain(self, text: str) -> None:
        # The title only once something happens: a rebuild from the cache stays quiet.
        if not self._titled:
            self._titled = True
            self.console.print(f"nb2svc: {self.title}", markup=False, highlight=False)
        self.console.print(f"nb2svc: {text}", markup=False, highlight=False)


def _print_disagreements(report: CompareReport) -> None:
    """The largest disagreements (their data as the report holds it: redacted)."""
    import json

    from rich.table import Table

    if report.disagreements:
        largest = Table(title="largest disagreements", title_justify="left")
        for column in ("row", "fields", "input", "A", "B"):
            largest.add_column(column, overflow="fold")
        for d in report.disagreements:
            largest.add_row(
                str(d.row),
                escape(", ".join(d.fields)),
                *(escape(json.dumps(v, sort_keys=True)) for v in (d.input, d.a, d.b)),
            )
        out.print(largest)
    if report.redacted:
        from nb2svc.compare.redact import redacted_note

        out.print(redacted_note(report.redacted))


def print_compare_report(report: CompareReport) -> None:
    """nb2svc compare's result: agreement and shift per field, the largest
    disagreements, a verdict."""

    from rich.table import Table

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}"

    agreement = Table(title="agreement per output field", title_justify="left")
    for column in ("field", "kind", "exact", "within tolerance", "max |A-B|"):
        agreement.add_column(
            column, justify="left" if column in {"field", "kind"} else "right"
        )
    for f in report.agreement:
        agreement.add_row(
            escape(f.field),
            f.kind,
            f"{f.exact}/{f.rows}",
            f"{f.within}/{f.rows} ({f.rate:.1%})",
            num(f.max_abs_diff),
        )
    out.print(agreement)
    shift = Table(title="prediction distribution, A -> B", title_justify="left")
    for column in ("field", "PSI", "KS", "p-value", "A", "B"):
        shift.add_column(column, justify="left" if column == "field" else "right")
    for s in report.shift:
        if s.kind == "numeric":
            shift.add_row(
                escape(s.field),
                num(s.psi),
                num(s.ks),
                num(s.ks_pvalue),
                f"mean {num(s.mean_a)}",
                f"mean {num(s.mean_b)}",
            )
        else:
            shares = " ".join(f"{escape(k)} {a:.1%}" for k, a, _ in s.frequencies)
            moved = " ".join(f"{escape(k)} {b:.1%}" for k, _, b in s.frequencies)
            shift.add_row(escape(s.field), num(s.psi), "-", "-", shares, moved)
    out.print(shift)
    _print_disagreements(report)
    verdict = "[green]AGREE[/green]" if report.passed else "[red]DISAGREE[/red]"
    out.print(
        f"{verdict}: {report.disagreeing_rows} of {report.rows} rows disagree "
        f"({report.disagreement_rate:.2%}; accepted up to {report.max_disagreement:.2%})",
        markup=True,
    )
