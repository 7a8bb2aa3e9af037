"""The retrain kernel: the notebook's cells and a few steps of our own, run in a fresh
python3 kernel by nb2svc_runtime.kernel, in the environment nb2svc's build trains in
(a fixed hash seed, one thread per native pool, OpenBLAS' Haswell kernels: see
``kernel_env``), so the same data and seeds give the same model bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..kernel import KernelFailure, kernel_env, run_cells
from .plan import PlanCell

_DEAD = "the kernel died (out of memory? a native crash?)"


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

    new_cell: Any = nbformat.v4.new_code_cell
    cells = [new_cell(step.code) for step in steps]
    try:
        run_cells(cells, folder, timeout, kernel_env(), workdir)
    except KernelFailure as failure:
        step = steps[failure.index]
        if failure.kind == "dead":
            raise KernelError(step, _DEAD, None) from None
        # The line in the step itself: the outermost frame of the traceback.
        line = failure.lines[0] if failure.lines else None
        raise KernelError(step, failure.message, line) from None
