"""A fresh python3 kernel: its reproducible environment, running cells in it (nbclient),
and shutting it down whatever happens (Ctrl-C included).

One implementation for everything that runs a notebook's code: ``nb2svc build``,
``verify`` and ``tag`` (``nb2svc.capture.kernel`` adds their progress and hints) and a
generated service's ``retrain`` (``nb2svc_runtime.retrain``), so a model retrained by a
service is trained as the build trained it. Only the standard library is imported here;
nbclient, nbformat and jupyter_client (the ``retrain`` extra) when cells run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVarTuple, Unpack

__all__ = [
    "BLAS_CORETYPE",
    "NATIVE_THREAD_VARIABLES",
    "KernelFailure",
    "kernel_env",
    "run_cells",
]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")

#: Native thread pools (OpenMP, BLAS), sized by these variables when a library loads.
NATIVE_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

#: The OpenBLAS kernels the kernel uses on every machine (see kernel_env).
BLAS_CORETYPE = "Haswell"


def kernel_env(hash_seed: int = 0) -> dict[str, str]:
    """The kernel's environment: ours, made reproducible on any machine.

    Sets of strings (a TF-IDF vectoriser's stop words, say) are pickled in hash order,
    so without a fixed seed the same training code would save different artifact bytes.
    Native code splits sums over as many threads as there are CPUs (a histogram
    gradient boosting's OpenMP loops, say), and floating-point sums depend on how they
    are split: with one thread each, a model trained in the kernel comes out the same
    whatever the machine. The generated service predicts with one thread too.

    OpenBLAS picks its kernels for the CPU it finds, and kernels for other vector
    widths add up in another order: a ridge regression trained on an AVX-512 machine
    saved other bytes than on an AVX2 one. The kernel asks every machine for the same
    ones, Haswell's (AVX2, which x86-64 servers of the last decade have), whatever
    ``OPENBLAS_CORETYPE`` the machine sets.
    """
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    env.update(dict.fromkeys(NATIVE_THREAD_VARIABLES, "1"))
    env["OPENBLAS_CORETYPE"] = BLAS_CORETYPE
    return env


class KernelFailure(Exception):
    """Cell ``index`` (0-based, of the cells run) raised, timed out or killed the
    kernel.

    ``kind`` is ``error``, ``timeout`` or ``dead``. For an error, ``message`` is
    ``Name: value`` and ``lines`` the ``Cell In[..], line N`` numbers of its
    traceback, outermost frame first; for a dead kernel, ``log_tail`` is the last
    lines the kernel wrote."""

    def __init__(
        self,
        kind: str,
        index: int,
        message: str,
        lines: tuple[int, ...] = (),
        log_tail: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.index = index
        self.message = message
        self.lines = lines
        self.log_tail = log_tail


def run_cells(
    cells: Sequence[Any],
    folder: Path,
    timeout: int,
    env: dict[str, str],
    workdir: Path,
    startup_timeout: int = 60,
    on_cell: Callable[[int], None] | None = None,
) -> None:
    """Run ``cells`` (nbformat code cells) in a new python3 kernel whose working
    directory is ``folder``; ``on_cell(i)`` is called as cell ``i`` starts. Raises
    KernelFailure.

    The kernel listens on IPC files in ``workdir`` (no TCP ports), writes its output
    to ``workdir/kernel.log`` and is shut down whatever happens, Ctrl-C included. An
    async kernel manager: with a blocking one, nbclient's wait for output blocks its
    event loop, so neither the cell timeout nor the dead-kernel check could fire.
    """
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    current = [0]
    processes: list[Any] = []
    km, client = _notebook_client(
        cells, folder, timeout, workdir, startup_timeout, on_cell, current, processes
    )
    kernel_log = workdir / "kernel.log"
    loop = _KernelLoop()
    try:
        with kernel_log.open("wb") as log:
            # cleanup_kc: shut the kernel down afterwards although we own km.
            loop.run_until_complete(
                client.async_execute(cleanup_kc=True, stdout=log, stderr=log, env=env)
            )
    except (CellTimeoutError, DeadKernelError, CellExecutionError) as exc:
        raise _failure(exc, current[0], timeout, kernel_log) from exc
    finally:
        _shutdown(km, processes, loop)


def _notebook_client(
    cells: Sequence[Any],
    folder: Path,
    timeout: int,
    workdir: Path,
    startup_timeout: int,
    on_cell: Callable[[int], None] | None,
    current: list[int],
    processes: list[Any],
) -> tuple[Any, Any]:
    """The kernel manager and the nbclient client that runs ``cells``; the client
    keeps ``current[0]`` at the running cell and the kernel's process in
    ``processes``."""
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    def on_cell_execute(cell: Any, cell_index: int) -> None:
        current[0] = cell_index
        if on_cell is not None:
            on_cell(cell_index)

    def on_notebook_start(notebook: Any) -> None:
        # Held until the end, then reaped: jupyter_client may drop its handle on a
        # kernel it has not waited for (a slow kill), leaving it to the GC.
        process = getattr(km.provisioner, "process", None)
        if process is not None:
            processes.append(process)

    km = AsyncKernelManager(
        kernel_name="python3", transport="ipc", ip=str(workdir / "kernel")
    )
    new_notebook: Any = nbformat.v4.new_notebook
    client = NotebookClient(
        new_notebook(cells=list(cells)),
        km=km,
        timeout=timeout,
        startup_timeout=startup_timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
        on_cell_execute=on_cell_execute,
        on_notebook_start=on_notebook_start,
    )
    return km, client


def _failure(
    exc: Exception, index: int, timeout: int, kernel_log: Path
) -> KernelFailure:
    """What went wrong in cell ``index``: a timeout, a dead kernel (with what it
    wrote last), or an exception (with the lines it was raised at)."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if isinstance(exc, CellTimeoutError):
        return KernelFailure("timeout", index, f"timed out after {timeout} s")
    if isinstance(exc, DeadKernelError):
        tail = kernel_log.read_text(errors="replace").strip().splitlines()[-3:]
        return KernelFailure(
            "dead", index, "the kernel died while running this cell", (), tuple(tail)
        )
    tb = _ANSI.sub("", str(getattr(exc, "traceback", "") or ""))
    lines = tuple(int(line) for line in _CELL_LINE.findall(tb))
    ename, evalue = getattr(exc, "ename", ""), getattr(exc, "evalue", "")
    return KernelFailure(
        "error", index, f"{ename}: {_ANSI.sub('', str(evalue))}", lines
    )


_Ts = TypeVarTuple("_Ts")


class _KernelLoop(asyncio.SelectorEventLoop):
    """The event loop the kernel is driven from. It declines signal handlers:
    nbclient would otherwise take SIGINT and SIGTERM for itself (stopping the kernel
    under the running cell, then failing its own clean-up), and restore Python's
    defaults afterwards over the command's handlers (nb2svc.interrupts, say). Ctrl-C
    is a KeyboardInterrupt here, and _shutdown stops the kernel."""

    def add_signal_handler(
        self, sig: int, callback: Callable[[Unpack[_Ts]], object], *args: *_Ts
    ) -> None:
        raise RuntimeError("signals are handled by the command")

    def remove_signal_handler(self, sig: int) -> bool:
        return False


def _shutdown(km: Any, processes: list[Any], loop: asyncio.AbstractEventLoop) -> None:
    """Stop the kernel if nbclient left it running (an error on the way, Ctrl-C),
    and reap its process: the kernel does not outlive the command. An interrupt
    leaves nbclient's task pending: cancelling it runs nbclient's own clean-up, as
    asyncio.run would."""
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
    with contextlib.suppress(BaseException):  # a kernel already gone needs no stopping
        if km.has_kernel:
            loop.run_until_complete(
                asyncio.wait_for(km.shutdown_kernel(now=True), timeout=20)
            )
    with contextlib.suppress(BaseException):
        loop.run_until_complete(km.cleanup_resources())
    with contextlib.suppress(BaseException):
        loop.close()
    for process in processes:
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
