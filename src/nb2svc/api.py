"""Orchestration: build(), verify(). Returns results; never prints or exits."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb2svc import __version__
from nb2svc.analysis import Analysis, analyse
from nb2svc.capture import CaptureSpec, capture_cells, parse_capture
from nb2svc.capture.cache import (
    GOLDEN,
    REFERENCE_PROFILE,
    built_redactions,
    golden_bytes,
)
from nb2svc.capture.stage import Capture, CaptureOptions, capture_examples
from nb2svc.errors import (
    ContractError,
    Diagnostic,
    GeneratedFileError,
    InputError,
    Location,
    Severity,
    UserError,
)
from nb2svc.formatting import format_tree
from nb2svc.lint import path_errors
from nb2svc.lint.secrets import secret_leaks
from nb2svc.model import (
    Artifact,
    MarkedCell,
    Progress,
    RawNotebook,
    Role,
    ServiceSpec,
)
from nb2svc.naming import (
    dist_name,
    env_prefix,
    is_image_reference,
    package_name,
    title,
)
from nb2svc.notebook.markers import mark_cells
from nb2svc.notebook.reader import read_notebook
from nb2svc.pinning import Pins, pin_requirements
from nb2svc.render.context import ImageSpec
from nb2svc.render.retrain import RETRAIN_FILE, retrain_document
from nb2svc.render.runtime_wheel import runtime_wheel, vendored
from nb2svc.render.service import RenderedService, render_service
from nb2svc.render.syntax import syntax_errors
from nb2svc.shipped import leaked
from nb2svc.templates import service_template
from nb2svc.wheelhashes import LOCK_FILE
from nb2svc.writer import (
    MANIFEST,
    Change,
    check_output,
    hand_edited,
    manifest_for,
    plan_changes,
    read_manifest,
    sha256,
    write_tree,
)

if TYPE_CHECKING:
    from nb2svc.verify.model import Report as VerifyReport
    from nb2svc.verify.runner import Target as VerifyTarget


@dataclass(frozen=True)
class BuildOptions:
    notebook: Path
    out: Path | None = None
    timeout: int = 600
    force: bool = False
    check: bool = False
    template: Path | None = None
    capture: tuple[CaptureSpec, ...] = ()  # objects to save from the kernel
    redact_examples: bool = False  # ship synthetic values for secrets in the data
    name: str | None = None  # the service's name [default: the notebook's, or its stem]
    # The Dockerfile's base image, e.g. python:3.11-slim@sha256:...; None: the tag.
    base_image: str | None = None
    find_links: tuple[Path, ...] = ()  # local wheels for the lock's hashes


@dataclass
class BuildResult:
    out: Path
    package: str
    files: dict[str, bytes]
    changes: list[Change]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    executed: bool = False
    written: bool = False
    once: frozenset[str] = frozenset()  # user-owned files, created only when missing


#: The generated service's Python: the one nb2svc runs on (its pins come from here).
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def service_package(nb: RawNotebook, notebook: Path, name: str | None = None) -> str:
    """The service's package name: ``name`` (``--name``), else the name the notebook
    stores (``metadata.nb2svc.name``, kept by ``nb2svc tag``), else its file's stem."""
    return package_name(name or nb.service_name or notebook.stem)


def default_out(notebook: Path, package: str | None = None) -> Path:
    return Path("build") / (package or package_name(notebook.stem))


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(
        diags,
        key=lambda d: (
            d.location.cell if d.location.cell is not None else -1,
            d.location.line or 0,
            d.code,
            d.message,
        ),
    )


def _cells_hash(marked: list[MarkedCell]) -> str:
    """Hash of the exported cells' code: outputs and execution counts don't count."""
    digest = hashlib.sha256()
    for mc in marked:
        if mc.role is not None and mc.role is not Role.SKIP:
            digest.update(f"{mc.role.value}\x00{mc.code}\x00".encode())
    return digest.hexdigest()


def analyse_notebook(
    path: Path, capture: tuple[CaptureSpec, ...] = (), name: str | None = None
) -> tuple[RawNotebook, list[MarkedCell], Analysis, list[Diagnostic]]:
    """Read, mark and analyse; raise ContractError with every problem at once.

    Objects to ``capture`` get a load cell of their own, as if the notebook had one.
    """
    nb, diagnostics = read_notebook(path)
    marked, problems = mark_cells(nb)
    diagnostics += problems
    captured_cells, problems = capture_cells(nb, marked, capture)
    marked += captured_cells
    diagnostics += problems
    package = service_package(nb, path, name)
    analysis = analyse(nb, marked, env_prefix(package))
    diagnostics += analysis.diagnostics
    diagnostics += path_errors(path, nb, marked)
    if any(d.severity is Severity.ERROR for d in diagnostics):
        raise ContractError(_sorted(diagnostics))
    return nb, marked, analysis, _sorted(diagnostics)


