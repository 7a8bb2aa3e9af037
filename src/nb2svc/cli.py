"""The command line: options -> api call -> report -> exit code. Nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from nb2svc import __version__

if TYPE_CHECKING:
    from nb2svc.api import BuildOptions, BuildResult, VerifyOptions
    from nb2svc.capture import CaptureSpec
    from nb2svc.tag import TagResult
    from nb2svc.verify.model import Report as VerifyReport

app = typer.Typer(
    name="nb2svc",
    help="Turn a marked proof-of-concept Jupyter notebook into a production-grade service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help text is plain text: "[default: build/<notebook>]" and 'nb2svc[docker]'
    # keep their brackets instead of being read as rich markup.
    rich_markup_mode=None,
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


def _fail(exc: BaseException, *, as_json: bool = False) -> NoReturn:
    from nb2svc import console, interrupts
    from nb2svc.errors import ExitCode, Nb2svcError, UserError

    # An interrupt first, whatever a library made of it on its way up (nbclient
    # reports a dead kernel, then fails its own clean-up).
    signal_name = interrupts.received()
    if signal_name is None and isinstance(exc, KeyboardInterrupt):
        signal_name = "SIGINT"
    if signal_name is not None:
        message = interrupts.summary(signal_name)
        if as_json:
            console.print_json(
                {
                    "exit_code": int(ExitCode.INTERRUPTED),
                    "diagnostics": [{"severity": "error", "message": message}],
                }
            )
        else:
            console.print_error(message)
        raise typer.Exit(ExitCode.INTERRUPTED)
    if as_json and isinstance(exc, UserError):
        console.print_json(
            {
                "exit_code": int(exc.exit_code),
                "diagnostics": [d.as_json() for d in exc.diagnostics]
                or [{"severity": "error", "message": str(exc)}],
            }
        )
        raise typer.Exit(exc.exit_code)

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


OutOption = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Output directory [default: build/<notebook>]."),
]
TimeoutOption = Annotated[
    int,
    typer.Option(min=1, help="Seconds each notebook cell may run when capturing."),
]
TemplateOption = Annotated[
    Path | None,
    typer.Option(
        "--template",
        help="A template directory to render instead of the bundled one "
        "(cookiecutter-style; see docs/generated-package.md).",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print a machine-readable JSON result.")
]
NameOption = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="The service's name (package, environment variables, default --out) "
        "[default: the name stored in the notebook by 'nb2svc tag', else the "
        "notebook's file name].",
    ),
]


def _run_build(options: BuildOptions, *, as_json: bool) -> BuildResult:
    from nb2svc import api, console

    try:
        title = "building service from " + options.notebook.name
        with console.NotebookProgress(title) as progress:
            return api.build(options, progress)
    except BaseException as exc:  # one edge where every failure becomes an exit code
        if isinstance(exc, typer.Exit | SystemExit):
            raise
        _fail(exc, as_json=as_json)


def _build_json(result: BuildResult, exit_code: int) -> dict[str, object]:

    return {
        "exit_code": exit_code,
        "package": result.package,
        "out": str(result.out),
        "written": result.written,
        "executed_notebook": result.executed,
        "changes": [{"path": c.path, "kind": c.kind} for c in result.changes],
        "diagnostics": [d.as_json() for d in result.diagnostics],
    }


def _image_tag(value: str | None) -> str | None:
    from nb2svc.naming import is_image_reference

    if value is not None and ("@" in value or not is_image_reference(value)):
        raise typer.BadParameter(
            f"{value!r} is not an image tag like my-service:verify",
            param_hint="--image",
        )
    return value


def _base_image(value: str | None) -> str | None:
    from nb2svc.naming import is_image_reference

    if value is not None and not is_image_reference(value):
        raise typer.BadParameter(
            f"{value!r} is not an image reference like "
            "python:3.11-slim or python:3.11-slim@sha256:<64 hex digits>",
            param_hint="--base-image",
        )
    return value


# `nb2svc build`'s own options.
ForceOption = Annotated[
    bool, typer.Option(help="Overwrite hand-edited generated files.")
]

CheckOption = Annotated[
    bool,
    typer.Option(
        "--check", help="Write nothing; fail if regenerating would change files."
    ),
]

VerifyAfterOption = Annotated[
    bool,
    typer.Option(
        "--verify",
        help="Then run 'nb2svc verify' on the result (default tolerances).",
    ),
]

ImageAfterOption = Annotated[
    str | None,
    typer.Option(
        "--image",
        metavar="TAG",
        help="Then build the service's Docker image as TAG (needs a Docker "
        "engine and the docker package: pip install 'nb2svc[docker]').",
    ),
]

BaseImageOption = Annotated[
    str | None,
    typer.Option(
        "--base-image",
        metavar="IMAGE",
        help="The Dockerfile's base image, best pinned by digest "
        "(python:3.11-slim@sha256:...); default python:X.Y-slim, X.Y the "
        "Python nb2svc runs on. Recorded in the manifest.",
    ),
]

FindLinksOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--find-links",
        metavar="DIR",
        help="A folder of wheels: their hashes go into requirements.lock "
        "without asking the package index.",
    ),
]

CaptureOption = Annotated[
    list[str] | None,
    typer.Option(
        "--capture",
        metavar="NAME[:FORMAT][,NAME...]",
        help="Objects that live only in the notebook's kernel (a model trained "
        "and never saved): run the notebook, save them as artifacts "
        "(joblib, or :skops) and load them in the service.",
    ),
]

RedactExamplesOption = Annotated[
    bool,
    typer.Option(
        "--redact-examples",
        help="Secrets found in the examples' data (card numbers, keys) ship as "
        "synthetic values of the same shape, the notebook's outputs recomputed "
        "for them; instead of refusing the build.",
    ),
]
RegisterOption = Annotated[
    bool,
    typer.Option(
        "--register",
        help="Then register the model (artifacts, manifest, verify report) as a "
        "new version in an MLflow model registry (see README, Model registry).",
    ),
]
RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry",
        metavar="URI",
        help="The registry's tracking URI [default: MLFLOW_TRACKING_URI, else a "
        "local sqlite store in nb2svc's data folder].",
    ),
]
RegisteredNameOption = Annotated[
    str | None,
    typer.Option(
        "--registered-name",
        metavar="NAME",
        help="The registered model's name [default: the service's package].",
    ),
]


@app.command()
def build(
    notebook: Annotated[
        Path, typer.Argument(help="The marked notebook (.ipynb or percent .py).")
    ],
    out: OutOption = None,
    timeout: TimeoutOption = 600,
    force: ForceOption = False,
    check: CheckOption = False,
    verify: VerifyAfterOption = False,
    image: ImageAfterOption = None,
    template: TemplateOption = None,
    as_json: JsonOption = False,
    base_image: BaseImageOption = None,
    find_links: FindLinksOption = None,
    capture: CaptureOption = None,
    redact_examples: RedactExamplesOption = False,
    name: NameOption = None,
    register: RegisterOption = False,
    registry: RegistryOption = None,
    registered_name: RegisteredNameOption = None,
) -> None:
    """Build an installable service package from NOTEBOOK."""
    from nb2svc import api

    options = api.BuildOptions(
        notebook=notebook,
        out=out,
        timeout=timeout,
        force=force,
        check=check,
        template=template,
        capture=_capture_specs(capture),
        redact_examples=redact_examples,
        name=name,
        base_image=_base_image(base_image),
        find_links=tuple(find_links or ()),
    )
    result = _run_build(options, as_json=as_json)
    _print_build(result, check=check, as_json=as_json)
    parity = None
    if verify:
        parity = _verify(
            api.VerifyOptions(notebook, result.out, timeout, build=False, name=name)
        )
    if image is not None and not check:
        _build_image(result.out, image)
    if register and not check:
        _register(result.out, notebook, registry, registered_name, parity)


def _print_build(result: BuildResult, *, check: bool, as_json: bool) -> None:
    """What the build did (or, with --check, would change: exit 2 then)."""
    from nb2svc import console
    from nb2svc.errors import ExitCode

    code = ExitCode.DRIFT if check and result.changes else ExitCode.OK
    if as_json:
        console.print_json(_build_json(result, code))
    else:
        console.print_diagnostics(result.diagnostics)
    if check:
        if result.changes:
            if not as_json:
                console.print_changes(result.changes, with_diff=True)
                console.print_error(
                    f"{len(result.changes)} file(s) would change; "
                    "run 'nb2svc build' to update"
                )
            raise typer.Exit(code)
        if not as_json:
            console.out.print(f"{result.out} is up to date", markup=False)
    elif not as_json:
        summary = ", ".join(
            f"{sum(1 for c in result.changes if c.kind == k)} {k}d"
            for k in ("create", "update", "delete")
        )
        ran = "; examples captured by running the notebook" if result.executed else ""
        console.out.print(
            f"built {result.package} in {result.out} ({summary}{ran})", markup=False
        )


def _register(
    out: Path,
    notebook: Path,
    registry: str | None,
    name: str | None,
    parity: VerifyReport | None,
) -> None:
    from nb2svc import console
    from nb2svc.registry import RegisterOptions, register_service
    from nb2svc.verify.report import report_dict

    report = None if parity is None else report_dict(parity)
    try:
        with console.err.status("registering the model"):
            done = register_service(
                RegisterOptions(out, notebook, registry, name, report)
            )
    except BaseException as exc:  # one edge where every failure becomes an exit code
        if isinstance(exc, typer.Exit | SystemExit):
            raise
        _fail(exc)
    state = "registered" if done.created else "already registered (same fingerprint)"
    console.out.print(
        f"{state}: {done.uri} in {done.tracking_uri}", markup=False, soft_wrap=True
    )


def _build_image(context: Path, tag: str) -> None:
    from nb2svc import console
    from nb2svc.docker_build import build_image

    try:
        with console.err.status(f"building image {tag}") as status:

            def progress(line: str) -> None:
                if line.startswith("Step "):
                    console.err.print(line, markup=False, highlight=False)
                status.update(f"building image {tag}: {line[:100]}")

            built = build_image(context, tag, progress)
    except BaseException as exc:  # one edge where every failure becomes an exit code
        if isinstance(exc, typer.Exit | SystemExit):
            raise
        _fail(exc)
    console.out.print(f"built image {built.tag} ({built.image_id})", markup=False)


@app.command()
def diff(
    notebook: Annotated[Path, typer.Argument(help="The marked notebook.")],
    out: OutOption = None,
    timeout: TimeoutOption = 600,
    template: TemplateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what rebuilding NOTEBOOK would change (a unified diff); writes nothing."""
    from nb2svc import api, console

    options = api.BuildOptions(
        notebook=notebook, out=out, timeout=timeout, check=True, template=template
    )
    result = _run_build(options, as_json=as_json)
    if as_json:
        console.print_json(
            {
                **_build_json(result, 0),
                "diff": "".join(c.diff for c in result.changes),
            }
        )
        return
    console.print_diagnostics(result.diagnostics)
    if not result.changes:
        console.out.print(f"{result.out} is up to date", markup=False)
        return
    console.print_changes(result.changes, with_diff=True)


