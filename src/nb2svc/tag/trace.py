"""Run the notebook once in a fresh kernel under the tracer, and read what it recorded.

The kernel is started the way `build` starts it (capture.execute_in_kernel, from the
notebook's folder, with kernel_env: fixed hash seed, one native thread). The tracer
(kernel_tracer.py, sent as text) records which objects each cell fits, uses and saves;
this module turns its JSON record into a Trace of frozen dataclasses.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb2svc.model import Progress, RawNotebook

#: Record format version the tracer writes.
TRACE_VERSION = 1


@dataclass(frozen=True)
class DataInfo:
    """What a value looked like (never the value): type, shape, columns, dtypes, and
    the names the notebook bound to it after the cell."""

    type: str
    shape: tuple[int, ...] | None = None
    length: int | None = None
    columns: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    item: str | None = None  # a list's first item's type
    ident: int = field(default=0, compare=False)  # id() in the kernel, for this run

    @property
    def short_type(self) -> str:
        return self.type.rsplit(".", 1)[-1]

    def describe(self) -> str:
        """`X_test (200x12 DataFrame)`."""
        size = ""
        if self.shape is not None:
            size = "x".join(str(n) for n in self.shape) + " "
        elif self.length is not None:
            size = f"{self.length} "
        what = f"{size}{self.short_type}"
        return f"{self.names[0]} ({what})" if self.names else f"a {what}"

    @property
    def rows(self) -> int | None:
        if self.shape:
            return self.shape[0]
        return self.length


@dataclass(frozen=True)
class TracedModel:
    """An object that was fitted, used to predict or transform, or saved."""

    key: str
    type: str
    predicts: bool  # has predict(): a model; else a transformer
    origin: str  # fit | train | use | save | namespace | best_estimator_ of mN | ...
    bound: tuple[tuple[int, str], ...]  # (notebook cell, expression) after each cell
    #: the notebook's own classes and functions it holds (a pickle names __main__)
    main: tuple[str, ...] = ()

    @property
    def short_type(self) -> str:
        return self.type.rsplit(".", 1)[-1]

    @property
    def name(self) -> str | None:
        """The expression naming it at the end of the run, else where it was last."""
        if not self.bound:
            return None
        last_cell = self.bound[-1][0]
        at_end = sorted(e for c, e in self.bound if c == last_cell)
        plain = [e for e in at_end if "[" not in e]
        return (plain or at_end)[0]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted({e for _, e in self.bound}))


@dataclass(frozen=True)
class FitEvent:
    seq: int
    cell: int  # notebook cell index
    model: str  # TracedModel.key
    method: str  # fit | fit_transform | fit_predict | train
    x: DataInfo | None
    y: DataInfo | None
    inside: str | None  # the notebook function it ran in, None at a cell's top level
    formula: str | None = None  # statsmodels formula API
    best: str | None = None  # a search CV's best_estimator_


@dataclass(frozen=True)
class UseEvent:
    seq: int
    cell: int
    model: str
    method: str  # predict | predict_proba | transform | ...
    x: DataInfo | None
    out: DataInfo | None
    inside: str | None


@dataclass(frozen=True)
class SaveEvent:
    seq: int
    cell: int
    path: str | None
    fmt: str  # pickle | joblib | skops | dill | cloudpickle | native
    contents: tuple[tuple[str, str], ...]  # (where in the saved value, model key)
    inside: str | None
    value: DataInfo | None = None  # what was saved: a tuple of 2, say


@dataclass(frozen=True)
class FunctionCall:
    """A call of one of the notebook's own functions, made from the notebook."""

    seq: int
    cell: int
    name: str
    args: tuple[DataInfo | None, ...]
    out: DataInfo | None
    inside: str | None


@dataclass(frozen=True)
class Trace:
    models: tuple[TracedModel, ...]
    fits: tuple[FitEvent, ...]
    uses: tuple[UseEvent, ...]
    saves: tuple[SaveEvent, ...]
    functions: tuple[FunctionCall, ...]
    calls: tuple[tuple[str, int], ...]  # notebook function -> calls from anywhere
    seconds: float  # wall time of the traced run, kernel start included
    dropped: int  # events over the limit, not recorded
    errors: tuple[str, ...]  # the tracer's own failures (the notebook ran on)
    kernel_cpu_seconds: float = 0.0  # the kernel's CPU time from tracer to finish

    def model(self, key: str) -> TracedModel:
        return next(m for m in self.models if m.key == key)

    @classmethod
    def from_record(
        cls, record: dict[str, Any], origins: list[int | None], seconds: float
    ) -> Trace:
        """Parse the tracer's JSON; `origins[k]` is the notebook cell executed k-th
        (0 is the tracer's own cell)."""
        reader = _Reader(record, origins)
        events = [
            reader.event(e)
            for e in sorted(record["events"], key=lambda e: int(e["seq"]))
        ]
        models = tuple(
            TracedModel(
                o["key"],
                o["type"],
                bool(o["predicts"]),
                o["origin"],
                tuple(reader.bound.get(o["key"], ())),
                tuple(o.get("main", ())),
            )
            for o in record["objects"]
        )
        return cls(
            models,
            tuple(e for e in events if isinstance(e, FitEvent)),
            tuple(e for e in events if isinstance(e, UseEvent)),
            tuple(e for e in events if isinstance(e, SaveEvent)),
            tuple(e for e in events if isinstance(e, FunctionCall)),
            tuple(sorted(record["calls"].items())),
            seconds,
            int(record["dropped"]),
            tuple(record["errors"]),
            float(record["cpu_seconds"]),
        )