def _built_base_image(out: Path) -> str | None:
    """The --base-image of the build in ``out``, from its manifest: a rebuild (or
    verify's) keeps a digest pin without repeating the option."""
    manifest = read_manifest(out) if out.is_dir() else None
    recorded = manifest.get("base_image") if manifest else None
    if isinstance(recorded, str) and is_image_reference(recorded):
        return recorded
    return None


def _previous_lock(out: Path) -> bytes | None:
    try:
        return (out / LOCK_FILE).read_bytes()
    except OSError:
        return None


def build(options: BuildOptions, progress: Progress | None = None) -> BuildResult:
    """Build (or, with check=True, compare) the service package for a notebook.

    The stages in order: read, mark and analyse the notebook (every contract problem
    at once), capture the examples' outputs, pin the requirements, render the
    templates, format the code, write the tree (or, with ``check``, compare it).
    ``progress`` hears what is happening (the notebook's cells as they run, say).
    """
    _check_options(options)
    # The runtime the service will carry, first: a broken environment stops the build
    # before the notebook runs.
    runtime = runtime_wheel()
    path = options.notebook
    nb, marked, analysis, diagnostics = analyse_notebook(
        path, options.capture, options.name
    )
    package = service_package(nb, path, options.name)
    out = options.out or default_out(path, package)
    if not options.check:
        check_output(out, force=options.force)  # before a possibly long notebook run
    capture = capture_examples(
        nb, marked, analysis, _capture_options(options, package, out), progress
    )
    pins = pin_requirements(
        set(analysis.modules) | set(capture.captured.modules),
        capture.captured,
        nb.name,
        PYTHON_VERSION,
        runtime,
        options.find_links,
        _previous_lock(out),
    )
    spec = _service_spec(nb, package, marked, analysis, capture, pins)
    image = _image_spec(pins, options, out)
    rendered = render_service(
        spec, image, runtime, options.template or service_template()
    )
    formatted, format_problems = format_tree(rendered.files, package)
    formatted[runtime.path] = runtime.content  # vendor/: the runtime wheel, as it is
    files = _package_tree(formatted, rendered, spec, capture, pins, image, options)
    _check_tree(options, nb, package, files, capture)  # nothing written on a problem
    if options.check:
        changes = plan_changes(out, files, rendered.once)
    else:
        changes = write_tree(out, files, force=options.force, once=rendered.once)
    diagnostics += [*capture.warnings, *pins.problems, *format_problems]
    return BuildResult(
        out,
        package,
        files,
        changes,
        diagnostics,
        capture.executed,
        not options.check,
        rendered.once,
    )


def _check_options(options: BuildOptions) -> None:
    if options.base_image is not None and not is_image_reference(options.base_image):
        raise UserError(
            f"--base-image {options.base_image!r} is not an image reference"
        )


def _image_spec(pins: Pins, options: BuildOptions, out: Path) -> ImageSpec:
    """The Dockerfile's facts: its base image (the option, else the last build's)
    and what the lock asks of it."""
    return ImageSpec.for_python(
        PYTHON_VERSION,
        base_image=options.base_image or _built_base_image(out),
        system_packages=pins.system_packages,
        build_backend_locked=pins.build_backend_locked,
    )


def _capture_options(options: BuildOptions, package: str, out: Path) -> CaptureOptions:
    # --check (diff, check) compares with the build as it was made.
    redact = options.redact_examples or (
        options.check and bool((read_manifest(out) or {}).get("redact_examples"))
    )
    return CaptureOptions(
        folder=options.notebook.resolve().parent,
        out=out,
        package=package,
        timeout=options.timeout,
        objects=options.capture,
        redact=redact,
    )


