"""Shared fixtures: example notebooks, and throwaway venvs layered on this environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "notebooks"
EXAMPLE_NOTEBOOKS = sorted(p.name for p in EXAMPLES.glob("*.ipynb"))
#: Every build in the tests (in process or in a subprocess) locks its requirements from
#: this committed wheel-hash cache and never asks the package index: the same lock on
#: any machine, no test waiting on the network. scripts/seed_wheel_hashes.py refreshes
#: it after constraints.txt changes.
WHEEL_HASH_CACHE = REPO / "tests" / "fixtures" / "cache"
os.environ["NB2SVC_CACHE_DIR"] = str(WHEEL_HASH_CACHE)
os.environ["NB2SVC_OFFLINE"] = "1"


def layered_venv(path: Path) -> Path:
    """A new venv that sees this environment's packages through a .pth file.

    Installing into it with ``--no-index`` proves the generated package's pinned
    requirements are exactly what this environment has, without any download, while
    the package itself lands in a clean site-packages of its own. The parent's folders
    are added with ``site.addsitedir``, so their own .pth files (the editable installs'
    paths) are processed too: a bare path line would leave them out, and pip would see
    a distribution that Python cannot import.
    """
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True
    )
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [
            str(python),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    parents = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    # addsitedir, not a bare path line: it also runs the parent's own .pth files,
    # among them the editable install of the runtime (runtime/).
    lines = [f"import site; site.addsitedir({parent!r})" for parent in sorted(parents)]
    (Path(purelib) / "_parent_env.pth").write_text("\n".join(lines) + "\n")
    return python


def pip_install(python: Path, *args: str) -> None:
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-index",
            "--no-build-isolation",
            *args,
        ],
        check=True,
    )


def install_service(
    service: Path, factory: pytest.TempPathFactory, extras: str = ""
) -> Path:
    """A fresh layered venv with the generated ``service`` installed, offline.

    The runtime wheel the service carries goes in first, into the venv's own
    site-packages (over the runtime this environment has), as the service's Dockerfile,
    CI and README install it. The package is installed from a copy: an in-tree
    setuptools build leaves build/ behind."""
    python = layered_venv(factory.mktemp("venv") / "venv")
    for wheel in sorted((service / "vendor").glob("*.whl")):
        pip_install(python, "--force-reinstall", "--no-deps", str(wheel))
    source = factory.mktemp("sdist") / service.name
    shutil.copytree(service, source)
    pip_install(python, f"{source}{extras}")
    return python


@pytest.fixture(scope="session")
def examples_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example notebooks copied to a scratch folder (building writes artifacts)."""
    target = tmp_path_factory.mktemp("examples")
    for name in EXAMPLE_NOTEBOOKS:
        shutil.copy(EXAMPLES / name, target / name)
    return target
