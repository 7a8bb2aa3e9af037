"""The runtime wheel nb2svc vendors into every service: byte-identical wherever it is
made, installable offline, and the same files as the runtime's own hatchling build."""

from __future__ import annotations

import base64
import email.parser
import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import nb2svc_runtime
from nb2svc.render.runtime_wheel import DIST, pack_wheel, runtime_wheel
from tests.conftest import REPO, layered_venv, pip_install

PRINT_WHEEL = (
    "import sys\n"
    "from nb2svc.render.runtime_wheel import runtime_wheel\n"
    "sys.stdout.buffer.write(runtime_wheel().content)\n"
)


def wheel_in_subprocess(python: Path | str, cwd: Path, umask: int, **env: str) -> bytes:
    return subprocess.run(
        [str(python), "-c", PRINT_WHEEL],
        cwd=cwd,
        env={**os.environ, **env},
        umask=umask,
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout


def entries(wheel: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def hatchling_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build --wheel runtime/``: what PyPI gets (offline, no isolation)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(REPO / "runtime"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


def test_the_wheel_is_named_and_made_for_the_imported_runtime() -> None:
    wheel = runtime_wheel()
    version = nb2svc_runtime.__version__
    assert wheel.version == version
    assert wheel.filename == f"nb2svc_runtime-{version}-py3-none-any.whl"
    assert wheel.path == f"vendor/{wheel.filename}"
    assert wheel.pin == f"nb2svc-runtime=={version}"
    files = entries(wheel.content)
    source = Path(nb2svc_runtime.__file__).read_bytes()
    assert files["nb2svc_runtime/__init__.py"] == source


def test_two_builds_anywhere_are_byte_identical(tmp_path: Path) -> None:
    """Other working directory, time zone, umask and hash seed: the same bytes."""
    first = tmp_path / "a"
    second = tmp_path / "b"
    first.mkdir()
    second.mkdir()
    one = wheel_in_subprocess(
        sys.executable, first, 0o022, TZ="UTC", PYTHONHASHSEED="1"
    )
    two = wheel_in_subprocess(
        sys.executable, second, 0o077, TZ="Asia/Kathmandu", PYTHONHASHSEED="4242"
    )
    assert one == two
    assert one == runtime_wheel().content


def test_the_archive_is_stored_dated_1980_and_readable_by_all() -> None:
    with zipfile.ZipFile(io.BytesIO(runtime_wheel().content)) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos[:-3]] == sorted(
            i.filename for i in infos[:-3]
        )
        for info in infos:
            assert info.compress_type == zipfile.ZIP_STORED, info.filename
            assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
            assert info.external_attr >> 16 == 0o100644, info.filename
            assert info.create_system == 3, info.filename
            assert "__pycache__" not in info.filename
        assert archive.testzip() is None


def test_record_lists_every_file_with_its_hash() -> None:
    files = entries(runtime_wheel().content)
    info = f"nb2svc_runtime-{nb2svc_runtime.__version__}.dist-info"
    rows = [line.split(",") for line in files[f"{info}/RECORD"].decode().splitlines()]
    assert sorted(row[0] for row in rows) == sorted(files)
    for path, digest, size in rows:
        if path == f"{info}/RECORD":
            assert (digest, size) == ("", "")
            continue
        data = files[path]
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        assert digest == "sha256=" + expected.decode()
        assert int(size) == len(data)


def test_it_installs_offline_into_a_fresh_venv_and_imports(tmp_path: Path) -> None:
    wheel = tmp_path / runtime_wheel().filename
    wheel.write_bytes(runtime_wheel().content)
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-index",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    shown = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as md, nb2svc_runtime as r\n"
            "print(r.__file__); print(r.__version__); print(md.version('nb2svc-runtime'))\n"
            "r.check_version(r.__version__, 'a_service')",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert Path(shown[0]).is_relative_to(venv)
    assert shown[1:] == [nb2svc_runtime.__version__] * 2


def test_the_files_are_those_of_the_runtimes_own_build(hatchling_wheel: Path) -> None:
    ours = entries(runtime_wheel().content)
    theirs = entries(hatchling_wheel.read_bytes())
    assert hatchling_wheel.name == runtime_wheel().filename
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        if ".dist-info/" not in name:
            assert ours[name] == theirs[name], name
    info = f"nb2svc_runtime-{nb2svc_runtime.__version__}.dist-info"
    parse = email.parser.BytesParser().parsebytes
    our_meta, their_meta = parse(ours[f"{info}/METADATA"]), parse(
        theirs[f"{info}/METADATA"]
    )
    for field in ("Name", "Version", "Summary", "Requires-Python"):
        assert our_meta[field] == their_meta[field], field
    for field in ("Requires-Dist", "Provides-Extra"):
        assert our_meta.get_all(field) == their_meta.get_all(field), field
    assert b"Tag: py3-none-any\n" in ours[f"{info}/WHEEL"]
    assert b"Root-Is-Purelib: true\n" in ours[f"{info}/WHEEL"]


def test_a_regular_install_gives_the_same_wheel_as_the_editable_one(
    tmp_path: Path, hatchling_wheel: Path
) -> None:
    """nb2svc installed from a wheel carries the runtime in site-packages, not as a
    source checkout: the repacked wheel is the same."""
    python = layered_venv(tmp_path / "venv")
    pip_install(python, "--no-deps", str(hatchling_wheel))
    where = subprocess.run(
        [str(python), "-c", "import nb2svc_runtime; print(nb2svc_runtime.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(tmp_path / "venv")
    assert wheel_in_subprocess(python, tmp_path, 0o022) == runtime_wheel().content


def test_pack_wheel_names_the_version_it_is_given() -> None:
    name, content = pack_wheel(
        [("nb2svc_runtime/__init__.py", b"__version__ = '9.9.9'\n")],
        DIST,
        "9.9.9",
        "Metadata-Version: 2.1\nName: nb2svc-runtime\nVersion: 9.9.9\n",
    )
    assert name == "nb2svc_runtime-9.9.9-py3-none-any.whl"
    assert sorted(entries(content)) == [
        "nb2svc_runtime-9.9.9.dist-info/METADATA",
        "nb2svc_runtime-9.9.9.dist-info/RECORD",
        "nb2svc_runtime-9.9.9.dist-info/WHEEL",
        "nb2svc_runtime/__init__.py",
    ]
