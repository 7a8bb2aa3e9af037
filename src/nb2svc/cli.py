"""The command line: options -> api call -> report -> exit code. Nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from nb2svc import __version__

app = typer.Typer(
    name="nb2svc",
    help="Turn a marked proof-of-concept Jupyter notebook into a production-grade service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nb2svc {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """nb2svc: notebook in, service out."""


def _fail(exc: BaseException) -> NoReturn:
    from nb2svc import console
    from nb2svc.errors import ExitCode, Nb2svcError, UserError

    if isinstance(exc, KeyboardInterrupt):
        console.print_error("interrupted; nothing was written")
        raise typer.Exit(ExitCode.INTERRUPTED)
    if isinstance(exc, UserError):
        if exc.diagnostics:
            console.print_diagnostics(exc.diagnostics)
        else:
            console.print_error(str(exc))
        raise typer.Exit(exc.exit_code)
    if isinstance(exc, Nb2svcError):
        console.print_error(str(exc))
        raise typer.Exit(exc.exit_code)
    import traceback

    traceback.print_exception(exc, file=sys.stderr)
    console.print_error(
        "internal error in nb2svc — please report it with the traceback above"
    )
    raise typer.Exit(ExitCode.INTERNAL)


@app.command()
def build(
    notebook: Annotated[
        Path, typer.Argument(help="The marked notebook (.ipynb or percent .py).")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output directory [default: build/<notebook>]."
        ),
    ] = None,
    timeout: Annotated[
        int,
        typer.Option(
            help="Seconds each notebook cell may run when capturing examples."
        ),
    ] = 600,
    force: Annotated[
        bool, typer.Option(help="Overwrite hand-edited generated files.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Write nothing; fail if regenerating would change files."
        ),
    ] = False,
) -> None:
    """Build an installable service package from NOTEBOOK."""
    from nb2svc import api, console
    from nb2svc.errors import ExitCode

    try:
        with console.err.status("building service from " + notebook.name):
            result = api.build(
                api.BuildOptions(
                    notebook=notebook,
                    out=out,
                    timeout=timeout,
                    force=force,
                    check=check,
                )
            )
    except BaseException as exc:  # one edge where every failure becomes an exit code
        if isinstance(exc, typer.Exit | SystemExit):
            raise
        _fail(exc)
    console.print_diagnostics(result.diagnostics)
    if check:
        if result.changes:
            for change in result.changes:
                console.out.print(f"{change.kind:>7}  {change.path}")
            for change in result.changes:
                sys.stdout.write(change.diff)
            console.print_error(
                f"{len(result.changes)} file(s) would change; run 'nb2svc build' to update"
            )
            raise typer.Exit(ExitCode.DRIFT)
        console.out.print(f"{result.out} is up to date")
        return
    summary = ", ".join(
        f"{sum(1 for c in result.changes if c.kind == k)} {k}d"
        for k in ("create", "update", "delete")
    )
    console.out.print(
        f"built [bold]{result.package}[/bold] in {result.out} ({summary}"
        f"{'; examples captured by running the notebook' if result.executed else ''})",
        markup=True,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
