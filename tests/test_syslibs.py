"""System libraries: the ELF DT_NEEDED reader, what the locked wheels need beyond what
they bundle and the base image has, and the Debian packages the Dockerfile installs
(LightGBM's wheel loads the system's OpenMP, libgomp.so.1, which python:X.Y-slim lacks).
"""

from __future__ import annotations

import importlib.metadata as md
import shutil
import struct
from pathlib import Path

import pytest

from nb2svc import syslibs
from nb2svc.syslibs import missing_libraries, needed_libraries, system_packages
from tests.helpers import make_notebook, run_cli

LIGHTGBM_NOTEBOOK = (
    ("code", "# nb2svc: imports\nimport lightgbm\nimport numpy as np"),
    ("code", "# nb2svc: config\nTREES = 5\nSEED = 7"),
    (
        "code",
        "# nb2svc: load\n"
        "rng = np.random.default_rng(SEED)\n"
        "X_train = rng.normal(size=(200, 3))\n"
        "y_train = (X_train[:, 0] + X_train[:, 1] > 0).astype(int)\n"
        "model = lightgbm.LGBMClassifier(\n"
        "    n_estimators=TREES, num_leaves=4, min_child_samples=5,\n"
        "    random_state=SEED, verbose=-1, n_jobs=1\n"
        ")\n"
        "model.fit(X_train, y_train)",
    ),
    (
        "code",
        "# nb2svc: predict\n"
        "def predict(x: dict) -> dict:\n"
        "    row = np.array([[x['a'], x['b'], x['c']]])\n"
        "    return {'p': round(float(model.predict_proba(row)[0, 1]), 6)}",
    ),
    ("code", "# nb2svc: example\nexample = {'a': 0.5, 'b': -0.2, 'c': 1.0}"),
)


def lightgbm_library() -> Path:
    files = md.distribution("lightgbm").files or []
    (lib,) = [f for f in files if f.name == "lib_lightgbm.so"]
    return Path(str(md.distribution("lightgbm").locate_file(lib)))


def test_the_elf_reader_lists_dt_needed_of_a_shared_object() -> None:
    needed = needed_libraries(lightgbm_library())
    assert "libgomp.so.1" in needed
    assert "libc.so.6" in needed
    assert all(name.startswith(("lib", "ld-")) for name in needed)


def test_the_elf_reader_returns_nothing_for_what_is_not_a_shared_object(
    tmp_path: Path,
) -> None:
    text = tmp_path / "notes.so"
    text.write_text("not an ELF file")
    truncated = tmp_path / "cut.so"
    truncated.write_bytes(lightgbm_library().read_bytes()[:40])
    header_only = tmp_path / "header.so"
    # a valid 64-bit little-endian ELF header with no sections at all
    header_only.write_bytes(
        b"\x7fELF\x02\x01\x01"
        + bytes(9)
        + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0)
    )
    assert needed_libraries(text) == []
    assert needed_libraries(truncated) == []
    assert needed_libraries(header_only) == []
    assert needed_libraries(tmp_path / "missing.so") == []


def test_a_copy_with_the_same_needs_is_read_the_same(tmp_path: Path) -> None:
    copy = tmp_path / "lib_copy.so.1"
    shutil.copy(lightgbm_library(), copy)
    assert needed_libraries(copy) == needed_libraries(lightgbm_library())


def test_only_what_neither_the_wheels_nor_the_base_image_provide_is_missing() -> None:
    missing = missing_libraries(["lightgbm", "numpy", "scipy", "scikit-learn"])
    assert {n.soname for n in missing} == {"libgomp.so.1"}
    (need,) = missing
    assert need.dist == "lightgbm"
    assert need.file.endswith("lib_lightgbm.so")
    # numpy and scipy bundle OpenBLAS and gfortran (numpy.libs/, scipy.libs/), and
    # scikit-learn its own libgomp (scikit_learn.libs/): nothing to install for them
    assert missing_libraries(["numpy", "scipy", "scikit-learn"]) == []


def test_missing_libraries_map_to_sorted_debian_packages() -> None:
    assert system_packages(["lightgbm", "numpy"]) == (["libgomp1"], [])
    assert system_packages(["numpy", "pydantic-core"]) == ([], [])


def test_a_library_no_package_is_known_for_is_a_warning_naming_wheel_and_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(syslibs.DEBIAN_PACKAGES, "libgomp.so.1")
    packages, problems = system_packages(["lightgbm"])
    assert packages == []
    (problem,) = problems
    assert problem.code == "NB1405"
    assert "libgomp.so.1" in problem.message
    assert str(problem.location).startswith("lightgbm: ")
    assert str(problem.location).endswith("lib_lightgbm.so")


@pytest.mark.slow
def test_a_lightgbm_service_image_installs_the_systems_openmp(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path, LIGHTGBM_NOTEBOOK, "gbm.ipynb")
    out = tmp_path / "gbm"
    code, output = run_cli("build", notebook, "-o", out)
    assert code == 0, output
    dockerfile = (out / "Dockerfile").read_text()
    assert (
        "RUN apt-get update \\\n"
        "    && apt-get install -y --no-install-recommends \\\n"
        "        libgomp1 \\\n"
        "    && rm -rf /var/lib/apt/lists/*\n"
    ) in dockerfile
    # only in the run stage: the build stage installs wheels and loads none of them
    run_stage = dockerfile.split("# --- run:")[1]
    assert "libgomp1" in run_stage
    assert "lightgbm==" in (out / "requirements.lock").read_text()


@pytest.mark.slow
def test_a_service_whose_wheels_bundle_their_libraries_installs_no_os_package(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from tests.service_support import built_service

    out = built_service(tmp_path_factory, "fraud_scoring")  # scikit-learn, pandas
    assert "apt-get" not in (out / "Dockerfile").read_text()
