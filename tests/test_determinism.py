"""The same notebook gives the same bytes: any directory, hash seed, time zone, locale."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.slow


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def build_in(workdir: Path, notebook: str, env_extra: dict[str, str]) -> Path:
    """Copy the notebook into a fresh folder and build it from there with that env."""
    workdir.mkdir(parents=True)
    shutil.copy(EXAMPLES / notebook, workdir / notebook)
    env = {**os.environ, **env_extra}
    out = workdir / "nested" / "out"
    result = subprocess.run(
        [sys.executable, "-m", "nb2svc", "build", notebook, "-o", str(out)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("notebook", ["fraud_scoring.ipynb", "ticket_router.ipynb"])
def test_byte_identical_across_dirs_seeds_zones_locales(
    tmp_path: Path, notebook: str
) -> None:
    first = build_in(
        tmp_path / "a",
        notebook,
        {"PYTHONHASHSEED": "1", "TZ": "UTC", "LC_ALL": "C.UTF-8"},
    )
    second = build_in(
        tmp_path / "somewhere" / "else" / "b",
        notebook,
        {"PYTHONHASHSEED": "4242", "TZ": "Asia/Kolkata", "LC_ALL": "C"},
    )
    one, two = tree(first), tree(second)
    assert sorted(one) == sorted(two)
    differing = [name for name in one if one[name] != two[name]]
    assert differing == []
    text = b"".join(v for k, v in one.items() if not k.endswith(".joblib"))
    assert str(tmp_path).encode() not in text, "an absolute path leaked into the output"


def test_outputs_and_execution_counts_do_not_change_generated_code(
    tmp_path: Path,
) -> None:
    name = "diabetes_progression.ipynb"
    clean = build_in(tmp_path / "clean", name, {})
    # The same notebook as if it had been run: execution counts and outputs everywhere.
    work = tmp_path / "run"
    work.mkdir()
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    for count, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = 40 - count
        cell.outputs = [
            nbformat.v4.new_output("stream", name="stdout", text=f"run {count}\n")
        ]
    nbformat.write(nb, work / name)
    result = subprocess.run(
        [sys.executable, "-m", "nb2svc", "build", name, "-o", str(work / "nested/out")],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert tree(clean) == tree(work / "nested/out")


def test_same_bytes_whether_the_whole_notebook_ran_or_only_its_exported_cells(
    tmp_path: Path,
) -> None:
    """A fresh checkout has no model file: the whole notebook runs and writes it.
    With the file there, a rebuild runs only the exported cells. Same output."""
    name = "ticket_router.ipynb"
    fresh = build_in(tmp_path / "work", name, {})
    model = tmp_path / "work" / "ticket_model.joblib"
    written = model.stat().st_mtime_ns
    again = tmp_path / "work" / "again"
    result = subprocess.run(
        [sys.executable, "-m", "nb2svc", "build", name, "-o", str(again)],
        cwd=tmp_path / "work",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "captured by running the notebook" in result.stdout
    assert model.stat().st_mtime_ns == written, "the training cells ran again"
    assert tree(fresh) == tree(again)


def test_same_model_bytes_whatever_the_number_of_cpus(tmp_path: Path) -> None:
    """OpenMP starts one thread per CPU unless told otherwise, and the fraud notebook
    trains a histogram gradient boosting whose OpenMP sums depend on the split. The
    build's kernel runs native code single-threaded, so a one-CPU machine and a
    four-CPU machine (as OMP_NUM_THREADS says) save the same model."""
    name = "fraud_scoring.ipynb"
    one = build_in(tmp_path / "one", name, {"OMP_NUM_THREADS": "1"})
    four = build_in(tmp_path / "four", name, {"OMP_NUM_THREADS": "4"})
    model = "src/fraud_scoring/artifacts/fraud_model.joblib"
    assert tree(one)[model] == tree(four)[model]
    assert tree(one) == tree(four)


def test_same_model_bytes_whatever_blas_kernels_the_machine_picks(
    tmp_path: Path,
) -> None:
    """OpenBLAS chooses kernels by CPU (or OPENBLAS_CORETYPE), and kernels of another
    vector width sum in another order: the diabetes notebook's ridge regression saved
    other bytes on an AVX-512 machine than on an AVX2 one. The build's kernel asks
    for the same kernels everywhere."""
    name = "diabetes_progression.ipynb"
    avx = build_in(tmp_path / "avx", name, {"OPENBLAS_CORETYPE": "Sandybridge"})
    avx2 = build_in(tmp_path / "avx2", name, {"OPENBLAS_CORETYPE": "Haswell"})
    model = "src/diabetes_progression/artifacts/diabetes_model.joblib"
    assert tree(avx)[model] == tree(avx2)[model]
    assert tree(avx) == tree(avx2)
