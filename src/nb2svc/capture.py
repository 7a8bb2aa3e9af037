"""Execute the notebook in a fresh kernel and capture its examples and their outputs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb2svc.errors import Diagnostic, Location, NotebookExecutionError, Severity
from nb2svc.model import EXPORTED_ORDER, ExampleSet, RawNotebook, Role, RoleFunction
from nb2svc.templates import jsonable_source

CAPTURE_VERSION = "1"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")

_CAPTURE_CODE = r"""
def __nb2svc_capture(out_path, fn_names, load_globals, jsonable_src):
    import json, sys
    ns = {}
    exec(jsonable_src, ns)
    to_jsonable = ns["to_jsonable"]
    g = globals()
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    if "examples" in g:
        ex = g["examples"]
        if pd is not None and isinstance(ex, pd.DataFrame):
            items = [ex.iloc[[i]] for i in range(len(ex))]
        elif isinstance(ex, dict) or isinstance(ex, str):
            items = [ex]
        else:
            items = list(ex)
    else:
        items = [g["example"]]
    if not items:
        raise ValueError("the example cell's 'examples' is empty")
    ident = lambda x: x
    pre = g[fn_names["preprocess"]] if fn_names.get("preprocess") else ident
    pred = g[fn_names["predict"]]
    post = g[fn_names["postprocess"]] if fn_names.get("postprocess") else ident
    first = items[0]
    columns = []
    if pd is not None and isinstance(first, pd.DataFrame):
        kind = "frame"
        columns = [[str(c), str(t)] for c, t in first.dtypes.items()]
    elif isinstance(first, dict):
        kind = "record"
    elif isinstance(first, str):
        kind = "string"
    elif (np is not None and isinstance(first, np.ndarray)) or isinstance(first, (list, tuple)):
        kind = "array"
    else:
        kind = "json"
    inputs, outputs = [], []
    for item in items:
        inputs.append(to_jsonable(item))
        arg = item.copy() if hasattr(item, "copy") else item
        outputs.append(to_jsonable(post(pred(pre(arg)))))
    seen, mods = set(), set()
    def walk(obj, depth):
        if id(obj) in seen or depth > 5:
            return
        seen.add(id(obj))
        mods.add(type(obj).__module__.split(".")[0])
        if isinstance(obj, (list, tuple, set, frozenset)):
            for x in list(obj)[:100]:
                walk(x, depth + 1)
        elif isinstance(obj, dict):
            for x in list(obj.values())[:100]:
                walk(x, depth + 1)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            for x in list(vars(obj).values())[:100]:
                walk(x, depth + 1)
    for name in load_globals:
        if name in g:
            walk(g[name], 0)
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump({"kind": kind, "columns": columns, "inputs": inputs,
                   "outputs": outputs, "modules": sorted(mods)}, fh)