@app.command()
def check(
    notebooks: Annotated[
        list[Path], typer.Argument(help="Marked notebooks whose services to check.")
    ],
    out_root: Annotated[
        Path,
        typer.Option(
            "--out-root",
            help="Folder holding the generated services, one per notebook, named "
            "after the notebook's package (e.g. services/fraud_scoring).",
        ),
    ] = Path("build"),
    timeout: TimeoutOption = 600,
    template: TemplateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fail when any notebook's generated service is out of date (for pre-commit/CI)."""
    from nb2svc import api, console
    from nb2svc.errors import ExitCode
    from nb2svc.naming import package_name
    from nb2svc.notebook.reader import read_notebook

    results = []
    for notebook in notebooks:
        try:
            stored = read_notebook(notebook)[0].service_name
        except (
            BaseException
        ) as exc:  # one edge where every failure becomes an exit code
            if isinstance(exc, typer.Exit | SystemExit):
                raise
            _fail(exc, as_json=as_json)
        options = api.BuildOptions(
            notebook=notebook,
            out=out_root / package_name(stored or notebook.stem),
            timeout=timeout,
            check=True,
            template=template,
        )
        results.append(_run_build(options, as_json=as_json))
    stale = [r for r in results if r.changes]
    code = ExitCode.DRIFT if stale else ExitCode.OK
    if as_json:
        console.print_json(
            {"exit_code": int(code), "services": [_build_json(r, 0) for r in results]}
        )
        raise typer.Exit(code)
    for result in results:
        console.print_diagnostics(result.diagnostics)
        if result.changes:
            console.out.print(f"{result.out}: out of date", markup=False)
            console.print_changes(result.changes, with_diff=True)
        else:
            console.out.print(f"{result.out}: up to date", markup=False)
    if stale:
        console.print_error(
            f"{len(stale)} service(s) out of date; rebuild with 'nb2svc build'"
        )
    raise typer.Exit(code)


# `nb2svc verify`'s own options.
VerifyOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="The generated service (default: build/<notebook>); built there "
        "first if it is missing or out of date, never over hand edits.",
    ),
]

