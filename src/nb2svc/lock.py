"""The generated image's lock: every distribution the service needs, with wheel hashes.

Versions come from the environment nb2svc runs in (like the direct pins of
``requirements.py``); the closure follows the ``Requires-Dist`` metadata of the installed
distributions, evaluated for the image's platform (Linux x86_64, the service's CPython).
Hashes are those of the wheels the image's pip may pick for that platform
(``nb2svc.wheelhashes``). A lock whose inputs did not change is reused as it is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name
from packaging.version import Version

from nb2svc.errors import Diagnostic, ExitCode, Severity, UserError
from nb2svc.wheelhashes import LOCK_FILE, HashSource, lock_location, wheel_hashes

#: The newest glibc of the base image (Debian bookworm: 2.36); manylinux wheels up to it.
GLIBC = (2, 36)
_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


class LockError(UserError):
    """The lock cannot be made: no index reached and no cached hashes, or no wheel."""

    exit_code = ExitCode.LOCK_FAILED


@dataclass(frozen=True)
class Platform:
    """The image's platform: CPython ``python`` (``"3.11"``) on Linux ``machine``."""

    python: str
    machine: str = "x86_64"

    @property
    def key(self) -> str:
        return f"cp{self.python.replace('.', '')}-manylinux_{self.machine}"

    def environment(self) -> dict[str, str]:
        """PEP 508 marker variables for the image (no extra)."""
        return {
            "implementation_name": "cpython",
            "implementation_version": f"{self.python}.0",
            "os_name": "posix",
            "platform_machine": self.machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": f"{self.python}.0",
            "python_version": self.python,
            "sys_platform": "linux",
            "extra": "",
        }

    def tags(self) -> frozenset[Tag]:
        major, minor = (int(p) for p in self.python.split("."))
        platforms = [
            f"manylinux_{GLIBC[0]}_{m}_{self.machine}" for m in range(GLIBC[1], 4, -1)
        ]
        platforms += [
            f"manylinux2014_{self.machine}",
            f"manylinux2010_{self.machine}",
            f"manylinux1_{self.machine}",
        ]
        version = (major, minor)
        return frozenset(
            [
                *cpython_tags(version, platforms=platforms),
                *compatible_tags(version, "cp" + f"{major}{minor}", platforms),
            ]
        )


@dataclass(frozen=True)
class Pinned:
    name: str  # canonical
    version: str
    via: tuple[str, ...]  # canonical names of the distributions that require it
    hashes: tuple[str, ...] = ()  # "sha256:<hex>", sorted


