"""The retrain kernel: a fresh python3 kernel (nbclient) running the notebook's cells
and a few steps of our own, in a reproducible environment."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .plan import PlanCell

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")

#: Native thread pools, one thread each: floating-point sums then add up in one order
#: on any machine, so the same data and seeds give the same model bytes.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def kernel_env() -> dict[str, str]:
    """The environment nb2svc's build trains in: a fixed hash seed (sets pickle in
    hash order), one thread per native pool, OpenBLAS' Haswell kernels."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_CORETYPE": "Haswell"}
    env.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    return env


@dataclass(frozen=True)
class Step:
    """One kernel cell: a notebook cell (``cell``) or a step of ours (``what``)."""

    code: str
    cell: PlanCell | None = None
    what: str = ""


class KernelError(RuntimeError):
    """A kernel cell raised, timed out or killed the kernel."""

    def __init__(self, step: Step, message: str, line: int | None) -> None:
        super().__init__(message)
        self.step = step
        self.message = message
        self.line = line


def run_steps(steps: Sequence[Step], folder: Path, workdir: Path, timeout: int) -> None:
    """Run ``steps`` in a new kernel whose working directory is ``folder``; the kernel
    listens on IPC files in ``workdir`` (no TCP port)."""
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    current = [0]

    def on_cell_execute(cell: Any, cell_index: int) -> None:
        current[0] = cell_index

    new_cell: Any = nbformat.v4.new_code_cell
    new_notebook: Any = nbformat.v4.new_notebook
    notebook = new_notebook(cells=[new_cell(step.code) for step in steps])
    km = AsyncKernelManager(
        kernel_name="python3", transport="ipc", ip=str(workdir / "kernel")
    )
    client = NotebookClient(
        notebook,
        km=km,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
        on_cell_execute=on_cell_execute,
    )
    try:
        client.execute(cleanup_kc=True, env=kernel_env())
    except CellTimeoutError:
        raise KernelError(
            steps[current[0]], f"timed out after {timeout} s", None
        ) from None
    except DeadKernelError:
        raise KernelError(
            steps[current[0]], "the kernel died (out of memory? a native crash?)", None
        ) from None
    except CellExecutionError as exc:
        tb = _ANSI.sub("", str(exc.traceback or ""))
        lines = _CELL_LINE.findall(tb)
        message = f"{exc.ename}: {_ANSI.sub('', str(exc.evalue))}"
        raise KernelError(
            steps[current[0]], message, int(lines[0]) if lines else None
        ) from None