VerifyTimeoutOption = Annotated[
    int, typer.Option(min=1, help="Seconds each notebook cell may run.")
]

RunsOption = Annotated[
    int,
    typer.Option(
        min=1,
        help="Execute the notebook this many times; if the runs disagree, the "
        "notebook is reported as nondeterministic.",
    ),
]

RtolOption = Annotated[
    float, typer.Option(min=0.0, help="Relative tolerance for floats.")
]

AtolOption = Annotated[
    float, typer.Option(min=0.0, help="Absolute tolerance for floats.")
]

ReportOption = Annotated[
    Path | None, typer.Option(help="Write a JSON report here (for CI).")
]

HtmlOption = Annotated[
    Path | None,
    typer.Option(help="Write a self-contained HTML report, with plots, here."),
]

BuildFlagOption = Annotated[
    bool,
    typer.Option(
        "--build/--no-build",
        help="--no-build: verify the service in --out as it is, never building.",
    ),
]

StartupTimeoutOption = Annotated[
    float, typer.Option(min=1.0, help="Seconds the service may take to be ready.")
]

VerifyImageOption = Annotated[
    str | None,
    typer.Option(
        "--image",
        metavar="TAG",
        help="Verify the service's container image instead: build it as TAG "
        "with the Docker engine, run it with its port on 127.0.0.1, compare "
        "(needs the docker package: pip install 'nb2svc[docker]').",
    ),
]

