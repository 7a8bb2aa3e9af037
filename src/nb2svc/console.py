"""All terminal output (rich): diagnostics, summaries, progress."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console

from nb2svc.errors import Diagnostic, Severity

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_diagnostics(diagnostics: Iterable[Diagnostic]) -> None:
    for d in diagnostics:
        colour = "red" if d.severity is Severity.ERROR else "yellow"
        text = f"[bold]{d.location}[/bold]: [{colour}]{d.severity.value}[/{colour}] [dim]{d.code}[/dim] {d.message}"
        err.print(
            text if not d.hint else f"{text}\n    [dim]hint:[/dim] {d.hint}",
            markup=True,
        )


def print_error(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", markup=True)
