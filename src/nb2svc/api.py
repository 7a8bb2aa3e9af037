"""Orchestration: build(), verify(). Returns results; never prints or exits."""

from __future__ import annotations

import hashlib
import json
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb2svc import __version__
from nb2svc.analysis import Analysis, analyse, normalise_artifact
from nb2svc.capture import (
    Captured,
    CapturePlan,
    CaptureSpec,
    capture_cells,
    parse_capture,
    plan_capture,
    run_capture,
    with_capture,
)
from nb2svc.errors import (
    ContractError,
    Diagnostic,
    GeneratedFileError,
    InputError,
    Location,
    NotebookExecutionError,
    Severity,
    UserError,
)
from nb2svc.formatting import format_tree
from nb2svc.lint import path_errors
from nb2svc.lint.secrets import secret_leaks
from nb2svc.lock import Platform, build_backend_pin, make_lock
from nb2svc.model import (
    Artifact,
    ExampleSet,
    MarkedCell,
    Progress,
    RawNotebook,
    Redaction,
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
from nb2svc.notebook.markers import directive_line, mark_cells
from nb2svc.notebook.reader import read_notebook
from nb2svc.render.context import ImageSpec, build_context
from nb2svc.render.engine import hash_templates, render_tree
from nb2svc.render.k8s import render_manifests
from nb2svc.render.runtime_wheel import runtime_wheel, vendored
from nb2svc.render.syntax import syntax_errors
from nb2svc.requirements import SERVICE_RUNTIME, SERVICE_TEST, pin, requirements_for
from nb2svc.shipped import (
    DataHit,
    check_shipped,
    leaked,
    redactions,
    scan_examples,
)
from nb2svc.syslibs import system_packages
from nb2svc.templates import service_template
from nb2svc.wheelhashes import LOCK_FILE, HashSource
from nb2svc.writer import (
    MANIFEST,
    Change,
    check_output,
    hand_edited,
    manifest_bytes,
    plan_changes,
    read_manifest,
    sha256,
    write_tree,
)

if TYPE_CHECKING:
    from nb2svc.verify.model import Report as VerifyReport
    from nb2svc.verify.runner import Target as VerifyTarget

GOLDEN = "tests/golden/examples.json"
#: The reference profile's name among the package's artifacts.
REFERENCE_PROFILE = "reference_profile.json"


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


def _artifact_hashes(folder: Path, names: list[str]) -> dict[str, str]:
    hashes = {}
    for name in names:
        path = folder / name
        hashes[name] = sha256(path.read_bytes()) if path.is_file() else "missing"
    return hashes


def _cached_capture(out: Path, key: str, profile: str | None = None) -> Captured | None:
    """The capture stored in ``out`` if its key matches (``profile``: where the
    reference profile should be, relative to ``out``)."""
    manifest = read_manifest(out)
    if not manifest or manifest.get("capture_key") != key:
        return None
    try:
        profiled = (
            json.loads((out / profile).read_text(encoding="utf-8"))
            if profile is not None
            else None
        )
        data = json.loads((out / GOLDEN).read_text(encoding="utf-8"))
        meta = data["nb2svc"]
        redactions = tuple(Redaction.from_json(r) for r in meta.get("redacted", []))
        examples = ExampleSet(
            input_kind=meta["input_kind"],
            inputs=tuple(e["input"] for e in data["examples"]),
            outputs=tuple(e["output"] for e in data["examples"]),
            columns=tuple((c, t) for c, t in meta["columns"]),
            array_dtype=meta.get("array_dtype"),
        )
        return Captured(
            examples, tuple(meta["runtime_modules"]), profiled, (), redactions
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _profile_bytes(profile: dict[str, Any]) -> bytes:
    """Deterministic JSON: sorted keys, the profile's floats already rounded."""
    text = json.dumps(
        profile, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False
    )
    return (text + "\n").encode()


def _golden(captured: Captured, key: str) -> bytes:
    ex = captured.examples
    data = {
        "nb2svc": {
            "capture_key": key,
            "input_kind": ex.input_kind,
            "columns": [list(c) for c in ex.columns],
            **({"array_dtype": ex.array_dtype} if ex.array_dtype else {}),
            "runtime_modules": list(captured.modules),
            **(
                {"redacted": [r.as_json() for r in captured.redactions]}
                if captured.redactions
                else {}
            ),
        },
        "examples": [
            {"input": i, "output": o}
            for i, o in zip(ex.inputs, ex.outputs, strict=True)
        ],
    }
    return (
        json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    ).encode()


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


def _missing_artifacts(
    nb: RawNotebook, analysis: Analysis, folder: Path, missing_ok: bool = False
) -> list[Diagnostic]:
    """One error per declared artifact that is not a regular file inside the
    notebook's folder: missing (unless ``missing_ok``), or, symlinks followed, a
    directory, a FIFO, a device, or a file outside the folder."""
    problems = []
    for pc in analysis.cells:
        if pc.marked.role is not Role.LOAD:
            continue
        captured = bool(dict(pc.marked.params).get("capture"))
        cell = pc.marked.cell
        line = directive_line(cell)
        if line is not None and "artifacts=" not in cell.source.splitlines()[line - 1]:
            line = None  # declared by a tag
        for declared in pc.marked.artifacts:
            name = normalise_artifact(declared)
            if name is None:
                continue  # NB401
            problem = _artifact_problem(folder, name)
            if problem is None or (problem == "missing" and (missing_ok or captured)):
                continue  # captured objects are saved by the run itself, or it fails
            if problem == "missing":
                message = (
                    f"declared artifact '{name}' does not exist next to the "
                    "notebook, and running the notebook did not create it"
                )
                hint, code = (
                    "run the cell that saves it, or fix the artifacts= declaration",
                    "NB402",
                )
            else:
                message = f"declared artifact '{name}' {problem}: it is not packaged"
                hint = (
                    "an artifact must be a regular file inside the notebook's folder "
                    "(a symlink is followed and must stay inside it): copy the file "
                    "next to the notebook and declare that copy"
                )
                code = "NB404"
            problems.append(
                Diagnostic(
                    Severity.ERROR, cell.location(nb.name, line), message, hint, code
                )
            )
    return problems


def _artifact_problem(folder: Path, name: str) -> str | None:
    """Why ``folder/name`` cannot be packaged, or None (``folder`` is resolved)."""
    path = folder / name
    if not path.exists() and not path.is_symlink():
        return "missing"
    try:
        resolved = path.resolve(strict=True)
        mode = resolved.stat().st_mode
    except (OSError, RuntimeError):  # a dangling symlink, a loop
        return "is a symlink to nothing"
    if not resolved.is_relative_to(folder):
        return "resolves to a file outside the notebook's folder"
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        return f"is {kind}"
    return None


def _capture(
    nb: RawNotebook,
    analysis: Analysis,
    folder: Path,
    plan: CapturePlan,
    timeout: int,
    fixes: Sequence[Redaction] = (),
    progress: Progress | None = None,
) -> Captured:
    try:
        return run_capture(nb, folder, plan, timeout, fixes, progress)
    except NotebookExecutionError as exc:
        missing = _missing_artifacts(nb, analysis, folder)
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

    ``progress`` hears what is happening (the notebook's cells as they run, say).
    """
    path = options.notebook
    if options.base_image is not None and not is_image_reference(options.base_image):
        raise UserError(
            f"--base-image {options.base_image!r} is not an image reference"
        )
    # The runtime the service will carry, first: a broken environment stops the build
    # before the notebook runs.
    runtime = runtime_wheel()
    nb, marked, analysis, diagnostics = analyse_notebook(
        path, options.capture, options.name
    )
    folder = path.resolve().parent
    package = service_package(nb, path, options.name)
    out = options.out or default_out(path, package)
    if not options.check:
        check_output(out, force=options.force)  # before a possibly long notebook run

    unfit = _missing_artifacts(nb, analysis, folder, missing_ok=True)
    if unfit:  # before the notebook runs: a FIFO would hang it, say
        raise ContractError(unfit)
    plan = with_capture(
        _plan(nb, marked, analysis, folder), nb, marked, options.capture
    )
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
    profile_path = f"src/{package}/artifacts/{REFERENCE_PROFILE}"
    # --check (diff, check) compares with the build as it was made.
    redact = options.redact_examples or (
        options.check and bool((read_manifest(out) or {}).get("redact_examples"))
    )
    captured = _cached_capture(
        out,
        plan.key(_artifact_hashes(folder, analysis.artifacts), redact),
        profile_path if plan.reference is not None else None,
    )
    executed = captured is None
    hits: list[DataHit] = []  # secrets in the examples as the notebook made them
    if captured is None:
        if progress is not None:
            progress(f"running {len(plan.cells)} cells of {nb.name} in a fresh kernel")
        captured = _capture(
            nb, analysis, folder, plan, options.timeout, progress=progress
        )
        if redact:
            hits = scan_examples(captured.examples)
            fixes = redactions(hits)
            if fixes:  # the notebook's outputs for the redacted inputs
                captured = _capture(
                    nb, analysis, folder, plan, options.timeout, fixes, progress
                )

    missing = _missing_artifacts(nb, analysis, folder)
    if missing:
        raise ContractError(missing)
    assert analysis.example_cell is not None
    shipped = check_shipped(
        captured,
        redact,
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
    diagnostics += shipped.warnings
    artifact_bytes = {name: (folder / name).read_bytes() for name in analysis.artifacts}
    key = plan.key({n: sha256(b) for n, b in artifact_bytes.items()}, redact)
    packaged = dict(artifact_bytes)
    if captured.profile is not None:
        packaged[REFERENCE_PROFILE] = _profile_bytes(captured.profile)
        if plan.reference is not None:
            diagnostics += [
                Diagnostic(
                    Severity.WARNING,
                    nb.cells[plan.reference].location(nb.name),
                    f"reference profile: {note}",
                    None,
                    "NB603",
                )
                for note in captured.profile_notes
            ]

    # The serving runtime, vendored: pinned, and what it needs (with the extras this
    # service uses, on the image's platform) pinned beside it.
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    runtime_extras = []
    if captured.examples.input_kind == "frame":
        runtime_extras.append("frames")
    if captured.profile is not None:  # drift statistics (the KS test's p-value)
        runtime_extras.append("drift")
    runtime_extra = [
        *SERVICE_RUNTIME,
        *runtime.requirements(runtime_extras, Platform(python_version).environment()),
    ]
    requirements, req_problems = requirements_for(
        set(analysis.modules) | set(captured.modules), runtime_extra, nb.name
    )
    requirements = sorted([*requirements, runtime.pin])
    diagnostics += req_problems

    spec = ServiceSpec(
        notebook=nb.name,
        package=package,
        dist_name=dist_name(package),
        title=title(package),
        env_prefix=env_prefix(package),
        python_version=python_version,
        imports=tuple(analysis.imports),
        blocks=tuple(analysis.blocks),
        functions=tuple(analysis.functions),
        load_globals=tuple(analysis.load_globals),
        settings=tuple(analysis.settings),
        artifacts=tuple(
            Artifact(n, sha256(b), len(b)) for n, b in sorted(packaged.items())
        ),
        requirements=tuple(requirements),
        test_requirements=tuple(sorted(pin(d) for d in SERVICE_TEST)),
        examples=captured.examples,
        cells_sha256=_cells_hash(marked),
        reference_profile=REFERENCE_PROFILE if captured.profile is not None else None,
    )
    backend, backend_problem = build_backend_pin()
    if backend_problem is not None:
        diagnostics.append(backend_problem)
    # The lock holds what indexes serve: the runtime comes from its vendored wheel.
    lock_bytes, locked = make_lock(
        [
            *(r for r in spec.requirements if r != runtime.pin),
            *([backend] if backend else []),
        ],
        Platform(spec.python_version),
        HashSource.from_environment(options.find_links),
        _previous_lock(out),
    )
    packages, lib_problems = system_packages(p.name for p in locked)
    diagnostics += lib_problems
    image = ImageSpec.for_python(
        spec.python_version,
        base_image=options.base_image or _built_base_image(out),
        system_packages=tuple(packages),
        build_backend_locked=backend is not None,
    )
    template_root = options.template or service_template()
    rendered = render_tree(template_root, build_context(spec, image, runtime))
    once = rendered.once
    files, format_problems = format_tree(rendered.files, package)
    diagnostics += format_problems
    files.update(render_manifests(spec))
    for name, content in packaged.items():
        files[f"src/{package}/artifacts/{name}"] = content
    files[GOLDEN] = _golden(captured, key)
    files[LOCK_FILE] = lock_bytes
    files[runtime.path] = runtime.content
    manifest: dict[str, Any] = {
        "nb2svc_version": __version__,
        "notebook": nb.name,
        "templates_sha256": hash_templates(template_root),
        "cells_sha256": spec.cells_sha256,
        "capture_key": key,
        "base_image": image.base_image,
        "artifacts": {a.name: a.sha256 for a in spec.artifacts},
        "files": {
            rel: sha256(content)
            for rel, content in sorted(files.items())
            if rel not in once
        },
        "user_files": sorted(once),
    }
    if options.capture:
        manifest["capture"] = [f"{c.name}:{c.fmt}" for c in options.capture]
    if redact:
        manifest["redact_examples"] = True
    files[MANIFEST] = manifest_bytes(manifest)
    files = dict(sorted(files.items()))
    user_data = {f"src/{package}/artifacts/{name}" for name in artifact_bytes}
    unparsed = syntax_errors(files, user_data, _syntax_hint(options.template))
    if unparsed:
        raise GeneratedFileError(unparsed)  # nothing is written
    # The runtime wheel holds nothing of the notebook's: only its own files are scanned.
    scanned = {rel: content for rel, content in files.items() if not vendored(rel)}
    leaks = secret_leaks(path, nb, scanned) + leaked(scanned, hits)
    if leaks:
        raise ContractError(leaks)  # nothing is written

    if options.check:
        changes = plan_changes(out, files, once)
        return BuildResult(
            out, package, files, changes, diagnostics, executed, False, once
        )
    changes = write_tree(out, files, force=options.force, once=once)
    return BuildResult(out, package, files, changes, diagnostics, executed, True, once)


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
        state = "built"
    elif manifest.get("notebook") != nb.name:
        raise InputError(
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
        if not options.build:
            state = "not checked (--no-build)"
        else:
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
                state = "up to date"
            elif edited:
                state = "out of date, not rebuilt: files were edited by hand"
            else:
                write_tree(out, result.files, once=result.once)
                state = "rebuilt: it was out of date"
    manifest = read_manifest(out) or {}
    return Target(
        out=out,
        package=package,
        env_prefix=env_prefix(package),
        build=state,
        artifacts=dict(manifest.get("artifacts", {})),
        diagnostics=tuple(notes),
        redactions=_built_redactions(out),
    )


def _built_redactions(out: Path) -> tuple[Redaction, ...]:
    """The --redact-examples substitutions of the build in ``out`` (its fixtures)."""
    try:
        meta = json.loads((out / GOLDEN).read_text(encoding="utf-8"))["nb2svc"]
        return tuple(Redaction.from_json(r) for r in meta.get("redacted", []))
    except (OSError, ValueError, KeyError, TypeError):
        return ()


def _built_capture(out: Path) -> tuple[CaptureSpec, ...]:
    """The --capture of the build in ``out``, from its manifest."""
    manifest = read_manifest(out) if out.is_dir() else None
    recorded = manifest.get("capture") if manifest else None
    if not isinstance(recorded, list):
        return ()
    specs, _ = parse_capture([str(v) for v in recorded])
    return specs
