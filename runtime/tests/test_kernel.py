"""nb2svc_runtime.kernel: the one kernel runner of nb2svc's build and of retrain.

Light to import (nbclient only when cells run), a reproducible environment, and
failures that say which cell, what and where, with a real python3 kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nb2svc_runtime.kernel import (
    BLAS_CORETYPE,
    NATIVE_THREAD_VARIABLES,
    KernelFailure,
    kernel_env,
    run_cells,
)


def test_importing_it_loads_no_jupyter_package() -> None:
    code = "import json, sys, nb2svc_runtime.kernel; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    heavy = {"nbclient", "nbformat", "jupyter_client", "zmq", "ipykernel"}
    assert {name.split(".")[0] for name in json.loads(out)} & heavy == set()


def test_the_environment_is_the_same_on_any_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENBLAS_CORETYPE", "SkylakeX")
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    monkeypatch.setenv("NB2SVC_KERNEL_TEST", "kept")
    env = kernel_env()
    assert env["PYTHONHASHSEED"] == "0"
    assert env["OPENBLAS_CORETYPE"] == BLAS_CORETYPE == "Haswell"
    assert {name: env[name] for name in NATIVE_THREAD_VARIABLES} == dict.fromkeys(
        NATIVE_THREAD_VARIABLES, "1"
    )
    assert env["NB2SVC_KERNEL_TEST"] == "kept"
    assert kernel_env(7)["PYTHONHASHSEED"] == "7"


def _run(tmp_path: Path, sources: list[str], timeout: int = 60) -> list[int]:
    """Run ``sources`` from ``tmp_path``; the indexes of the cells as they started."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    started: list[int] = []
    new_cell: Any = nbformat.v4.new_code_cell
    cells = [new_cell(source) for source in sources]
    run_cells(cells, tmp_path, timeout, kernel_env(), work, on_cell=started.append)
    return started


@pytest.mark.slow  # runs a kernel
def test_cells_run_in_the_folder_with_the_environment(tmp_path: Path) -> None:
    started = _run(
        tmp_path,
        [
            "import os, pathlib",
            "pathlib.Path('seen.json').write_text(repr((os.getcwd(),"
            " os.environ['PYTHONHASHSEED'], os.environ['OMP_NUM_THREADS'])))",
        ],
    )
    assert started == [0, 1]
    seen = (tmp_path / "seen.json").read_text()
    assert seen == repr((str(tmp_path), "0", "1"))


@pytest.mark.slow  # runs a kernel
def test_an_error_names_the_cell_and_every_line_of_the_notebook_code(
    tmp_path: Path,
) -> None:
    """Raised in a function of cell 0, called from line 3 of cell 1: the lines of
    the traceback's cells, outermost first."""
    sources = ["def check(x):\n    raise ValueError(f'bad {x}')", "y = 1\n\ncheck(y)"]
    with pytest.raises(KernelFailure) as caught:
        _run(tmp_path, sources)
    failure = caught.value
    assert (failure.kind, failure.index) == ("error", 1)
    assert failure.message == "ValueError: bad 1"
    assert failure.lines == (3, 2)


@pytest.mark.slow  # runs a kernel
def test_a_cell_over_its_time_is_a_timeout(tmp_path: Path) -> None:
    with pytest.raises(KernelFailure) as caught:
        _run(tmp_path, ["x = 1", "import time\ntime.sleep(30)"], timeout=2)
    failure = caught.value
    assert (failure.kind, failure.index) == ("timeout", 1)
    assert failure.message == "timed out after 2 s"


@pytest.mark.slow  # runs a kernel
def test_a_kernel_that_exits_is_dead(tmp_path: Path) -> None:
    with pytest.raises(KernelFailure) as caught:
        _run(tmp_path, ["x = 1", "import os\nos._exit(3)"])
    failure = caught.value
    assert (failure.kind, failure.index) == ("dead", 1)
    assert failure.message == "the kernel died while running this cell"
    assert failure.lines == ()