@dataclass
class _Metadata:
    """The installed distributions' requirements, read once."""

    requires: dict[str, list[Requirement]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def installed(cls) -> _Metadata:
        import importlib.metadata as md

        found = cls()
        for dist in md.distributions():
            name = dist.metadata["Name"]
            if not name:
                continue
            key = canonicalize_name(name)
            if key in found.versions:
                continue  # the first on sys.path wins, as for import
            found.versions[key] = dist.version
            reqs = []
            for text in dist.requires or ():
                try:
                    reqs.append(Requirement(text))
                except InvalidRequirement:
                    continue
            found.requires[key] = reqs
        return found


def closure(
    pins: Iterable[str],
    platform: Platform,
    metadata: _Metadata | None = None,
) -> tuple[list[Pinned], list[Diagnostic]]:
    """Every distribution the pinned ``name==version`` requirements need on ``platform``,
    with the versions installed here. Sorted by name."""
    meta = metadata or _Metadata.installed()
    env = platform.environment()
    via: dict[str, set[str]] = {}
    extras_done: set[tuple[str, str]] = set()
    problems: list[Diagnostic] = []
    queue: list[tuple[str, frozenset[str], str | None]] = []
    for pin in pins:
        req = Requirement(pin)
        queue.append((canonicalize_name(req.name), frozenset(req.extras), None))
    while queue:
        name, extras, parent = queue.pop()
        via.setdefault(name, set())
        if parent is not None:
            via[name].add(parent)
        if name not in meta.versions:
            if not any(d.message.startswith(f"'{name}'") for d in problems):
                problems.append(
                    Diagnostic(
                        Severity.ERROR,
                        lock_location(name),
                        f"'{name}' is needed by the service ({parent or 'direct'}) "
                        "but is not installed where nb2svc runs, so it cannot be locked",
                        f"pip install {name} where nb2svc runs",
                        "NB1401",
                    )
                )
            continue
        for extra in ("", *sorted(extras)):
            if (name, extra) in extras_done:
                continue
            extras_done.add((name, extra))
            for req in meta.requires.get(name, []):
                if req.marker is not None and not req.marker.evaluate(
                    {**env, "extra": extra}
                ):
                    continue
                if req.marker is None and extra:
                    continue  # already followed without the extra
                queue.append((canonicalize_name(req.name), frozenset(req.extras), name))
    pinned = [
        Pinned(n, meta.versions[n], tuple(sorted(via[n])))
        for n in sorted(via)
        if n in meta.versions
    ]
    return pinned, problems


def inputs_key(pinned: Iterable[Pinned], platform: Platform) -> str:
    digest = hashlib.sha256(platform.key.encode())
    for p in pinned:
        digest.update(f"\x00{p.name}=={p.version}".encode())
    return digest.hexdigest()


def render_lock(pinned: list[Pinned], platform: Platform, key: str) -> str:
    lines = [
        "# Generated by nb2svc: every distribution the service needs, pinned, with the",
        f"# sha256 of its wheels for CPython {platform.python} on Linux {platform.machine}."
        " Install with:",
        "#   pip install --require-hashes --no-deps --only-binary :all: "
        f"-r {LOCK_FILE}",
        f"# inputs: {key}",
    ]
    for p in sorted(pinned, key=lambda p: p.name):
        entry = [f"{p.name}=={p.version}"]
        entry += [f"--hash={h}" for h in p.hashes]
        lines.append(" \\\n    ".join(entry))
        if p.via:
            lines.append(f"    # via {', '.join(p.via)}")
    return "\n".join(lines) + "\n"


def parse_lock(text: str) -> list[Pinned]:
    """The entries of a lock written by :func:`render_lock`; raises ValueError."""
    entries: list[Pinned] = []
    logical = re.sub(r"\\\n", " ", text)
    for number, line in enumerate(logical.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        requirement, *options = stripped.split()
        req = Requirement(requirement)
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==" or req.marker or req.extras:
            raise ValueError(f"line {number}: {requirement} is not name==version")
        hashes = []
        for option in options:
            if not option.startswith("--hash="):
                raise ValueError(f"line {number}: unexpected {option}")
            value = option.removeprefix("--hash=")
            if not _HASH.match(value):
                raise ValueError(f"line {number}: bad hash {value}")
            hashes.append(value)
        if not hashes:
            raise ValueError(f"line {number}: {requirement} has no hash")
        entries.append(
            Pinned(canonicalize_name(req.name), specs[0].version, (), tuple(hashes))
        )
    return entries


def _previous_key(previous: bytes | None) -> str | None:
    if not previous:
        return None
    for line in previous.decode("utf-8", "replace").splitlines():
        if line.startswith("# inputs: "):
            return line.removeprefix("# inputs: ").strip()
    return None


def make_lock(
    pins: Iterable[str],
    platform: Platform,
    source: HashSource,
    previous: bytes | None = None,
    metadata: _Metadata | None = None,
) -> tuple[bytes, list[Pinned]]:
    """The lock file for ``pins``; ``previous`` (the lock already written) is reused
    when its inputs are the same. Raises LockError with every problem at once."""
    pinned, problems = closure(pins, platform, metadata)
    key = inputs_key(pinned, platform)
    if problems:
        raise LockError(problems)
    if previous is not None and _previous_key(previous) == key:
        try:
            parse_lock(previous.decode("utf-8"))
            return previous, pinned
        except ValueError:
            pass  # a damaged lock is made again
    hashed = []
    for p in pinned:
        wheels, problem = wheel_hashes(p, platform, source)
        if problem is not None:
            problems.append(problem)
            continue
        hashes = tuple(sorted({f"sha256:{h}" for h in wheels.values()}))
        hashed.append(Pinned(p.name, p.version, p.via, hashes))
    if problems:
        raise LockError(problems)
    text = render_lock(hashed, platform, key)
    parsed = parse_lock(text)  # parsed before it is written
    assert [(e.name, e.version, e.hashes) for e in parsed] == [
        (e.name, e.version, e.hashes) for e in hashed
    ]
    return text.encode("utf-8"), hashed


#: The generated package's build backend (its pyproject.toml's build-system), locked
#: with the rest so that the image builds the package without downloading anything
#: unhashed (``pip install --no-build-isolation``).
BUILD_BACKEND = "setuptools"
BUILD_BACKEND_MINIMUM = Version("70.1")  # bdist_wheel built in: no 'wheel' needed


def build_backend_pin() -> tuple[str | None, Diagnostic | None]:
    """``setuptools==X`` as installed where nb2svc runs, or a warning that the image
    will build the package with whatever setuptools the index serves."""
    import importlib.metadata as md

    try:
        version = md.version(BUILD_BACKEND)
    except md.PackageNotFoundError:
        version = None
    if version is not None and Version(version) >= BUILD_BACKEND_MINIMUM:
        return f"{BUILD_BACKEND}=={version}", None
    found = f"setuptools {version} is" if version else "setuptools is not"
    return None, Diagnostic(
        Severity.WARNING,
        lock_location(BUILD_BACKEND),
        f"{found} installed where nb2svc runs, so the lock cannot pin the package's "
        "build backend: the image builds the package with the setuptools the index "
        "serves that day",
        f"pip install 'setuptools>={BUILD_BACKEND_MINIMUM}' where nb2svc runs",
        "NB1404",
    )
