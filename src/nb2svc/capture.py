"""Execute the notebook in a fresh kernel and capture its examples and their outputs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVarTuple, Unpack

from nb2svc.definitions import (
    MAIN_REFS_CODE,
    exported_definitions,
    missing_main_hint,
)
from nb2svc.errors import Diagnostic, Location, NotebookExecutionError, Severity
from nb2svc.model import (
    EXPORTED_ORDER,
    Cell,
    CellStarted,
    ExampleSet,
    MarkedCell,
    RawNotebook,
    Redaction,
    Role,
    RoleFunction,
)
from nb2svc.templates import jsonable_source, profile_source

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from nb2svc.model import Progress

CAPTURE_VERSION = "3"
PROFILE_VERSION = "2"
#: Reference rows profiled (evenly spaced when there are more), and pipeline calls
#: made one input at a time when the pipeline cannot score them all in one call.
MAX_REFERENCE_ROWS = 100_000
MAX_SINGLE_CALLS = 2_000
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")

#: Kernel-side: the notebook's examples and pipeline functions, from its globals.
#: Shared by the build's capture and by verify, which run it in the kernel first.
KERNEL_EXAMPLES_CODE = r"""
def __nb2svc_put(obj, path, value):
    # A copy of obj with the value at path (the JSON form's path) replaced.
    import sys
    if not path:
        return value
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    head, rest = path[0], path[1:]
    if pd is not None and isinstance(obj, pd.DataFrame):
        obj = obj.copy()
        col = [str(c) for c in obj.columns].index(rest[0])
        obj.iat[head, col] = __nb2svc_put(obj.iat[head, col], rest[1:], value)
        return obj
    if pd is not None and isinstance(obj, pd.Series):
        obj = obj.copy()
        obj.iloc[head] = __nb2svc_put(obj.iloc[head], rest, value)
        return obj
    if np is not None and isinstance(obj, np.ndarray):
        obj = obj.copy()
        obj[head] = __nb2svc_put(obj[head], rest, value)
        return obj
    if isinstance(obj, dict):
        key = next(k for k in obj if str(k) == head)
        return {**obj, key: __nb2svc_put(obj[key], rest, value)}
    items = list(obj)
    items[head] = __nb2svc_put(items[head], rest, value)
    return tuple(items) if isinstance(obj, tuple) else items


def __nb2svc_examples(fn_names, jsonable_src, redactions=()):
    import sys
    ns = {}
    exec(jsonable_src, ns)
    g = globals()
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    if "examples" in g:
        ex = g["examples"]
        if pd is not None and isinstance(ex, pd.DataFrame):
            items = [ex.iloc[[i]] for i in range(len(ex))]
        elif isinstance(ex, (dict, str)):
            items = [ex]
        else:
            items = list(ex)
    else:
        items = [g["example"]]
    if not items:
        raise ValueError("the example cell's 'examples' is empty")
    for index, path, value in redactions:  # nb2svc build --redact-examples
        items[index] = __nb2svc_put(items[index], path, value)
    ident = lambda x: x
    pre = g[fn_names["preprocess"]] if fn_names.get("preprocess") else ident
    pred = g[fn_names["predict"]]
    post = g[fn_names["postprocess"]] if fn_names.get("postprocess") else ident
    first = items[0]
    columns = []
    array_dtype = None  # a numeric numpy example: the service rebuilds one
    if pd is not None and isinstance(first, pd.DataFrame):
        kind = "frame"
        columns = [[str(c), str(t)] for c, t in first.dtypes.items()]
    elif isinstance(first, dict):
        kind = "record"
    elif isinstance(first, str):
        kind = "string"
    elif (np is not None and isinstance(first, np.ndarray)) or isinstance(first, (list, tuple)):
        kind = "array"
        if np is not None and isinstance(first, np.ndarray) and first.dtype.kind in "biuf":
            array_dtype = str(first.dtype)
    else:
        kind = "json"
    return ns["to_jsonable"], items, (pre, pred, post), kind, columns, array_dtype
"""

_CAPTURE_CODE = KERNEL_EXAMPLES_CODE + MAIN_REFS_CODE + r"""
def __nb2svc_capture(out_path, fn_names, load_globals, jsonable_src, redactions):
    import json
    to_jsonable, items, (pre, pred, post), kind, columns, array_dtype = (
        __nb2svc_examples(fn_names, jsonable_src, redactions)
    )
    g = globals()
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
                   "outputs": outputs, "modules": sorted(mods),
                   "main": __nb2svc_main_refs([g[n] for n in load_globals if n in g]),
                   "array_dtype": array_dtype}, fh)
