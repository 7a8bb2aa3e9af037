"""The build's pin stage: the service's requirements pinned to what is installed here
(``requirements``), hash-locked (``lock``), and the system packages their wheels need
in the image (``syslibs``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nb2svc.capture.run import Captured
from nb2svc.errors import Diagnostic
from nb2svc.lock import Platform, build_backend_pin, make_lock
from nb2svc.render.runtime_wheel import RuntimeWheel
from nb2svc.requirements import SERVICE_RUNTIME, SERVICE_TEST, pin, requirements_for
from nb2svc.syslibs import system_packages
from nb2svc.wheelhashes import HashSource


@dataclass(frozen=True)
class Pins:
    requirements: tuple[str, ...]  # the service's, pinned
    test_requirements: tuple[str, ...]
    lock: bytes  # requirements.lock
    build_backend_locked: bool  # setuptools is in the lock: the image builds offline
    system_packages: tuple[str, ...]  # apt packages the locked wheels need
    problems: tuple[Diagnostic, ...]


def pin_requirements(
    modules: set[str],
    captured: Captured,
    notebook: str,
    python_version: str,
    runtime: RuntimeWheel,
    find_links: Sequence[Path] = (),
    previous_lock: bytes | None = None,
) -> Pins:
    """Pin what the exported code imports (``modules``) and what the service itself
    needs for the captured examples; lock it, keeping ``previous_lock``'s hashes when
    nothing changed."""
    # The serving runtime, vendored: pinned, and what it needs (with the extras this
    # service uses, on the image's platform) pinned beside it.
    runtime_extras = []
    if captured.examples.input_kind == "frame":
        runtime_extras.append("frames")
    if captured.profile is not None:  # drift statistics (the KS test's p-value)
        runtime_extras.append("drift")
    runtime_extra = [
        *SERVICE_RUNTIME,
        *runtime.requirements(runtime_extras, Platform(python_version).environment()),
    ]
    requirements, problems = requirements_for(modules, runtime_extra, notebook)
    backend, backend_problem = build_backend_pin()
    if backend_problem is not None:
        problems.append(backend_problem)
    # The lock holds what indexes serve: the runtime comes from its vendored wheel.
    lock_bytes, locked = make_lock(
        [*requirements, *([backend] if backend else [])],
        Platform(python_version),
        HashSource.from_environment(find_links),
        previous_lock,
    )
    packages, lib_problems = system_packages(p.name for p in locked)
    return Pins(
        requirements=tuple(sorted([*requirements, runtime.pin])),
        test_requirements=tuple(sorted(pin(d) for d in SERVICE_TEST)),
        lock=lock_bytes,
        build_backend_locked=backend is not None,
        system_packages=tuple(packages),
        problems=(*problems, *lib_problems),
    )
