"""The build's kernel: nb2svc_runtime.kernel (a fresh python3 kernel in a reproducible
environment, shut down whatever happens), with what ``build``, ``verify`` and ``tag``
add to it: cells reported as they start, and failures with a hint for the user.

The environment is the runtime's ``kernel_env``, which a generated service's ``retrain``
uses too: a fixed hash seed (sets of strings pickle in hash order), one thread per
native pool (floating-point sums add up in one order) and OpenBLAS' Haswell kernels
(the same vector width on any x86-64 machine), so the same code and data save the same
model bytes on any machine; its docstring says why in full.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb2svc.model import CellStarted
from nb2svc_runtime import kernel as _runtime
from nb2svc_runtime.kernel import BLAS_CORETYPE, NATIVE_THREAD_VARIABLES, kernel_env

if TYPE_CHECKING:
    from nb2svc.capture.plan import CapturePlan
    from nb2svc.model import Progress

__all__ = [
    "BLAS_CORETYPE",
    "NATIVE_THREAD_VARIABLES",
    "KernelFailure",
    "cell_progress",
    "execute_in_kernel",
    "first_line",
    "kernel_env",
]


class KernelFailure(Exception):
    """A cell raised, timed out or killed the kernel; index is the executed cell's."""

    def __init__(
        self, kind: str, index: int, message: str, hint: str | None, line: int | None
    ) -> None:
        super().__init__(message)
        self.kind = kind  # error | timeout | dead
        self.index = index
        self.message = message
        self.hint = hint
        self.line = line


def first_line(source: str) -> str:
    """A cell's first line of code, for progress: no blank lines, no nb2svc directive."""
    for line in source.splitlines():
        text = line.strip()
        if text and not text.replace(" ", "").startswith("#nb2svc:"):
            return text
    return ""


def cell_progress(
    plan: CapturePlan, steps: Sequence[str], progress: Progress | None
) -> Callable[[int], None] | None:
    """The kernel's on-cell callback that reports ``plan``'s cells as CellStarted
    events; the cells the run appends after them are nb2svc's own ``steps``."""
    if progress is None:
        return None
    from nb2svc.lint.secrets import redact_lines

    report = progress
    total = len(plan.cells)
    # Shown on terminals and in CI logs: never a credential in clear.
    lines = redact_lines([first_line(cell.source) for cell in plan.cells])

    def started(index: int) -> None:
        if index < total:
            event = CellStarted(
                index + 1, total, plan.cells[index].origin, lines[index]
            )
        else:
            step = steps[min(index - total, len(steps) - 1)] if steps else ""
            event = CellStarted(total, total, None, step)
        report(event)

    return started


def execute_in_kernel(
    cells: list[Any],
    folder: Path,
    timeout: int,
    env: dict[str, str],
    workdir: Path,
    startup_timeout: int = 60,
    on_cell: Callable[[int], None] | None = None,
) -> None:
    """Run ``cells`` in a new python3 kernel whose working directory is ``folder``
    (nb2svc_runtime.kernel.run_cells); ``on_cell(i)`` is called as cell ``i`` starts.
    Raises KernelFailure, with a hint for the user."""
    try:
        _runtime.run_cells(
            cells, folder, timeout, env, workdir, startup_timeout, on_cell
        )
    except _runtime.KernelFailure as failure:
        raise _failure(failure) from failure


def _failure(failure: _runtime.KernelFailure) -> KernelFailure:
    """The runtime's failure as the builder reports it: a timeout, a dead kernel (with
    what it said last), or an exception (at the innermost line of the notebook's code
    it was raised from)."""
    kind, index = failure.kind, failure.index
    if kind == "timeout":
        hint = "raise --timeout, or make the cell faster"
        return KernelFailure(kind, index, failure.message, hint, None)
    if kind == "dead":
        said = " | ".join(failure.log_tail) or "nothing"
        hint = f"out of memory, a crash in native code, or exit()? kernel said: {said}"
        return KernelFailure(kind, index, failure.message, hint, None)
    line = failure.lines[-1] if failure.lines else None
    return KernelFailure(kind, index, f"raised {failure.message}", None, line)
