"""System libraries the locked wheels load that the base image lacks.

Every shared object (``*.so``, ``*.so.N``) of every locked distribution is read for its
ELF ``DT_NEEDED`` entries. A needed library is satisfied when a locked wheel bundles it
(auditwheel's ``<dist>.libs/`` folders, or any shared object of a locked distribution:
auditwheel renames bundled copies and rewrites the ``DT_NEEDED`` entries to match) or
when the base image provides it (:data:`BASE_IMAGE_SONAMES`). What is left is mapped to
the Debian package that ships it (:data:`DEBIAN_PACKAGES`), to be installed in the
image; a library that maps to nothing is a warning that names the wheel and file.
"""

from __future__ import annotations

import importlib.metadata as md
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from nb2svc.errors import Diagnostic, Location, Severity

_SHARED = re.compile(r"\.so(\.\d+)*$")

#: The shared libraries of ``python:3.X-slim`` (Debian bookworm): those of the Debian
#: packages of ``debian:bookworm-slim`` (the ``required`` set a minbase debootstrap
#: installs) and the runtime libraries the python image keeps for its interpreter
#: (libbz2, libexpat, libffi, libgdbm, liblzma, libncursesw, libreadline, libsqlite3,
#: libssl, libuuid, zlib), each listed by soname. Compiled from those packages' file
#: lists (``dpkg -L``); keep it in step when the base image's Debian release changes.
BASE_IMAGE_SONAMES = frozenset(
    {
        "ld-linux-x86-64.so.2",
        "libacl.so.1",
        "libanl.so.1",
        "libattr.so.1",
        "libaudit.so.1",
        "libblkid.so.1",
        "libbz2.so.1.0",
        "libc.so.6",
        "libcap-ng.so.0",
        "libcap.so.2",
        "libcrypt.so.1",
        "libcrypto.so.3",
        "libdb-5.3.so",
        "libdl.so.2",
        "libexpat.so.1",
        "libffi.so.8",
        "libgcc_s.so.1",
        "libgcrypt.so.20",
        "libgdbm.so.6",
        "libgdbm_compat.so.4",
        "libgmp.so.10",
        "libgnutls.so.30",
        "libgpg-error.so.0",
        "libhogweed.so.6",
        "libidn2.so.0",
        "liblz4.so.1",
        "liblzma.so.5",
        "libm.so.6",
        "libmd.so.0",
        "libmount.so.1",
        "libncursesw.so.6",
        "libnettle.so.8",
        "libp11-kit.so.0",
        "libpam.so.0",
        "libpcre2-8.so.0",
        "libpthread.so.0",
        "libreadline.so.8",
        "libresolv.so.2",
        "librt.so.1",
        "libseccomp.so.2",
        "libselinux.so.1",
        "libsemanage.so.2",
        "libsepol.so.2",
        "libsmartcols.so.1",
        "libsqlite3.so.0",
        "libssl.so.3",
        "libstdc++.so.6",
        "libsystemd.so.0",
        "libtasn1.so.6",
        "libtinfo.so.6",
        "libudev.so.1",
        "libunistring.so.2",
        "libutil.so.1",
        "libuuid.so.1",
        "libxxhash.so.0",
        "libz.so.1",
        "libzstd.so.1",
    }
)
# The interpreter's own library: python:3.X-slim is built with --enable-shared.
_LIBPYTHON = re.compile(r"^libpython3\.\d+\.so(\.\d+)*$")