"""


_PROFILE_CODE = r"""
def __nb2svc_profile(out_path, capture_path, fn_names, jsonable_src, profile_src,
                     max_rows, max_calls):
    import copy, json, sys
    ns, prof = {}, {}
    exec(jsonable_src, ns)
    exec(profile_src, prof)
    to_jsonable = ns["to_jsonable"]
    g = globals()
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    with open(capture_path, encoding="utf-8") as fh:
        captured = json.load(fh)
    kind, columns = captured["kind"], captured["columns"]
    ref = g["reference"]
    ident = lambda x: x
    pre = g[fn_names["preprocess"]] if fn_names.get("preprocess") else ident
    pred = g[fn_names["predict"]]
    post = g[fn_names["postprocess"]] if fn_names.get("postprocess") else ident
    run = lambda raw: to_jsonable(post(pred(pre(raw))))
    spaced = lambda n, m: list(range(n)) if n <= m else [i * n // m for i in range(m)]
    expected = sorted({name for item in captured["inputs"]
                       for row in prof["input_rows"](item, kind) for name in row})
    in_rows, out_rows = [], []
    if kind == "frame":
        if pd is None:
            raise TypeError("'reference' must be a pandas DataFrame, like the example")
        names = [c for c, _ in columns]
        if not isinstance(ref, pd.DataFrame):
            two_d = np is not None and isinstance(ref, np.ndarray) and ref.ndim == 2
            ref = pd.DataFrame(ref, columns=names if two_d else None)
        labels = {str(c): c for c in ref.columns}
        found = sorted(labels)
        ref = ref[[labels[c] for c in names if c in labels]]
        ref.columns = [str(c) for c in ref.columns]
        try:
            ref = ref.astype({c: t for c, t in columns if c in ref.columns})
        except (TypeError, ValueError):
            pass
        ref = ref.iloc[spaced(len(ref), max_rows)].reset_index(drop=True)
        in_rows = prof["input_rows"](to_jsonable(ref), kind)
        try:
            out = run(ref.copy())
        except Exception:
            out = None
        if isinstance(out, list) and len(out) == len(ref):
            out_rows = prof["output_rows"](out, len(ref))
        else:
            for i in spaced(len(ref), max_calls):
                out_rows += prof["output_rows"](run(ref.iloc[[i]].reset_index(drop=True)), 1)
    else:
        if pd is not None and isinstance(ref, pd.DataFrame):
            items = ref.to_dict(orient="records") if kind == "record" else ref.to_numpy()
        elif isinstance(ref, (dict, str)):
            items = [ref]
        else:
            items = list(ref)
        items = [to_jsonable(items[i]) for i in spaced(len(items), max_rows)]
        for item in items:
            in_rows += prof["input_rows"](item, kind)
        found = sorted({name for row in in_rows for name in row})
        for i in spaced(len(items), max_calls):
            raw = copy.deepcopy(items[i])
            out_rows += prof["output_rows"](run(raw), len(prof["input_rows"](items[i], kind)))
    if not in_rows:
        raise ValueError("'reference' holds no rows")
    notes = []
    ignored = [n for n in found if n not in expected]
    absent = [n for n in expected if n not in found]
    if ignored:
        notes.append("left out of the profile, not service inputs: " + ", ".join(ignored))
    if absent:
        notes.append("service inputs missing from the reference, not monitored: "
                     + ", ".join(absent))
    profile = prof["build_profile"](in_rows, out_rows, [n for n in expected if n in found])
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump({"profile": profile, "notes": notes}, fh)
"""


#: Native thread pools (OpenMP, BLAS), sized by these variables when a library loads.
NATIVE_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


#: The OpenBLAS kernels the build's kernel uses on every machine (see kernel_env).
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


@dataclass(frozen=True)
class KernelCell:
    source: str
    origin: int | None  # index of the notebook cell it came from


@dataclass(frozen=True)
class CapturePlan:
    cells: tuple[KernelCell, ...]
    functions: tuple[RoleFunction, ...]
    load_globals: tuple[str, ...]
    reference: int | None = None  # the reference cell's index: profile it
    #: Every code cell a full run executes: what the captured values depend on.
    notebook: tuple[str, ...] = ()

    def key(self, artifact_hashes: dict[str, str], redact: bool = False) -> str:
        """Identifies a capture: the same whether the whole notebook ran or only the
        exported cells (on artifacts already there), so output is the same either way.
        ``redact``: the examples' secrets are replaced (--redact-examples).
        """
        digest = hashlib.sha256(f"capture-v{CAPTURE_VERSION}\n".encode())
        if redact:
            digest.update(b"redact-examples\n")
        if self.reference is not None:
            digest.update(f"profile-v{PROFILE_VERSION}\n".encode())
        for source in self.notebook:
            digest.update(source.encode() + b"\x00")
        for fn in self.functions:
            digest.update(f"{fn.role.value}={fn.name}\n".encode())
        for name in sorted(artifact_hashes):
            digest.update(f"{name}={artifact_hashes[name]}\n".encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class Captured:
    examples: ExampleSet
    modules: tuple[str, ...]
    profile: dict[str, Any] | None = None  # the reference profile, when planned
    profile_notes: tuple[str, ...] = ()
    redactions: tuple[Redaction, ...] = ()  # applied to the examples before the run
    #: __main__ classes and functions the loaded objects refer to (definitions.py)
    definitions: tuple[str, ...] = ()


def plan_capture(
    nb: RawNotebook,
    exported: list[tuple[Role, int, str]],
    example: tuple[int, str],
    full: bool,
    functions: list[RoleFunction],
    load_globals: list[str],
    reference: tuple[int, str] | None = None,
) -> CapturePlan:
    """Which cells to run: the whole notebook (minus skip cells), or only exported +
    example (+ reference)."""
    skip = {i for role, i, _ in exported if role is Role.SKIP}
    whole = tuple(
        KernelCell(c.source, c.index)
        for c in nb.cells
        if c.cell_type == "code" and c.index not in skip
    )
    if full:
        cells = whole
    else:
        ordered = sorted(
            (e for e in exported if e[0] in EXPORTED_ORDER),
            key=lambda e: (EXPORTED_ORDER.index(e[0]), e[1]),
        )
        cells = tuple(KernelCell(code, index) for _, index, code in ordered)
        cells += (KernelCell(example[1], example[0]),)
        if reference is not None:
            cells += (KernelCell(reference[1], reference[0]),)
    return CapturePlan(
        cells,
        tuple(functions),
        tuple(load_globals),
        reference[0] if reference is not None else None,
        tuple(cell.source for cell in whole),
    )


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
    """Run ``cells`` in a new python3 kernel whose working directory is ``folder``;
    ``on_cell(i)`` is called as cell ``i`` starts.

    The kernel listens on IPC files in ``workdir`` (no TCP ports) and is shut down
    whatever happens, Ctrl-C included. An async kernel manager: with a blocking one,
    nbclient's wait for output blocks its event loop, so neither the cell timeout nor
    the dead-kernel check could fire.
    """
    import nbformat
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
    client = NotebookClient(
        nbformat.v4.new_notebook(cells=cells),
        km=km,
        timeout=timeout,
        startup_timeout=startup_timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
        on_cell_execute=on_cell_execute,
        on_notebook_start=on_notebook_start,
    )
    kernel_log = workdir / "kernel.log"
    loop = _KernelLoop()
    try:
        with kernel_log.open("wb") as log:
            # cleanup_kc: shut the kernel down afterwards although we own km.
            loop.run_until_complete(
                client.async_execute(cleanup_kc=True, stdout=log, stderr=log, env=env)
            )
    except CellTimeoutError as exc:
        raise KernelFailure(
            "timeout",
            current[0],
            f"timed out after {timeout} s",
            "raise --timeout, or make the cell faster",
            None,
        ) from exc
    except DeadKernelError as exc:
        tail = kernel_log.read_text(errors="replace").strip().splitlines()[-3:]
        raise KernelFailure(
            "dead",
            current[0],
            "the kernel died while running this cell",
            "out of memory, a crash in native code, or exit()? kernel said: "
            + (" | ".join(tail) or "nothing"),
            None,
        ) from exc
    except CellExecutionError as exc:
        tb = _ANSI.sub("", str(exc.traceback or ""))
        lines = _CELL_LINE.findall(tb)
        raise KernelFailure(
            "error",
            current[0],
            f"raised {exc.ename}: {_ANSI.sub('', str(exc.evalue))}",
            None,
            int(lines[-1]) if lines else None,
        ) from exc
    finally:
        _shutdown(km, processes, loop)


_Ts = TypeVarTuple("_Ts")


class _KernelLoop(asyncio.SelectorEventLoop):
    """The event loop the kernel is driven from. It declines signal handlers:
    nbclient would otherwise take SIGINT and SIGTERM for itself (stopping the kernel
    under the running cell, then failing its own clean-up), and restore Python's
    defaults afterwards over the CLI's handlers (nb2svc.interrupts)."""

    def add_signal_handler(
        self, sig: int, callback: Callable[[Unpack[_Ts]], object], *args: *_Ts
    ) -> None:
        raise RuntimeError("signals are handled by nb2svc.interrupts")

    def remove_signal_handler(self, sig: int) -> bool:
        return False


def _shutdown(km: Any, processes: list[Any], loop: asyncio.AbstractEventLoop) -> None:
    """Stop the kernel if nbclient left it running (an error on the way, Ctrl-C),
    and reap its process. An interrupt leaves nbclient's task pending: cancelling it
    runs nbclient's own clean-up, as asyncio.run would."""
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


def kernel_redactions(redactions: Sequence[Redaction]) -> str:
    """The redactions as the Python literal the kernel's code takes."""
    return repr([(r.example, list(r.path), r.value) for r in redactions])


def run_capture(
    nb: RawNotebook,
    notebook_dir: Path,
    plan: CapturePlan,
    timeout: int,
    redactions: Sequence[Redaction] = (),
    progress: Progress | None = None,
) -> Captured:
    """Run the plan in a fresh python3 kernel from the notebook's folder.

    ``redactions`` replace values of the examples before the pipeline runs on them;
    each cell is reported to ``progress`` as it starts.
    """
    import nbformat

    fn_names = {fn.role.value: fn.name for fn in plan.functions}
    with tempfile.TemporaryDirectory(prefix="nb2svc-capture-") as tmp:
        out_path = Path(tmp) / "capture.json"
        call = (
            f"{_CAPTURE_CODE}\n__nb2svc_capture({str(out_path)!r}, {fn_names!r}, "
            f"{list(plan.load_globals)!r}, {jsonable_source()!r}, "
            f"{kernel_redactions(redactions)})\n"
        )
        cells = [nbformat.v4.new_code_cell(c.source) for c in plan.cells]
        cells.append(nbformat.v4.new_code_cell(call))
        profile_path = Path(tmp) / "profile.json"
        if plan.reference is not None:
            cells.append(
                nbformat.v4.new_code_cell(
                    f"{_PROFILE_CODE}\n__nb2svc_profile({str(profile_path)!r}, "
                    f"{str(out_path)!r}, {fn_names!r}, {jsonable_source()!r}, "
                    f"{profile_source()!r}, {MAX_REFERENCE_ROWS}, {MAX_SINGLE_CALLS})\n"
                )
            )
        steps = ["capturing the examples' outputs", "profiling the reference data"]
        on_cell = cell_progress(plan, steps, progress)
        try:
            execute_in_kernel(
                cells, notebook_dir, timeout, kernel_env(), Path(tmp), on_cell=on_cell
            )
        except KernelFailure as failure:
            if (
                failure.kind == "error"
                and failure.index > len(plan.cells)
                and plan.reference is not None
            ):
                raise _profile_failure(nb, plan.reference, failure.message) from failure
            raise notebook_failure(
                nb, plan, failure.index, failure.message, failure.hint, failure.line
            ) from failure
        data = json.loads(out_path.read_text(encoding="utf-8"))
        profiled = (
            json.loads(profile_path.read_text(encoding="utf-8"))
            if plan.reference is not None
            else {"profile": None, "notes": []}
        )
    examples = ExampleSet(
        input_kind=data["kind"],
        inputs=tuple(data["inputs"]),
        outputs=tuple(data["outputs"]),
        columns=tuple((c, t) for c, t in data["columns"]),
        array_dtype=data["array_dtype"],
    )
    return Captured(
        examples,
        tuple(data["modules"]),
        profiled["profile"],
        tuple(profiled["notes"]),
        tuple(redactions),
        tuple(data["main"]),
    )


def _profile_failure(
    nb: RawNotebook, reference: int, message: str
) -> NotebookExecutionError:
    return NotebookExecutionError(
        [
            Diagnostic(
                Severity.ERROR,
                nb.cells[reference].location(nb.name),
                f"profiling the reference data failed: {message}",
                "'reference' must hold raw inputs like the example's (a DataFrame "
                "with the same columns, say), which the pipeline can score",
                "NB602",
            )
        ]
    )


def notebook_failure(
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
        hint = missing_main_hint(message) or hint
    else:
        location = Location(nb.name)
        text = f"capturing the examples failed: {message}"
        hint = (
            hint or "check that the example cell's values go through preprocess/predict"
        )
    return NotebookExecutionError(
        [Diagnostic(Severity.ERROR, location, text, hint, "NB601")]
    )


# --- `nb2svc build --capture NAME[:FORMAT]`: objects that live only in the kernel ---

#: Where captured objects are saved, relative to the notebook's folder.
CAPTURED_DIR = "nb2svc-captured"
CAPTURE_FORMATS = ("joblib", "skops")

_DUMP_CODE = r"""
def __nb2svc_dump(name, path, fmt, exported=()):
    import os
    g = globals()
    if name not in g:
        raise NameError(
            f"nb2svc build --capture {name}: after running the notebook there is no "
            f"global named {name!r}"
        )
    obj = g[name]
    seen, local = set(), []
    def walk(x, depth):
        if id(x) in seen or depth > 6:
            return
        seen.add(id(x))
        for owner in (x, type(x)):
            if getattr(owner, "__module__", None) == "__main__":
                label = getattr(owner, "__qualname__", None)  # None: an instance
                if label and label not in local:
                    local.append(label)
        if isinstance(x, (list, tuple, set, frozenset)):
            for item in list(x)[:200]:
                walk(item, depth + 1)
        elif isinstance(x, dict):
            for item in list(x.values())[:200]:
                walk(item, depth + 1)
        elif hasattr(x, "__dict__") and not isinstance(x, type):
            for item in list(vars(x).values())[:200]:
                walk(item, depth + 1)
    walk(obj, 0)
    # Exported definitions are lent to the service's __main__ (nb2svc.definitions).
    local = [q for q in local if "<" in q or q.split(".")[0] not in exported]
    if local:
        raise TypeError(
            f"nb2svc build --capture {name}: it uses {', '.join(local)}, defined in the "
            "notebook itself; a saved copy refers to it as __main__.<name>, which the "
            "service has only if a cell marked helpers defines it at its top level. "
            "Mark that cell helpers (a lambda: define it with def)"
        )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Written aside, then moved: an interrupted save leaves the old file whole.
    partial = f"{path}.partial"
    if fmt == "skops":
        import skops.io
        skops.io.dump(obj, partial)
    else:
        import joblib
        joblib.dump(obj, partial)
    os.replace(partial, path)
"""


@dataclass(frozen=True)
class CaptureSpec:
    """One object to capture from the kernel: its global name and how to save it."""

    name: str
    fmt: str = "joblib"

    @property
    def artifact(self) -> str:
        return f"{CAPTURED_DIR}/{self.name}.{self.fmt}"

    def load_code(self) -> str:
        """The load cell nb2svc writes for it (the path becomes artifact_path(...))."""
        note = (
            f"# captured from the notebook's kernel by 'nb2svc build --capture "
            f"{self.name}'\n"
        )
        path = json.dumps(self.artifact)
        if self.fmt == "skops":
            # The artifact's sha256 is checked before this runs, so the types in it
            # are the ones the build saved.
            return (
                f"{note}import skops.io\n\n"
                f"{self.name} = skops.io.load(\n"
                f"    {path}, trusted=skops.io.get_untrusted_types(file={path})\n)\n"
            )
        return f"{note}import joblib\n\n{self.name} = joblib.load({path})\n"


def parse_capture(values: list[str]) -> tuple[tuple[CaptureSpec, ...], list[str]]:
    """`--capture model,vectorizer:skops` -> specs, and a message per bad value."""
    import keyword

    specs: dict[str, CaptureSpec] = {}
    problems: list[str] = []
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            name, _, fmt = item.partition(":")
            fmt = fmt or "joblib"
            if not name.isidentifier() or keyword.iskeyword(name):
                problems.append(f"{name!r} is not a Python name")
            elif fmt not in CAPTURE_FORMATS:
                problems.append(
                    f"unknown format {fmt!r} for {name} (use {' or '.join(CAPTURE_FORMATS)})"
                )
            elif name in specs and specs[name].fmt != fmt:
                problems.append(f"{name} is captured twice, in two formats")
            else:
                specs[name] = CaptureSpec(name, fmt)
    return tuple(specs.values()), problems


def _binding_cell(nb: RawNotebook, name: str) -> int | None:
    """The last code cell that binds `name` at its top level (magics understood)."""
    import symtable

    from nb2svc.lint.pysource import parse_cell

    found = None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parsed = parse_cell(cell.source)
        if parsed.tree is None:
            continue
        try:
            table = symtable.symtable(parsed.code, "<cell>", "exec")
            sym = table.lookup(name)
        except (KeyError, SyntaxError, ValueError):
            continue
        if sym.is_assigned() or sym.is_imported() or sym.is_namespace():
            found = cell.index
    return found


def capture_cells(
    nb: RawNotebook, marked: list[MarkedCell], specs: tuple[CaptureSpec, ...]
) -> tuple[list[MarkedCell], list[Diagnostic]]:
    """A load cell per captured object, attributed to the cell that makes the object."""
    import difflib

    cells: list[MarkedCell] = []
    problems: list[Diagnostic] = []
    declared = {a for mc in marked for a in mc.artifacts}
    for spec in specs:
        origin = _binding_cell(nb, spec.name)
        exported = next(
            (
                mc
                for mc in marked
                if mc.role in EXPORTED_ORDER and origin == mc.cell.index
            ),
            None,
        )
        if origin is None:
            names = sorted(
                {
                    n
                    for c in nb.cells
                    for n in re.findall(r"\b([A-Za-z_]\w*)\s*=", c.source)
                }
            )
            close = difflib.get_close_matches(spec.name, names, n=1)
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    Location(nb.name),
                    f"--capture {spec.name}: no cell of the notebook binds "
                    f"'{spec.name}'",
                    f"did you mean '{close[0]}'?" if close else None,
                    "NB1301",
                )
            )
            continue
        if exported is not None or spec.artifact in declared:
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    nb.cells[origin].location(nb.name),
                    f"--capture {spec.name}: '{spec.name}' is already exported by "
                    "this cell, so there is nothing to capture",
                    "capture objects that only unmarked (training) cells make",
                    "NB1302",
                )
            )
            continue
        cell = nb.cells[origin]
        source = spec.load_code()
        # The origin's index and id give the generated code its provenance header;
        # the code itself never runs in the capture kernel (the dump cell does).
        synthetic = Cell(cell.index, cell.cell_id, "code", source)
        cells.append(
            MarkedCell(
                synthetic,
                Role.LOAD,
                (("capture", spec.name),),
                (spec.artifact,),
                source,
            )
        )
    return cells, problems


def with_capture(
    plan: CapturePlan,
    nb: RawNotebook,
    marked: list[MarkedCell],
    specs: tuple[CaptureSpec, ...],
) -> CapturePlan:
    """The whole notebook (but skip cells), then one cell saving each captured object.

    Captured objects exist only once the notebook has run, so nothing less will do.
    """
    if not specs:
        return plan
    skip = {mc.cell.index for mc in marked if mc.role is Role.SKIP}
    cells = [
        KernelCell(c.source, c.index)
        for c in nb.cells
        if c.cell_type == "code" and c.index not in skip
    ]
    for spec in specs:
        origin = next(
            (
                mc.cell.index
                for mc in marked
                if dict(mc.params).get("capture") == spec.name
            ),
            None,
        )
        # One line: a failure is reported at the cell that makes the object.
        call = (
            f"exec(compile({_DUMP_CODE!r}, '<nb2svc --capture>', 'exec')); "
            f"__nb2svc_dump({spec.name!r}, {spec.artifact!r}, {spec.fmt!r}, "
            f"{exported_definitions(marked)!r})"
        )
        cells.append(KernelCell(call, origin))
    return replace(plan, cells=tuple(cells))
