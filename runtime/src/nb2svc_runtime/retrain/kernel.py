"""The retrain kernel: a fresh python3 kernel (nbclient) running the notebook's cells
and a few steps of our own, in a reproducible environment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVarTuple, Unpack

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


def _notebook(steps: Sequence[Step]) -> Any:
    import nbformat

    new_cell: Any = nbformat.v4.new_code_cell
    new_notebook: Any = nbformat.v4.new_notebook
    return new_notebook(cells=[new_cell(step.code) for step in steps])


def run_steps(steps: Sequence[Step], folder: Path, workdir: Path, timeout: int) -> None:
    """Run ``steps`` in a new kernel whose working directory is ``folder``; the kernel
    listens on IPC files in ``workdir`` (no TCP port)."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    current = [0]
    processes: list[Any] = []

    def on_cell_execute(cell: Any, cell_index: int) -> None:
        current[0] = cell_index

    def on_notebook_start(notebook: Any) -> None:
        process = getattr(km.provisioner, "process", None)
        if process is not None:
            processes.append(process)

    km = AsyncKernelManager(
        kernel_name="python3", transport="ipc", ip=str(workdir / "kernel")
    )
    client = NotebookClient(
        _notebook(steps),
        km=km,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
        on_cell_execute=on_cell_execute,
        on_notebook_start=on_notebook_start,
    )
    loop = _KernelLoop()
    try:
        with (workdir / "kernel.log").open("wb") as log:
            loop.run_until_complete(
                client.async_execute(
                    cleanup_kc=True, env=kernel_env(), stdout=log, stderr=log
                )
            )
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
    finally:
        _shutdown(loop, processes)


_Ts = TypeVarTuple("_Ts")


class _KernelLoop(asyncio.SelectorEventLoop):
    """The loop the kernel is driven from declines signal handlers: nbclient would
    take SIGINT for itself and stop the kernel under the running cell. Ctrl-C is a
    KeyboardInterrupt here, and the command stops the kernel itself."""

    def add_signal_handler(
        self, sig: int, callback: Callable[[Unpack[_Ts]], object], *args: *_Ts
    ) -> None:
        raise RuntimeError("signals are the command's")

    def remove_signal_handler(self, sig: int) -> bool:
        return False


def _shutdown(loop: asyncio.AbstractEventLoop, processes: list[Any]) -> None:
    """Whatever happened (Ctrl-C included), the kernel does not outlive the command:
    nbclient's unfinished tasks cancelled, the kernel's process killed and reaped."""
    with contextlib.suppress(BaseException):
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(
                asyncio.wait_for(
                    asyncio.gather(*pending, return_exceptions=True), timeout=20
                )
            )
    for process in processes:
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    with contextlib.suppress(BaseException):
        loop.close()
