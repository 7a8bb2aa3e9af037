"""Every generated service carries the runtime it was generated against (vendor/) and
pins it; each consumer (verify, pip, Docker, CI, the README) installs those bytes; and a
runtime change reaches a service only as a version bump: pin and wheel."""

from __future__ import annotations

import difflib
import io
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import nb2svc_runtime
from nb2svc import api
from nb2svc.lock import Platform, parse_lock
from nb2svc.render.runtime_wheel import (
    DIST,
    RuntimeWheel,
    metadata_text,
    pack_wheel,
    runtime_wheel,
)
from nb2svc.verify.service import service_env
from nb2svc.writer import sha256
from tests.conftest import REPO, install_service
from tests.service_support import built_service, env_prefix, package_of

GOLDEN = REPO / "examples" / "services"
SHOW_RUNTIME = (
    "import importlib, sys\n"
    "importlib.import_module(sys.argv[1])\n"
    "import nb2svc_runtime\n"
    "print(nb2svc_runtime.__file__)\n"
)


@pytest.fixture(scope="module")
def fraud(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_service(tmp_path_factory, "fraud_scoring")


def runtime_of(python: Path | str, package: str, **popen: object) -> Path:
    shown = subprocess.run(
        [str(python), "-c", SHOW_RUNTIME, package],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        **popen,  # type: ignore[call-overload]
    )
    return Path(shown.stdout.strip())


def wheel_as(version: str) -> RuntimeWheel:
    """The runtime wheel as if nb2svc_runtime's version were ``version``."""
    real = runtime_wheel()
    with zipfile.ZipFile(io.BytesIO(real.content)) as archive:
        files = [
            (name, archive.read(name))
            for name in archive.namelist()
            if ".dist-info/" not in name
        ]
    import importlib.metadata as md

    metadata = metadata_text(md.distribution(DIST)).replace(
        f"Version: {real.version}\n", f"Version: {version}\n"
    )
    name, content = pack_wheel(files, DIST, version, metadata)
    return RuntimeWheel(version, name, content, real.requires)


# --- the generated tree ---------------------------------------------------------------


@pytest.mark.slow
def test_the_service_carries_and_pins_the_runtime_wheel(fraud: Path) -> None:
    wheel = runtime_wheel()
    assert (fraud / wheel.path).read_bytes() == wheel.content
    assert sorted(p.name for p in (fraud / "vendor").iterdir()) == [wheel.filename]
    manifest = json.loads((fraud / "nb2svc.json").read_text())
    assert manifest["files"][wheel.path] == sha256(wheel.content)

    project = tomllib.loads((fraud / "pyproject.toml").read_text())["project"]
    pins = {Requirement(r).name: Requirement(r) for r in project["dependencies"]}
    assert str(pins[DIST].specifier) == f"=={nb2svc_runtime.__version__}"
    # What the runtime requires (fraud: frames and drift), each pinned to the version
    # installed here, and locked with its wheels' hashes; the runtime itself is not in
    # the lock: no index serves it.
    import importlib.metadata as md

    needed = wheel.requirements(["frames", "drift"], Platform("3.11").environment())
    assert {"fastapi", "starlette", "uvicorn", "pandas", "scipy"} <= set(needed)
    locked = {
        p.name: p.version for p in parse_lock((fraud / "requirements.lock").read_text())
    }
    for name in needed:
        assert str(pins[name].specifier) == f"=={md.version(name)}", name
        assert locked[name] == md.version(name), name
    assert DIST not in locked

    dockerfile = (fraud / "Dockerfile").read_text()
    install = f"RUN pip install --no-cache-dir --no-index --no-deps {wheel.path}\n"
    assert f"COPY {wheel.path} ./vendor/\n" in dockerfile
    assert dockerfile.index("-r requirements.lock") < dockerfile.index(install)
    assert dockerfile.index(install) < dockerfile.index("COPY src ./src")
    assert "!vendor/*.whl\n" in (fraud / ".dockerignore").read_text()
    workflow = (fraud / ".github/workflows/ci.yml").read_text()
    assert workflow.count(f"pip install --no-index --no-deps {wheel.path}\n") == 2
    readme = (fraud / "README.md").read_text()
    assert readme.count(f"pip install --no-index --no-deps {wheel.path}\n") == 2
    init = (fraud / "src/fraud_scoring/__init__.py").read_text()
    assert f'check_version("{wheel.version}", __name__)' in init


@pytest.mark.slow
def test_verify_runs_the_vendored_bytes_not_the_runtime_here(fraud: Path) -> None:
    env = service_env(fraud, env_prefix(fraud))
    where = runtime_of(sys.executable, package_of(fraud), env=env)
    assert where == (fraud / runtime_wheel().path).resolve() / (
        "nb2svc_runtime/__init__.py"
    )


@pytest.mark.slow
def test_the_installed_service_runs_on_the_vendored_wheel(
    fraud: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    python = install_service(fraud, tmp_path_factory)
    where = runtime_of(python, package_of(fraud))
    venv = python.parent.parent
    assert where.is_relative_to(venv), where
    assert where.read_bytes() == Path(nb2svc_runtime.__file__).read_bytes()


# --- a runtime change is a version bump -----------------------------------------------


@pytest.fixture(scope="module")
def bumped(
    fraud: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict[str, bytes], api.BuildResult]]:
    """The fraud service rebuilt, from its cached capture, on runtime 9.9.9."""
    out = tmp_path_factory.mktemp("bumped") / "fraud_scoring"
    shutil.copytree(fraud, out)
    before = {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file()
    }
    notebook = fraud.parent / "fraud_scoring-notebook" / "fraud_scoring.ipynb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api, "runtime_wheel", lambda: wheel_as("9.9.9"))
        result = api.build(api.BuildOptions(notebook, out))
    assert not result.executed  # the capture was reused: only the runtime changed
    yield out, before, result


@pytest.mark.slow
def test_runtime_version_is_the_only_runtime_input(
    bumped: tuple[Path, dict[str, bytes], api.BuildResult],
) -> None:
    """Another runtime changes only lines that name its version: the pin, the
    check_version call, the install lines, the wheel's name and hash in the manifest."""
    _, before, result = bumped
    old = runtime_wheel()
    changed = {c.path: c.kind for c in result.changes}
    assert changed.pop(old.path) == "delete"
    assert changed.pop("vendor/nb2svc_runtime-9.9.9-py3-none-any.whl") == "create"
    assert set(changed) == {
        ".github/workflows/ci.yml",
        "Dockerfile",
        "README.md",
        "nb2svc.json",
        "pyproject.toml",
        "src/fraud_scoring/__init__.py",
    }
    assert set(changed.values()) == {"update"}
    # The manifest: the other files' new hashes, the wheel under its new name.
    was, now = json.loads(before["nb2svc.json"]), json.loads(
        result.files["nb2svc.json"]
    )
    was_files, now_files = was.pop("files"), now.pop("files")
    assert was == now
    assert was_files.pop(old.path) == sha256(old.content)
    assert now_files.pop("vendor/nb2svc_runtime-9.9.9-py3-none-any.whl") == sha256(
        wheel_as("9.9.9").content
    )
    assert sorted(was_files) == sorted(now_files)
    assert {f for f in was_files if was_files[f] != now_files[f]} == set(changed) - {
        "nb2svc.json"
    }
    for rel in sorted(set(changed) - {"nb2svc.json"}):
        diff = difflib.ndiff(
            before[rel].decode().splitlines(), result.files[rel].decode().splitlines()
        )
        for line in diff:
            if line.startswith("+ "):
                assert "9.9.9" in line, f"{rel}: {line}"
            elif line.startswith("- "):
                assert old.version in line, f"{rel}: {line}"


@pytest.mark.slow
def test_the_old_wheel_is_deleted_when_the_runtime_changes(
    bumped: tuple[Path, dict[str, bytes], api.BuildResult],
) -> None:
    out, _, _ = bumped
    assert sorted(p.name for p in (out / "vendor").iterdir()) == [
        "nb2svc_runtime-9.9.9-py3-none-any.whl"
    ]
    manifest = json.loads((out / "nb2svc.json").read_text())
    assert [f for f in manifest["files"] if f.startswith("vendor/")] == [
        "vendor/nb2svc_runtime-9.9.9-py3-none-any.whl"
    ]


@pytest.mark.parametrize("service", sorted(p.name for p in GOLDEN.iterdir()))
def test_runtime_change_bumps_version(service: str) -> None:
    """The golden services carry the runtime wheel: if the runtime made here has the
    same file name but other bytes, the runtime changed without a version bump."""
    fresh = runtime_wheel()
    golden = sorted((GOLDEN / service / "vendor").glob("*.whl"))
    assert golden, (
        f"examples/services/{service} carries no runtime wheel in vendor/: "
        "regenerate the golden services (scripts/regen_golden.py)"
    )
    for wheel in golden:
        if wheel.name == fresh.filename:
            assert wheel.read_bytes() == fresh.content, (
                f"nb2svc_runtime changed but {wheel.name} did not: bump "
                "nb2svc_runtime.__version__ and add a runtime/CHANGELOG.md entry"
            )


# --- the environment nb2svc runs in ---------------------------------------------------


def test_stale_runtime_metadata_stops_the_build(tmp_path: Path) -> None:
    """An editable runtime whose installed metadata is another version (its
    __version__ changed since the install): exit 70 before the notebook runs."""
    stale = tmp_path / "stale"
    info = stale / "nb2svc_runtime-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: nb2svc-runtime\nVersion: 0.0.1\n"
    )
    out = tmp_path / "out"
    notebook = tmp_path / "fraud_scoring.ipynb"
    shutil.copy(REPO / "examples/notebooks/fraud_scoring.ipynb", notebook)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nb2svc",
            "build",
            str(notebook),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(stale)},
        timeout=120,
    )
    assert result.returncode == 70, result.stdout + result.stderr
    text = result.stdout + result.stderr
    assert "NB1601" in text
    assert "nb2svc-runtime 0.0.1" in text
    assert nb2svc_runtime.__version__ in text
    assert "run scripts/bootstrap.sh" in text
    assert "Traceback" not in text
    assert not out.exists()
