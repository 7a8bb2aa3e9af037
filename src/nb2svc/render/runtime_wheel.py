"""The runtime wheel every generated service carries in ``vendor/``.

``nb2svc_runtime``, as imported where nb2svc runs (an editable checkout or a regular
install alike), repacked into ``nb2svc_runtime-<version>-py3-none-any.whl``: the code
``nb2svc verify`` runs is the code that ships. The archive is deterministic, so a
service regenerated on any machine holds the same bytes: entries sorted, dated
1980-01-01, mode 0644, stored uncompressed (deflate output depends on the zlib build),
and the ``dist-info`` written here from the installed metadata (no nb2svc version in
it: upgrading the builder alone changes nothing).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.metadata as md
import io
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from nb2svc.errors import Diagnostic, ExitCode, Location, Severity, UserError

DIST = "nb2svc-runtime"
MODULE = "nb2svc_runtime"
VENDOR = "vendor"
#: What the wheel's WHEEL file names as its generator: bumped only when this module
#: starts writing different bytes for the same runtime.
GENERATOR = "nb2svc-runtime-wheel 1"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_MODE = 0o100644 << 16
_SUFFIXES = frozenset({".py", ".pyi"})
_MARKERS = frozenset({"py.typed"})


class RuntimeInstallError(UserError):
    """nb2svc_runtime's installed metadata disagrees with the code imported: the
    environment is broken, not the notebook (exit 70)."""

    exit_code = ExitCode.INTERNAL


@dataclass(frozen=True)
class RuntimeWheel:
    """The vendored runtime: its version, its wheel, and what it requires."""

    version: str
    filename: str
    content: bytes
    requires: tuple[str, ...]  # Requires-Dist, as declared (markers, extras)

    @property
    def path(self) -> str:
        """Where the wheel goes in the generated tree."""
        return f"{VENDOR}/{self.filename}"

    @property
    def pin(self) -> str:
        return f"{DIST}=={self.version}"

    def context(self) -> dict[str, str]:
        """The templates' ``runtime``: ``{version, wheel}`` (the wheel's tree path)."""
        return {"version": self.version, "wheel": self.path}

    def requirements(
        self, extras: Iterable[str], environment: Mapping[str, str]
    ) -> list[str]:
        """The canonical names of what the runtime needs with ``extras`` where
        ``environment`` (PEP 508 marker variables) holds, sorted."""
        wanted = ("", *sorted(set(extras)))
        names: set[str] = set()
        for text in self.requires:
            req = Requirement(text)
            if req.marker is None or any(
                req.marker.evaluate({**environment, "extra": extra}) for extra in wanted
            ):
                names.add(canonicalize_name(req.name))
        return sorted(names)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _package_files(root: Path) -> list[tuple[str, bytes]]:
    """Every module (and ``py.typed``) below ``root``, as (archive path, bytes), sorted;
    ``__pycache__`` and anything else an editable checkout may hold are left out."""
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root.parent)
        if "__pycache__" in rel.parts or not path.is_file():
            continue
        if path.suffix in _SUFFIXES or path.name in _MARKERS:
            found.append((rel.as_posix(), path.read_bytes()))
    return sorted(found)


def metadata_text(dist: md.Distribution) -> str:
    """Core metadata 2.1 from the installed distribution's, the fields a wheel needs
    in their declared order."""
    meta = dist.metadata
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {meta['Name']}",
        f"Version: {meta['Version']}",
    ]
    for field in ("Summary", "Requires-Python"):
        value = meta.get_all(field)
        if value:
            lines.append(f"{field}: {value[0]}")
    lines += [f"Requires-Dist: {r}" for r in meta.get_all("Requires-Dist") or ()]
    lines += [f"Provides-Extra: {e}" for e in meta.get_all("Provides-Extra") or ()]
    return "\n".join(lines) + "\n"


def _wheel_text() -> str:
    return (
        "Wheel-Version: 1.0\n"
        f"Generator: {GENERATOR}\n"
        "Root-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    )


def pack_wheel(
    files: list[tuple[str, bytes]], name: str, version: str, metadata: str
) -> tuple[str, bytes]:
    """The wheel's file name and bytes for package ``files`` (archive path, bytes)."""
    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    info = f"{stem}.dist-info"
    entries = [
        *sorted(files),
        (f"{info}/METADATA", metadata.encode("utf-8")),
        (f"{info}/WHEEL", _wheel_text().encode("utf-8")),
    ]
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in entries)
    entries.append((f"{info}/RECORD", (record + f"{info}/RECORD,,\n").encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in entries:
            entry = zipfile.ZipInfo(path, date_time=_EPOCH)
            entry.compress_type = zipfile.ZIP_STORED
            entry.create_system = 3  # Unix, on every platform: the mode below counts
            entry.external_attr = _MODE
            archive.writestr(entry, data)
    return f"{stem}-py3-none-any.whl", buffer.getvalue()


def _stale_metadata(installed: str | None, imported: str, where: str) -> Diagnostic:
    found = (
        f"nb2svc-runtime {installed}'s metadata is installed"
        if installed
        else "no nb2svc-runtime metadata is installed"
    )
    return Diagnostic(
        Severity.ERROR,
        Location(where),
        f"{found}, but the nb2svc_runtime imported is {imported}: the environment is "
        "out of date (a stale editable install), so the service would pin a runtime "
        "it does not carry",
        "run scripts/bootstrap.sh (or reinstall nb2svc-runtime)",
        "NB1601",
    )


@functools.cache
def runtime_wheel() -> RuntimeWheel:
    """``nb2svc_runtime-<v>-py3-none-any.whl`` from the ``nb2svc_runtime`` imported
    here; raises RuntimeInstallError when its installed metadata is another version."""
    import nb2svc_runtime

    module_file = nb2svc_runtime.__file__
    assert module_file is not None
    root = Path(module_file).resolve().parent
    imported = nb2svc_runtime.__version__
    try:
        dist = md.distribution(DIST)
    except md.PackageNotFoundError:
        raise RuntimeInstallError(
            [_stale_metadata(None, imported, str(root))]
        ) from None
    if dist.version != imported:
        raise RuntimeInstallError([_stale_metadata(dist.version, imported, str(root))])
    name, content = pack_wheel(
        _package_files(root), DIST, imported, metadata_text(dist)
    )
    return RuntimeWheel(imported, name, content, tuple(dist.requires or ()))


def vendored(rel: str) -> bool:
    """Whether ``rel`` (a path in the generated tree) is a vendored wheel."""
    return rel.startswith(f"{VENDOR}/") and rel.endswith(".whl")