"""


def kernel_env() -> dict[str, str]:
    """The kernel's environment: ours, with string hashing made reproducible.

    Sets of strings (a TF-IDF vectoriser's stop words, say) are pickled in hash order,
    so without a fixed seed the same training code would save different artifact bytes.
    """
    return {**os.environ, "PYTHONHASHSEED": "0"}


@dataclass(frozen=True)
class KernelCell:
    source: str
    origin: int | None  # index of the notebook cell it came from


@dataclass(frozen=True)
class CapturePlan:
    cells: tuple[KernelCell, ...]
    functions: tuple[RoleFunction, ...]
    load_globals: tuple[str, ...]

    def key(self, artifact_hashes: dict[str, str]) -> str:
        digest = hashlib.sha256(f"capture-v{CAPTURE_VERSION}\n".encode())
        for cell in self.cells:
            digest.update(cell.source.encode() + b"\x00")
        for fn in self.functions:
            digest.update(f"{fn.role.value}={fn.name}\n".encode())
        for name in sorted(artifact_hashes):
            digest.update(f"{name}={artifact_hashes[name]}\n".encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class Captured:
    examples: ExampleSet
    modules: tuple[str, ...]


def plan_capture(
    nb: RawNotebook,
    exported: list[tuple[Role, int, str]],
    example: tuple[int, str],
    full: bool,
    functions: list[RoleFunction],
    load_globals: list[str],
) -> CapturePlan:
    """Which cells to run: the whole notebook (minus skip cells), or only exported + example."""
    if full:
        skip = {i for role, i, _ in exported if role is Role.SKIP}
        cells = tuple(
            KernelCell(c.source, c.index)
            for c in nb.cells
            if c.cell_type == "code" and c.index not in skip
        )
    else:
        ordered = sorted(
            (e for e in exported if e[0] in EXPORTED_ORDER),
            key=lambda e: (EXPORTED_ORDER.index(e[0]), e[1]),
        )
        cells = tuple(KernelCell(code, index) for _, index, code in ordered)
        cells += (KernelCell(example[1], example[0]),)
    return CapturePlan(cells, tuple(functions), tuple(load_globals))


def run_capture(
    nb: RawNotebook, notebook_dir: Path, plan: CapturePlan, timeout: int
) -> Captured:
    """Run the plan in a fresh python3 kernel from the notebook's folder."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    fn_names = {fn.role.value: fn.name for fn in plan.functions}
    with tempfile.TemporaryDirectory(prefix="nb2svc-capture-") as tmp:
        out_path = Path(tmp) / "capture.json"
        call = (
            f"{_CAPTURE_CODE}\n__nb2svc_capture({str(out_path)!r}, {fn_names!r}, "
            f"{list(plan.load_globals)!r}, {jsonable_source()!r})\n"
        )
        cells = [nbformat.v4.new_code_cell(c.source) for c in plan.cells]
        cells.append(nbformat.v4.new_code_cell(call))
        kernel_nb = nbformat.v4.new_notebook(cells=cells)
        current: list[int] = [0]

        def on_cell_execute(cell: Any, cell_index: int) -> None:
            current[0] = cell_index

        # IPC transport: the kernel is reachable only through files in a private folder,
        # not through TCP ports on the machine.
        km = KernelManager(
            kernel_name="python3", transport="ipc", ip=str(Path(tmp) / "kernel")
        )
        client = NotebookClient(
            kernel_nb,
            km=km,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(notebook_dir)}},
            on_cell_execute=on_cell_execute,
        )
        kernel_log = Path(tmp) / "kernel.log"
        try:
            with kernel_log.open("wb") as log:
                # We pass our own km, so nbclient would leave the kernel running and
                # its channels open unless told to clean up.
                client.execute(
                    cleanup_kc=True, stderr=log, stdout=log, env=kernel_env()
                )
        except CellTimeoutError as exc:
            raise _failure(
                nb,
                plan,
                current[0],
                f"timed out after {timeout} s",
                "raise --timeout, or make the cell faster",
            ) from exc
        except DeadKernelError as exc:
            tail = kernel_log.read_text(errors="replace").strip().splitlines()[-3:]
            raise _failure(
                nb,
                plan,
                current[0],
                "the kernel died while running this cell",
                "out of memory, or a crash in native code? kernel said: "
                + (" | ".join(tail) or "nothing"),
            ) from exc
        except CellExecutionError as exc:
            tb = _ANSI.sub("", str(exc.traceback or ""))
            lines = _CELL_LINE.findall(tb)
            line = int(lines[-1]) if lines else None
            message = f"raised {exc.ename}: {_ANSI.sub('', str(exc.evalue))}"
            raise _failure(nb, plan, current[0], message, None, line) from exc
        data = json.loads(out_path.read_text(encoding="utf-8"))
    examples = ExampleSet(
        input_kind=data["kind"],
        inputs=tuple(data["inputs"]),
        outputs=tuple(data["outputs"]),
        columns=tuple((c, t) for c, t in data["columns"]),
    )
    return Captured(examples, tuple(data["modules"]))


def _failure(
    nb: RawNotebook,
    plan: CapturePlan,
    index: int,
    message: str,
    hint: str | None,
    line: int | None = None,
) -> NotebookExecutionError:
    if index < len(plan.cells) and plan.cells[index].origin is not None:
        origin = plan.cells[index].origin
        assert origin is not None
        cell = nb.cells[origin]
        if line is not None:
            # IPython drops a cell's leading blank lines (a blanked directive, say)
            # before it numbers the rest: count them back in.
            source = plan.cells[index].source.splitlines()
            line += next(
                (i for i, text in enumerate(source) if text.strip()), len(source)
            )
        location = cell.location(nb.name, line)
        text = f"executing the notebook failed: {message}"
    else:
        location = Location(nb.name)
        text = f"capturing the examples failed: {message}"
        hint = (
            hint or "check that the example cell's values go through preprocess/predict"
        )
    return NotebookExecutionError(
        [Diagnostic(Severity.ERROR, location, text, hint, "NB601")]
    )