def _service_spec(
    nb: RawNotebook,
    package: str,
    marked: list[MarkedCell],
    analysis: Analysis,
    capture: Capture,
    pins: Pins,
) -> ServiceSpec:
    """Everything the templates render, from the analysis, the capture and the pins."""
    return ServiceSpec(
        notebook=nb.name,
        package=package,
        dist_name=dist_name(package),
        title=title(package),
        env_prefix=env_prefix(package),
        python_version=PYTHON_VERSION,
        imports=tuple(analysis.imports),
        blocks=tuple(analysis.blocks),
        functions=tuple(analysis.functions),
        load_globals=tuple(analysis.load_globals),
        notebook_main=capture.captured.definitions,
        settings=tuple(analysis.settings),
        artifacts=tuple(
            Artifact(n, sha256(b), len(b)) for n, b in sorted(capture.packaged.items())
        ),
        requirements=pins.requirements,
        test_requirements=pins.test_requirements,
        examples=capture.captured.examples,
        cells_sha256=_cells_hash(marked),
        reference_profile=(
            REFERENCE_PROFILE if capture.captured.profile is not None else None
        ),
        retrain=analysis.retrain,
    )


def _package_tree(
    formatted: dict[str, bytes],
    rendered: RenderedService,
    spec: ServiceSpec,
    capture: Capture,
    pins: Pins,
    image: ImageSpec,
    options: BuildOptions,
) -> dict[str, bytes]:
    """The formatted files with what ships as it is: manifests, artifacts, the
    golden examples, the lock, and the build's own manifest."""
    files = dict(formatted)
    files.update(rendered.manifests)
    for name, content in capture.packaged.items():
        files[f"src/{spec.package}/artifacts/{name}"] = content
    files[GOLDEN] = golden_bytes(capture.captured, capture.key)
    retrain = retrain_document(spec)
    if retrain is not None:
        files[f"src/{spec.package}/{RETRAIN_FILE}"] = retrain
    files[LOCK_FILE] = pins.lock
    facts: dict[str, Any] = {
        "nb2svc_version": __version__,
        "notebook": spec.notebook,
        "templates_sha256": rendered.templates_sha256,
        "cells_sha256": spec.cells_sha256,
        "capture_key": capture.key,
        "base_image": image.base_image,
        "artifacts": {a.name: a.sha256 for a in spec.artifacts},
    }
    if options.capture:
        facts["capture"] = [f"{c.name}:{c.fmt}" for c in options.capture]
    if capture.redact:
        facts["redact_examples"] = True
    files[MANIFEST] = manifest_for(facts, files, rendered.once)
    return dict(sorted(files.items()))


def _check_tree(
    options: BuildOptions,
    nb: RawNotebook,
    package: str,
    files: dict[str, bytes],
    capture: Capture,
) -> None:
    """Raise on generated code that does not parse, or a secret in any file."""
    user_data = {f"src/{package}/artifacts/{name}" for name in capture.artifacts}
    unparsed = syntax_errors(files, user_data, _syntax_hint(options.template))
    if unparsed:
        raise GeneratedFileError(unparsed)
    # The runtime wheel holds nothing of the notebook's: only its own files are scanned.
    scanned = {rel: content for rel, content in files.items() if not vendored(rel)}
    leaks = secret_leaks(options.notebook, nb, scanned) + leaked(scanned, capture.hits)
    if leaks:
        raise ContractError(leaks)


def _syntax_hint(template: Path | None) -> str:
    if template is not None:
        return f"the template in {template} generates it: fix the template"
    return "please report this nb2svc bug, with the notebook if you can"


@dataclass(frozen=True)
class VerifyOptions:
    notebook: Path
    out: Path | None = None
    timeout: int = 600  # seconds per notebook cell
    runs: int = 1
    rtol: float = 1e-6
    atol: float = 1e-9
    build: bool = True  # build into ``out`` when it is missing or out of date
    startup_timeout: float = 120.0
    request_timeout: float = 60.0
    capture: tuple[CaptureSpec, ...] | None = None  # None: as the last build did
    name: str | None = None  # the service's name, as given to build --name
    image: str | None = None  # verify the service's image (built as this tag)
    keep_image: bool = False