#: soname -> the Debian bookworm package that ships it (``dpkg -S``), for libraries that
#: wheels commonly load from the system rather than bundle.
DEBIAN_PACKAGES = {
    "libgomp.so.1": "libgomp1",  # OpenMP: LightGBM, XGBoost builds, some others
    "libquadmath.so.0": "libquadmath0",
    "libgfortran.so.5": "libgfortran5",
    "libatomic.so.1": "libatomic1",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libX11.so.6": "libx11-6",
    "libXext.so.6": "libxext6",
    "libXrender.so.1": "libxrender1",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libxcb.so.1": "libxcb1",
    "libsndfile.so.1": "libsndfile1",
    "libgeos_c.so.1": "libgeos-c1v5",
    "libpq.so.5": "libpq5",
    "libodbc.so.2": "libodbc2",
    "libaio.so.1": "libaio1",
    "libnuma.so.1": "libnuma1",
    "libgdal.so.32": "libgdal32",
    "libproj.so.25": "libproj25",
    "libjpeg.so.62": "libjpeg62-turbo",
    "libpng16.so.16": "libpng16-16",
    "libfreetype.so.6": "libfreetype6",
    "libfontconfig.so.1": "libfontconfig1",
    "libxml2.so.2": "libxml2",
    "libxslt.so.1": "libxslt1.1",
    "libcurl.so.4": "libcurl4",
    "libopenblas.so.0": "libopenblas0",
    "libblas.so.3": "libblas3",
    "liblapack.so.3": "liblapack3",
    "libgssapi_krb5.so.2": "libgssapi-krb5-2",
    "libkrb5.so.3": "libkrb5-3",
    "libnsl.so.2": "libnsl2",
    "libtirpc.so.3": "libtirpc3",
}


@dataclass(frozen=True)
class Needed:
    soname: str
    dist: str  # the locked distribution whose file needs it
    file: str  # that file, relative to the distribution's root (site-packages)


def needed_libraries(path: Path) -> list[str]:
    """The ``DT_NEEDED`` entries of an ELF shared object, in file order; [] if ``path``
    is not ELF or has no dynamic section."""
    try:
        with path.open("rb") as handle:
            elf = ELFFile(handle)
            needed = []
            for section in elf.iter_sections():
                if isinstance(section, DynamicSection):
                    needed += [
                        str(tag.needed)  # type: ignore[attr-defined]  # set per tag
                        for tag in section.iter_tags()
                        if tag.entry.d_tag == "DT_NEEDED"
                    ]
            return needed
    except (ELFError, OSError, ValueError):
        return []


def _shared_objects(dist: str) -> list[tuple[str, Path]]:
    try:
        distribution = md.distribution(dist)
    except md.PackageNotFoundError:
        return []
    found = []
    for file in distribution.files or ():
        if _SHARED.search(file.name):
            found.append((str(file), Path(str(distribution.locate_file(file)))))
    return sorted(found)


def missing_libraries(dists: Iterable[str]) -> list[Needed]:
    """What the shared objects of the installed ``dists`` need that neither they nor the
    base image provide; sorted by soname, then distribution and file."""
    needs: list[Needed] = []
    bundled: set[str] = set()
    for dist in sorted(set(dists)):
        for relative, path in _shared_objects(dist):
            bundled.add(path.name)
            needs += [Needed(n, dist, relative) for n in needed_libraries(path)]
    return sorted(
        {
            n
            for n in needs
            if n.soname not in bundled
            and n.soname not in BASE_IMAGE_SONAMES
            and not _LIBPYTHON.match(n.soname)
        },
        key=lambda n: (n.soname, n.dist, n.file),
    )


def system_packages(dists: Iterable[str]) -> tuple[list[str], list[Diagnostic]]:
    """The Debian packages to install in the image for ``dists``, sorted, and a warning
    for every library that maps to no package."""
    packages: set[str] = set()
    problems: list[Diagnostic] = []
    unmapped: dict[str, Needed] = {}
    for need in missing_libraries(dists):
        package = DEBIAN_PACKAGES.get(need.soname)
        if package is not None:
            packages.add(package)
        else:
            unmapped.setdefault(need.soname, need)
    for soname, need in sorted(unmapped.items()):
        problems.append(
            Diagnostic(
                Severity.WARNING,
                Location(f"{need.dist}: {need.file}"),
                f"needs the system library {soname}, which the base image lacks and "
                "nb2svc cannot map to a Debian package",
                "install it in the image (extend the Dockerfile), or report the "
                "package that ships it so nb2svc can",
                "NB1405",
            )
        )
    return sorted(packages), problems