KeepImageOption = Annotated[
    bool,
    typer.Option("--keep-image", help="With --image: keep the image afterwards."),
]


@app.command(name="verify")
def verify_command(
    notebook: Annotated[Path, typer.Argument(help="The marked notebook.")],
    out: VerifyOutOption = None,
    timeout: VerifyTimeoutOption = 600,
    runs: RunsOption = 1,
    rtol: RtolOption = 1e-6,
    atol: AtolOption = 1e-9,
    report: ReportOption = None,
    html: HtmlOption = None,
    build: BuildFlagOption = True,
    startup_timeout: StartupTimeoutOption = 120.0,
    name: NameOption = None,
    image: VerifyImageOption = None,
    keep_image: KeepImageOption = False,
) -> None:
    """Prove the generated service answers what NOTEBOOK returns for its examples.

    Executes the whole notebook in a fresh kernel, starts the service on a free
    loopback port, sends every example (one by one and as one batch) and compares.
    Exit codes: 0 match, 7 mismatch, 4 notebook failed, 8 service failed,
    9 notebook nondeterministic.
    """
    from nb2svc import api

    _verify(
        api.VerifyOptions(
            notebook=notebook,
            out=out,
            timeout=timeout,
            runs=runs,
            rtol=rtol,
            atol=atol,
            build=build,
            startup_timeout=startup_timeout,
            name=name,
            image=_image_tag(image),
            keep_image=keep_image,
        ),
        report,
        html,
    )


