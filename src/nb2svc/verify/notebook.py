"""The notebook side of verify: run the whole notebook, fresh, and record its outputs.

Unlike ``nb2svc.capture`` at build time, which may run only the exported cells and
reuses a cached capture, verify always executes every code cell (but ``skip`` cells)
in a new python3 kernel started in the notebook's own folder, then sends each example
through the notebook's own preprocess -> predict -> postprocess. It records, per
example, the JSON form of the output (the same ``to_jsonable`` the service uses), a
description of the native output (numpy/pandas shapes and dtypes), and the output of
a second call with the same input, which exposes per-call randomness.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb2svc.capture import (
    KERNEL_EXAMPLES_CODE,
    CapturePlan,
    KernelFailure,
    cell_progress,
    execute_in_kernel,
    kernel_env,
    notebook_failure,
    plan_capture,
)
from nb2svc.model import MarkedCell, Progress, RawNotebook, Role, RoleFunction
from nb2svc.templates import jsonable_source

_VERIFY_CODE = KERNEL_EXAMPLES_CODE + r"""
def __nb2svc_verify(out_path, fn_names, jsonable_src):
    import copy, json, sys
    to_jsonable, items, (pre, pred, post), kind, _, _ = __nb2svc_examples(
        fn_names, jsonable_src
    )
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")

    def describe(v, depth=0):
        if pd is not None:
            if isinstance(v, pd.DataFrame):
                return {"type": "DataFrame", "shape": list(v.shape),
                        "columns": [str(c) for c in v.columns],
                        "dtypes": [str(t) for t in v.dtypes]}
            if isinstance(v, pd.Series):
                return {"type": "Series", "shape": list(v.shape), "dtype": str(v.dtype)}
        if np is not None:
            if isinstance(v, np.ndarray) and v.ndim > 0:
                return {"type": "ndarray", "shape": list(v.shape), "dtype": str(v.dtype)}
            if isinstance(v, np.generic):
                return {"type": type(v).__name__, "dtype": str(v.dtype)}
        if depth < 8 and isinstance(v, dict):
            return {"type": "dict",
                    "items": {str(k): describe(x, depth + 1) for k, x in v.items()}}
        if depth < 8 and isinstance(v, (list, tuple)):
            return {"type": type(v).__name__,
                    "items": [describe(x, depth + 1) for x in list(v)[:10000]]}
        return {"type": type(v).__name__}

    def run(item):
        try:
            arg = copy.deepcopy(item)
        except Exception:
            arg = item
        return post(pred(pre(arg)))

    inputs, outputs, shapes, repeats = [], [], [], []
    for item in items:
        inputs.append(to_jsonable(item))
        raw = run(item)
        outputs.append(to_jsonable(raw))
        shapes.append(describe(raw))
        repeats.append(to_jsonable(run(item)))
    versions = {}
    for name in ("numpy", "pandas", "sklearn", "scipy", "torch", "xgboost", "lightgbm"):
        mod = sys.modules.get(name)
        if mod is not None:
            versions[name] = str(getattr(mod, "__version__", "?"))
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump({"kind": kind, "inputs": inputs, "outputs": outputs, "shapes": shapes,
                   "repeats": repeats, "python": sys.executable,
                   "python_version": sys.version.split()[0], "versions": versions}, fh)
"""


@dataclass(frozen=True)
class NotebookRun:
    """What one fresh execution of the notebook returned for its examples."""

    input_kind: str
    inputs: tuple[Any, ...]
    outputs: tuple[Any, ...]
    shapes: tuple[Any, ...]  # description of each native output (type, shape, dtype)
    repeats: tuple[Any, ...]  # each example's output from a second call
    python: str  # the kernel's interpreter
    python_version: str
    versions: dict[str, str]
    seconds: float


def verify_plan(
    nb: RawNotebook, marked: Sequence[MarkedCell], functions: Sequence[RoleFunction]
) -> CapturePlan:
    """Every code cell of the notebook except ``skip`` cells, in notebook order."""
    exported = [(mc.role, mc.cell.index, mc.code) for mc in marked if mc.role]
    example = next(
        ((mc.cell.index, mc.code) for mc in marked if mc.role is Role.EXAMPLE),
        (-1, ""),
    )
    return plan_capture(nb, exported, example, True, list(functions), [])


def run_notebook(
    nb: RawNotebook,
    folder: Path,
    plan: CapturePlan,
    timeout: int,
    startup_timeout: int = 60,
    hash_seed: int = 0,
    progress: Progress | None = None,
) -> NotebookRun:
    """Execute ``plan`` in a new python3 kernel whose working directory is ``folder``.

    The kernel runs in the build's environment (capture.kernel_env), with
    ``PYTHONHASHSEED=hash_seed``: 0 is what the build's capture uses, so artifacts
    the notebook saves come out byte for byte as at build time; other seeds expose
    outputs that depend on the order of sets of strings.

    A cell that raises, runs longer than ``timeout`` seconds or kills the kernel
    raises NotebookExecutionError naming the cell. The kernel is shut down whatever
    happens, Ctrl-C included. Each cell is reported to ``progress`` as it starts.
    """
    import nbformat

    fn_names = {fn.role.value: fn.name for fn in plan.functions}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nb2svc-verify-") as tmp:
        out_path = Path(tmp) / "outputs.json"
        call = (
            f"{_VERIFY_CODE}\n__nb2svc_verify({str(out_path)!r}, {fn_names!r}, "
            f"{jsonable_source()!r})\n"
        )
        new_cell: Callable[[str], Any] = nbformat.v4.new_code_cell
        cells = [new_cell(c.source) for c in plan.cells]
        cells.append(new_cell(call))
        env = kernel_env(hash_seed)
        on_cell = cell_progress(
            plan, ["calling the pipeline on the examples"], progress
        )
        try:
            execute_in_kernel(
                cells, folder, timeout, env, Path(tmp), startup_timeout, on_cell
            )
        except KernelFailure as failure:
            raise notebook_failure(
                nb, plan, failure.index, failure.message, failure.hint, failure.line
            ) from failure
        data = json.loads(out_path.read_text(encoding="utf-8"))
    return NotebookRun(
        input_kind=data["kind"],
        inputs=tuple(data["inputs"]),
        outputs=tuple(data["outputs"]),
        shapes=tuple(data["shapes"]),
        repeats=tuple(data["repeats"]),
        python=data["python"],
        python_version=data["python_version"],
        versions=dict(data["versions"]),
        seconds=time.perf_counter() - started,
    )