_Event = FitEvent | UseEvent | SaveEvent | FunctionCall | None


class _Reader:
    """Reads the tracer's events: cells by execution order, data by identity."""

    def __init__(self, record: dict[str, Any], origins: list[int | None]) -> None:
        self.origins = origins
        self.data_names: dict[tuple[int, str], list[str]] = {}
        self.bound: dict[str, list[tuple[int, str]]] = {}
        for snap in record["snapshots"]:
            for key, exprs in snap["models"].items():
                for expr in sorted(exprs):
                    self.bound.setdefault(key, []).append(
                        (self.cell_of(snap["cell"]), expr)
                    )
            for ident, exprs in snap["data"].items():
                self.data_names[(snap["cell"], ident)] = sorted(exprs)

    def cell_of(self, k: int) -> int:
        if 0 <= k < len(self.origins):
            found = self.origins[k]
            if found is not None:
                return found
        return -1

    def info(self, d: dict[str, Any] | None, cell: int) -> DataInfo | None:
        if d is None:
            return None
        shape = d.get("shape")
        return DataInfo(
            d["type"],
            tuple(shape) if shape is not None else None,
            d.get("len"),
            tuple(d.get("columns", ())),
            tuple(d.get("dtypes", ())),
            tuple(self.data_names.get((cell, str(d["id"])), ())),
            d.get("item"),
            int(d["id"]),
        )

    def event(self, e: dict[str, Any]) -> _Event:
        k, at, kind = e["cell"], self.cell_of(e["cell"]), e["event"]
        if kind == "fit":
            return FitEvent(
                e["seq"],
                at,
                e["model"],
                e["method"],
                self.info(e.get("x"), k),
                self.info(e.get("y"), k),
                e.get("inside"),
                e.get("formula"),
                e.get("best"),
            )
        if kind == "use":
            return UseEvent(
                e["seq"],
                at,
                e["model"],
                e["method"],
                self.info(e.get("x"), k),
                self.info(e.get("out"), k),
                e.get("inside"),
            )
        if kind == "save":
            return SaveEvent(
                e["seq"],
                at,
                e.get("path"),
                e["fmt"],
                tuple((c["path"], c["model"]) for c in e["contents"]),
                e.get("inside"),
                self.info(e.get("value"), k),
            )
        if kind == "function":
            return FunctionCall(
                e["seq"],
                at,
                e["name"],
                tuple(self.info(a, k) for a in e["args"]),
                self.info(e.get("out"), k),
                e.get("inside"),
            )
        return None


def tracer_source() -> str:
    return (Path(__file__).parent / "kernel_tracer.py").read_text(encoding="utf-8")


#: The traced run's first cell: installs the tracer in the kernel.
_PRELUDE = (
    "__nb2svc_tracer_ns = {{'__name__': '__nb2svc_tracer__'}}\n"
    "exec(compile({source!r}, '<nb2svc-tracer>', 'exec'), __nb2svc_tracer_ns)\n"
    "__nb2svc_tracer = __nb2svc_tracer_ns['install']("
    "__import__('sys')._getframe(0).f_code.co_filename)\n"
)


def trace_notebook(
    nb: RawNotebook, folder: Path, timeout: int, progress: Progress | None = None
) -> Trace:
    """Run every code cell of the notebook once, in order, in a fresh kernel from
    `folder`, under the tracer. NotebookExecutionError names the cell that failed;
    each notebook cell is reported to `progress` as it starts."""
    import nbformat

    from nb2svc.capture import (
        CapturePlan,
        KernelCell,
        KernelFailure,
        cell_progress,
        execute_in_kernel,
        kernel_env,
        notebook_failure,
    )

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nb2svc-trace-") as tmp:
        out = Path(tmp) / "trace.json"
        cells = [KernelCell(_PRELUDE.format(source=tracer_source()), None)]
        cells += [
            KernelCell(c.source, c.index) for c in nb.cells if c.cell_type == "code"
        ]
        finish = KernelCell(f"__nb2svc_tracer.finish({str(out)!r})\n", None)
        plan = CapturePlan((*cells, finish), (), ())
        new_cell: Any = nbformat.v4.new_code_cell
        # Progress counts the notebook's cells only: not the tracer's own first cell.
        report = cell_progress(
            CapturePlan(tuple(cells[1:]), (), ()),
            ["reading what the run recorded"],
            progress,
        )

        def on_cell(index: int) -> None:
            if report is not None and index > 0:
                report(index - 1)

        try:
            execute_in_kernel(
                [new_cell(c.source) for c in plan.cells],
                folder,
                timeout,
                kernel_env(),
                Path(tmp),
                on_cell=on_cell,
            )
        except KernelFailure as failure:
            error = notebook_failure(
                nb, plan, failure.index, failure.message, failure.hint, failure.line
            )
            raise error from failure
        record = json.loads(out.read_text(encoding="utf-8"))
    origins = [c.origin for c in cells]
    return Trace.from_record(record, origins, time.perf_counter() - started)