def verify(options: VerifyOptions, progress: Progress | None = None) -> VerifyReport:
    """Prove the generated service answers what the notebook returns.

    With ``build`` (the default) the service is built into ``out`` first if it is
    missing or out of date; a service with hand-edited files is never rebuilt over:
    it is verified as it is, with a warning naming the edited files.
    """
    from nb2svc.verify.compare import Tolerance
    from nb2svc.verify.notebook import verify_plan
    from nb2svc.verify.runner import Settings, verify_service

    path = options.notebook
    raw, _ = read_notebook(path)
    package = service_package(raw, path, options.name)
    out = options.out or default_out(path, package)
    if options.capture is None:
        options = replace(options, capture=_built_capture(out))
    nb, marked, analysis, _ = analyse_notebook(
        path, options.capture or (), options.name
    )
    target = _verify_target(options, nb, out, package, progress)
    settings = Settings(
        tolerance=Tolerance(options.rtol, options.atol),
        runs=options.runs,
        timeout=options.timeout,
        startup_timeout=options.startup_timeout,
        request_timeout=options.request_timeout,
        image=options.image,
        keep_image=options.keep_image,
    )
    plan = verify_plan(nb, marked, analysis.functions)
    folder = path.resolve().parent
    return verify_service(nb, folder, plan, target, settings, progress)


def _verify_target(
    options: VerifyOptions,
    nb: RawNotebook,
    out: Path,
    package: str,
    progress: Progress | None = None,
) -> VerifyTarget:
    """The service to verify in ``out``: built, rebuilt, or taken as it is."""
    from nb2svc.verify.runner import Target

    manifest = read_manifest(out) if out.is_dir() else None
    notes: list[Diagnostic] = []
    if manifest is None:
        state = _build_missing(options, out, progress)
    elif manifest.get("notebook") != nb.name:
        raise _wrong_notebook(nb, out, manifest)
    else:
        edited = hand_edited(out, manifest)
        notes += [
            Diagnostic(
                Severity.WARNING,
                Location(f"{out}/{rel}"),
                "generated file was edited by hand: verifying the service as it is, "
                "not as nb2svc would generate it",
                "move the change into the notebook and rebuild",
                "NB1002",
            )
            for rel in edited
        ]
        state = _rebuild_if_stale(options, out, manifest, edited, progress)
    manifest = read_manifest(out) or {}
    return Target(
        out=out,
        package=package,
        env_prefix=env_prefix(package),
        build=state,
        artifacts=dict(manifest.get("artifacts", {})),
        diagnostics=tuple(notes),
        redactions=built_redactions(out),
    )


def _build_missing(options: VerifyOptions, out: Path, progress: Progress | None) -> str:
    """Build the service ``out`` does not hold yet (NB1003 with --no-build)."""
    if not options.build:
        raise InputError(
            [
                Diagnostic(
                    Severity.ERROR,
                    Location(str(out)),
                    "no service generated by nb2svc here",
                    f"run 'nb2svc build {options.notebook} -o {out}', "
                    "or drop --no-build",
                    "NB1003",
                )
            ]
        )
    build(
        BuildOptions(
            options.notebook,
            out,
            options.timeout,
            capture=options.capture or (),
            name=options.name,
        ),
        progress,
    )
    return "built"


def _wrong_notebook(nb: RawNotebook, out: Path, manifest: dict[str, Any]) -> InputError:
    """NB1004: ``out`` holds the service of another notebook."""
    return InputError(
        [
            Diagnostic(
                Severity.ERROR,
                Location(str(out)),
                f"this service was generated from {manifest.get('notebook')}, "
                f"not {nb.name}",
                "pass the right notebook or --out",
                "NB1004",
            )
        ]
    )


def _rebuild_if_stale(
    options: VerifyOptions,
    out: Path,
    manifest: dict[str, Any],
    edited: list[str],
    progress: Progress | None,
) -> str:
    """Rebuild the service in ``out`` when it is out of date and nobody edited it;
    what was done, for the report."""
    if not options.build:
        return "not checked (--no-build)"
    result = build(
        BuildOptions(
            options.notebook,
            out,
            options.timeout,
            check=True,
            capture=options.capture or (),
            redact_examples=bool(manifest.get("redact_examples")),
            name=options.name,
        ),
        progress,
    )
    if not result.changes:
        return "up to date"
    if edited:
        return "out of date, not rebuilt: files were edited by hand"
    write_tree(out, result.files, once=result.once)
    return "rebuilt: it was out of date"


def _built_capture(out: Path) -> tuple[CaptureSpec, ...]:
    """The --capture of the build in ``out``, from its manifest."""
    manifest = read_manifest(out) if out.is_dir() else None
    recorded = manifest.get("capture") if manifest else None
    if not isinstance(recorded, list):
        return ()
    specs, _ = parse_capture([str(v) for v in recorded])
    return specs