def _verify(
    options: VerifyOptions, report: Path | None = None, html: Path | None = None
) -> VerifyReport:
    from nb2svc import api, console
    from nb2svc.errors import OutputError
    from nb2svc.verify.html import write_html
    from nb2svc.verify.report import write_report

    try:
        with console.NotebookProgress("verifying " + options.notebook.name) as progress:
            result = api.verify(options, progress)
        for path, write in ((report, write_report), (html, write_html)):
            if path is not None:
                try:
                    write(result, path)
                except OSError as exc:
                    raise OutputError(f"cannot write {path}: {exc.strerror}") from exc
    except BaseException as exc:  # one edge where every failure becomes an exit code
        if isinstance(exc, typer.Exit | SystemExit):
            raise
        _fail(exc)
    console.print_verify_report(result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
    return result


def _capture_specs(values: list[str] | None) -> tuple[CaptureSpec, ...]:
    from nb2svc.capture import parse_capture

    specs, problems = parse_capture(values or [])
    if problems:
        raise typer.BadParameter("; ".join(problems), param_hint="--capture")
    return specs


@app.command()
def lint(
    notebook: Annotated[
        Path, typer.Argument(help="The notebook to check (.ipynb or percent .py).")
    ],
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail (exit 1) on warnings too.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Report every problem of NOTEBOOK in one run, without building it.

    The build's contract checks, plus: shell escapes and magics, names used before
    any cell defines them, secrets in sources and outputs (shown redacted), absolute
    paths and paths outside the notebook's folder, unseeded randomness in exported
    code, out-of-order execution counts, very large outputs.
    Exit codes: 0 no errors (no warnings either, with --strict), 1 otherwise,
    3 the file is not a notebook.
    """
    from nb2svc import console
    from nb2svc.lint import lint_notebook

    try:
        report = lint_notebook(notebook)
    except BaseException as exc:  # one edge where every failure becomes an exit code
        if isinstance(exc, typer.Exit | SystemExit):
            raise
        _fail(exc, as_json=as_json)
    code = report.exit_code(strict)
    if as_json:
        console.print_json(
            {
                "notebook": report.notebook,
                "exit_code": int(code),
                "strict": strict,
                "marked": report.marked,
                "errors": len(report.errors),
                "warnings": len(report.warnings),
                "diagnostics": [d.as_json() for d in report.diagnostics],
            }
        )
    else:
        console.print_lint_report(report, strict=strict)
    raise typer.Exit(code)


# `nb2svc tag`'s own options.
WriteOption = Annotated[
    bool,
    typer.Option(
        "--write",
        help="Write the markers into NOTEBOOK, keeping the original as "
        "NOTEBOOK.bak.",
    ),
]

TagOutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write the tagged notebook here instead; NOTEBOOK stays as it is.",
    ),
]

StaticOption = Annotated[
    bool,
    typer.Option(
        "--static",
        help="Do not run the notebook: choose the model by reading the code only "
        "(for notebooks that cannot run here).",
    ),
]

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Serve this model (a name the notebook binds it to, as tag lists "
        "the candidates) instead of the one tag chooses.",
    ),
]

TagTimeoutOption = Annotated[
    int,
    typer.Option(min=1, help="Seconds each notebook cell may run when traced."),
]


@app.command()
def tag(
    notebook: Annotated[
        Path, typer.Argument(help="The unmarked notebook (.ipynb or percent .py).")
    ],
    write: WriteOption = False,
    output: TagOutputOption = None,
    static: StaticOption = False,
    model: ModelOption = None,
    timeout: TagTimeoutOption = 600,
    as_json: JsonOption = False,
) -> None:
    """Propose nb2svc markers for an unmarked NOTEBOOK, printed as a diff.

    Runs the notebook once in a fresh kernel (as build does, from its folder, so
    files it writes appear as they do in a run) and records which models it fits,
    saves and predicts with. The model served is the one the notebook saves, else
    the one it uses last to predict on held-out data; otherwise tag lists the
    candidates and --model picks one. Then: the imports; the steps from raw data to
    the model's input (preprocess); the model call (predict); held-out rows as the
    example; the raw training rows as the reference for drift monitoring (or a note
    saying why none); a save/load pair for a model that lives only in memory.
    Training cells stay unmarked. The tagged notebook keeps the service's name in its metadata, so
    a copy builds the same service. Nothing is written without --write or --output.
    Exit codes: 0 proposed (or nothing to do), 1 no model to serve, 3 not a
    notebook, 4 the notebook failed to run, 5 cannot write.
    """
    from nb2svc import console

    if write and output is not None:
        raise typer.BadParameter("give --write or --output, not both")
    if output is not None and output.suffix != notebook.suffix:
        raise typer.BadParameter(
            f"write a {notebook.suffix} file, like the input", param_hint="--output"
        )
    try:
        result = _tag_run(notebook, static=static, model=model, timeout=timeout)
        written = None
        if result.content is not None and (write or output is not None):
            from nb2svc.tag import write_tagged

            written = write_tagged(notebook, result.content, output)
    except BaseException as exc:  # one edge where every failure becomes an exit code
        if isinstance(exc, typer.Exit | SystemExit):
            raise
        _fail(exc, as_json=as_json)
    if as_json:
        console.print_json(_tag_json(result, written))
    else:
        console.print_tag_result(result, written)
    raise typer.Exit(result.exit_code)


def _tag_run(
    notebook: Path, *, static: bool, model: str | None, timeout: int
) -> TagResult:
    """Propose the markers: from the code alone (--static), or tracing a run."""
    from nb2svc import console
    from nb2svc.tag import tag_notebook

    if static:
        return tag_notebook(notebook, static=True, model=model)
    with console.NotebookProgress("tag: running " + notebook.name) as progress:
        return tag_notebook(notebook, model=model, timeout=timeout, progress=progress)


def _tag_json(
    result: TagResult, written: tuple[Path, Path | None] | None
) -> dict[str, Any]:
    return {
        "notebook": result.notebook,
        "exit_code": int(result.exit_code),
        "proposed": result.proposed,
        "notes": list(result.notes),
        "diagnostics": [d.as_json() for d in result.diagnostics],
        "diff": result.diff,
        "written": str(written[0]) if written else None,
        "backup": str(written[1]) if written and written[1] else None,
    }


CompareAOption = Annotated[
    str,
    typer.Argument(
        metavar="A",
        help="Model A (the one in production): a service URL, a registered "
        "version (models:/NAME@ALIAS or models:/NAME/VERSION) or a built "
        "service's folder.",
    ),
]

CompareBOption = Annotated[
    str, typer.Argument(metavar="B", help="Model B (the candidate), likewise.")
]

CompareDataOption = Annotated[
    Path,
    typer.Option(
        "--data",
        help="The rows both score: .csv with a header, .json array, .jsonl.",
    ),
]

CompareServiceOption = Annotated[
    Path | None,
    typer.Option(
        "--service",
        metavar="DIR",
        help="The built service that serves a models:/ side [default: the other "
        "side, when it is a folder].",
    ),
]

CompareRtolOption = Annotated[
    float, typer.Option(min=0.0, help="Relative tolerance for numbers.")
]

CompareAtolOption = Annotated[
    float, typer.Option(min=0.0, help="Absolute tolerance for numbers.")
]

MaxDisagreementOption = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        help="The share of rows that may disagree and still pass (exit 0).",
    ),
]

CompareTopOption = Annotated[
    int, typer.Option(min=0, help="How many of the largest disagreements to show.")
]

CompareHtmlOption = Annotated[
    Path | None,
    typer.Option(help="Write a self-contained HTML report, with plots, here."),
]

CompareStartupOption = Annotated[
    float, typer.Option(min=1.0, help="Seconds a started service may take.")
]


@app.command("compare")
def compare_command(
    a: CompareAOption,
    b: CompareBOption,
    data: CompareDataOption,
    service: CompareServiceOption = None,
    rtol: CompareRtolOption = 1e-6,
    atol: CompareAtolOption = 1e-6,
    max_disagreement: MaxDisagreementOption = 0.0,
    top: CompareTopOption = 10,
    html: CompareHtmlOption = None,
    startup_timeout: CompareStartupOption = 120.0,
    as_json: JsonOption = False,
) -> None:
    """Score the same rows with A and B (shadow comparison) and report how far they
    agree, how the predictions' distribution moves, and the largest disagreements."""
    from nb2svc import console
    from nb2svc.compare.html import write_html
    from nb2svc.compare.model import Tolerance
    from nb2svc.compare.report import report_dict
    from nb2svc.compare.run import CompareOptions, compare
    from nb2svc.errors import OutputError

    options = CompareOptions(
        a,
        b,
        data,
        service,
        Tolerance(atol, rtol),
        top,
        max_disagreement,
        startup_timeout,
    )
    try:
        with console.err.status(f"scoring {data.name} with {a} and {b}"):
            report = compare(options)
        if html is not None:
            try:
                write_html(report, html)
            except OSError as exc:
                raise OutputError(f"cannot write {html}: {exc.strerror}") from exc
    except BaseException as exc:  # one edge where every failure becomes an exit code
        if isinstance(exc, typer.Exit | SystemExit):
            raise
        _fail(exc, as_json=as_json)
    if as_json:
        console.print_json(report_dict(report))
    else:
        console.print_compare_report(report)
    raise typer.Exit(report.exit_code)


def main() -> None:
    from nb2svc import interrupts

    with interrupts.handled():
        app()


if __name__ == "__main__":
    main()
