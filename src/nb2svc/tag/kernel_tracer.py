"""The tracer that `nb2svc tag` runs inside the notebook's kernel.

This file's source is sent to the kernel as text and executed in a private namespace
(the kernel need not have nb2svc installed), so it imports only the standard library.
It records, per cell, which objects the notebook fits (and on what data), uses to
predict or transform (and on what data), saves (and to which file, inside tuples and
dicts too), and which of the notebook's own functions data goes through. It records
descriptions of data (type, shape, columns, dtypes), never the data itself.

How: an IPython AST transformer rewrites, in each cell's code only, the calls of
methods and functions with the watched names (`model.fit(X, y)` becomes
`_nb2svc_trace_call(model, "fit", X, y)`) and decorates the functions the cells
define; everything else runs untouched, at full speed (a profiler costs every call
in the kernel, library code included). After each cell, the user namespace is looked
through for the names bound to the objects and data seen. finish() writes everything
as JSON.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import os
import sys
import time
import types
from typing import Any

FIT = frozenset({"fit", "fit_transform", "fit_predict"})
USE = frozenset(
    {
        "predict",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
        "transform",
        "score_samples",
        "forecast",
    }
)
DUMP_MODULES = ("pickle", "_pickle", "joblib", "skops", "dill", "cloudpickle")
#: Library functions that train or save, by name, with the modules they come from.
TRAIN = {"train": ("xgboost", "lightgbm")}
SEARCH = {"cross_validate": ("sklearn",)}
DUMP = {"dump": DUMP_MODULES}
SAVE_METHODS = frozenset({"save_model", "save"})
WATCHED = FIT | USE | frozenset(TRAIN) | frozenset(SEARCH) | frozenset(DUMP)
WATCHED |= SAVE_METHODS
#: This file's name in the kernel (trace.py compiles it so).
OWN_FILE = "<nb2svc-tracer>"
#: The kernel-side names the rewritten cells call (one underscore: no mangling).
CALL, FUNCTION, DEFINED = "_nb2svc_trace_call", "_nb2svc_trace_fn", "_nb2svc_trace_def"
MAX_EVENTS = 20_000
MAX_ITEMS = 50
#: Code IPython's %%time / %time runs the cell's code under.
MAGIC_FILES = ("<timed exec>", "<timed eval>")
MAX_COLUMNS = 500


def type_name(x: Any) -> str:
    cls = type(x)
    return f"{cls.__module__}.{cls.__qualname__}"


def _callable(x: Any, name: str) -> bool:
    try:
        return callable(getattr(x, name, None))
    except Exception:
        return False


def model_like(x: Any) -> bool:
    """Something fitted that maps data: an estimator, booster or statsmodels result."""
    if isinstance(x, type) or type(x).__module__ in ("builtins", "numpy", "pandas"):
        return False
    if type(x).__module__.startswith(("pandas.", "numpy.")):
        return False
    if _callable(x, "predict") or _callable(x, "fit_predict"):
        return True  # fit_predict only: an outlier detector or clusterer
    return _callable(x, "fit") and _callable(x, "transform")


def looks_fitted(x: Any) -> bool:
    check = getattr(type(x), "__sklearn_is_fitted__", None)
    if check is not None:
        try:
            return bool(check(x))
        except Exception:
            return False
    try:
        attrs = vars(x)
    except TypeError:
        return True
    if type(x).__module__.startswith(
        ("statsmodels", "xgboost", "lightgbm", "catboost")
    ):
        return True
    return any(k.endswith("_") and not k.startswith("__") for k in attrs)


def describe(x: Any) -> dict[str, Any] | None:
    """What a value looks like: never the value itself."""
    if x is None:
        return None
    d: dict[str, Any] = {"id": id(x), "type": type_name(x)}
    try:
        shape = getattr(x, "shape", None)
        if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
            d["shape"] = list(shape)
        elif _callable(x, "num_row") and _callable(x, "num_col"):  # xgboost DMatrix
            d["shape"] = [int(x.num_row()), int(x.num_col())]
            names = getattr(x, "feature_names", None)
            if names:
                d["columns"] = [str(c) for c in list(names)[:MAX_COLUMNS]]
        elif isinstance(x, list | tuple | dict | str):
            d["len"] = len(x)
        columns = getattr(x, "columns", None)
        dtypes = getattr(x, "dtypes", None)
        if columns is not None and dtypes is not None and "pandas" in d["type"]:
            d["columns"] = [str(c) for c in list(columns)[:MAX_COLUMNS]]
            d["dtypes"] = [str(t) for t in list(dtypes)[:MAX_COLUMNS]]
        else:
            dtype = getattr(x, "dtype", None)
            if dtype is not None and not callable(dtype):
                d["dtypes"] = [str(dtype)]
        if isinstance(x, list | tuple) and x:
            d["item"] = type_name(x[0])
        if isinstance(x, dict):
            d["keys"] = [str(k) for k in list(x)[:MAX_COLUMNS]]
    except Exception:  # a strange object: its type is enough
        pass
    return d


def main_references(obj: Any) -> list[str]:
    """Classes and functions of the notebook (module __main__) the object holds: a
    pickle refers to them by name, which a service cannot import."""
    found: set[str] = set()
    seen: set[int] = set()
    work = [(obj, 0)]
    while work and len(seen) < 20_000:
        x, depth = work.pop()
        if id(x) in seen or depth > 8:
            continue
        seen.add(id(x))
        kind = type(x)
        if getattr(kind, "__module__", None) == "__main__":
            found.add(kind.__qualname__)
        if isinstance(x, types.FunctionType | type) and x.__module__ == "__main__":
            found.add(x.__qualname__)
            continue
        if isinstance(x, list | tuple | set | frozenset):
            work += [(item, depth + 1) for item in list(x)[:MAX_ITEMS]]
        elif isinstance(x, dict):
            work += [(item, depth + 1) for item in list(x.values())[:MAX_ITEMS]]
        elif isinstance(x, functools.partial):
            work += [(x.func, depth + 1), (x.args, depth + 1)]
        elif hasattr(x, "__dict__") and not isinstance(x, types.ModuleType):
            with contextlib.suppress(TypeError):
                work += [(item, depth + 1) for item in list(vars(x).values())]
    return sorted(found)


class Tracer:
    def __init__(self, cell_dir: str, ipython: Any) -> None:
        self.prefix: tuple[str, ...] = (cell_dir + os.sep, *MAGIC_FILES)
        self.ip = ipython
        self.cell = 0
        self.seq = 0
        self.busy = False
        self.keys: dict[int, str] = {}  # id -> key of objects seen
        self.keep: list[Any] = []  # keeps them alive, so their ids stay theirs
        self.objects: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.cell_data: set[int] = set()  # ids of data seen in this cell
        self.snapshots: list[dict[str, Any]] = []
        self.calls: dict[str, int] = {}  # notebook function -> calls, from anywhere
        self.dropped = 0
        self.errors: list[str] = []
        self.started = time.perf_counter()
        self.cpu_started = time.process_time()
        self.rewriter: ast.NodeTransformer | None = None

    # --- objects and events ------------------------------------------------------

    def key(self, obj: Any, origin: str) -> str:
        found = self.keys.get(id(obj))
        if found is not None:
            return found
        key = f"m{len(self.objects) + 1}"
        self.keys[id(obj)] = key
        self.keep.append(obj)
        self.objects.append(
            {
                "key": key,
                "type": type_name(obj),
                "predicts": _callable(obj, "predict") or _callable(obj, "fit_predict"),
                "origin": origin,
                "cell": self.cell,
            }
        )
        return key

    def data(self, x: Any) -> dict[str, Any] | None:
        d = describe(x)
        if d is not None:
            self.cell_data.add(d["id"])
        return d

    def emit(self, event: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        event["seq"] = self.seq
        event["cell"] = self.cell
        if len(self.events) < MAX_EVENTS:
            self.events.append(event)
        else:
            self.dropped += 1
        return event

    # --- the rewritten calls ----------------------------------------------------

    def call(self, this: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        """`this.name(*args, **kwargs)`, as the notebook wrote it, recorded."""
        method = getattr(this, name)
        done = self.before(this, name, args, kwargs) if not self.busy else None
        result = method(*args, **kwargs)
        if done is not None:
            self.guarded(done, result)
        return result

    def function(self, func: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        """`name(*args, **kwargs)` for a function imported by name (`dump(m, f)`)."""
        done = None
        if not self.busy:
            module = types.ModuleType(str(getattr(func, "__module__", "") or ""))
            done = self.before(module, name, args, kwargs)
        result = func(*args, **kwargs)
        if done is not None:
            self.guarded(done, result)
        return result

    def guarded(self, action: Any, *args: Any) -> Any:
        self.busy = True
        try:
            return action(*args)
        except Exception as exc:  # never break the notebook
            if len(self.errors) < 20:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self.busy = False

    def before(
        self, this: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        inside = self.inside_of_caller()
        return self.guarded(self.dispatch, this, name, list(args), kwargs, inside)

    @staticmethod
    def inside_of_caller() -> str | None:
        # 0 this, 1 before, 2 call/function, 3 the notebook's code
        name: str = sys._getframe(3).f_code.co_name
        return None if name == "<module>" else name

    def dispatch(
        self,
        this: Any,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        inside: str | None,
    ) -> Any:
        if isinstance(this, types.ModuleType):
            module = this.__name__
            if name in TRAIN and module.startswith(TRAIN[name]):
                return self.on_train(args, kwargs, inside)
            if name in SEARCH and module.startswith(SEARCH[name]):
                return self.on_search()
            if name in DUMP and module.split(".")[0] in DUMP[name]:
                value = args[0] if args else kwargs.get("value", kwargs.get("obj"))
                target = args[1] if len(args) > 1 else None
                for k in ("filename", "file"):
                    target = kwargs.get(k, target)
                fmt = module.split(".")[0].lstrip("_")
                self.on_save(value, target, fmt, inside)
            return None
        if not model_like(this):
            return None
        if name in SAVE_METHODS:
            target = args[0] if args else kwargs.get("fname")
            self.on_save(this, target, "native", inside)
            return None
        if name in FIT:
            return self.on_fit(name, this, args, kwargs, inside)
        if name in USE:
            return self.on_use(name, this, args, kwargs, inside)
        return None

    def on_fit(
        self,
        name: str,
        this: Any,
        args: list[Any],
        kwargs: dict[str, Any],
        inside: str | None,
    ) -> Any:
        module = type(this).__module__
        event: dict[str, Any] = {"event": "fit", "method": name, "inside": inside}
        if module.startswith("statsmodels"):
            data = getattr(this, "data", None)
            frame_data = getattr(data, "frame", None)
            exog = getattr(data, "orig_exog", None)
            event["x"] = self.data(frame_data if frame_data is not None else exog)
            event["y"] = self.data(getattr(data, "orig_endog", None))
            formula = getattr(this, "formula", None)
            event["formula"] = formula if isinstance(formula, str) else None
        else:
            x = args[0] if args else kwargs.get("X", kwargs.get("x"))
            y = args[1] if len(args) > 1 else kwargs.get("y")
            event["x"] = self.data(x)
            event["y"] = self.data(y)

        def done(result: Any) -> None:
            fitted = this
            if (
                result is not None
                and result is not this
                and name == "fit"
                and model_like(result)
            ):
                fitted = result  # statsmodels: fit() returns the results
            event["model"] = self.key(fitted, "fit")
            if name != "fit":
                event["out"] = self.data(result)
            best = getattr(fitted, "best_estimator_", None)
            if best is not None and model_like(best):
                event["best"] = self.key(best, f"best_estimator_ of {event['model']}")
            self.emit(event)

        return done

    def on_use(
        self,
        name: str,
        this: Any,
        args: list[Any],
        kwargs: dict[str, Any],
        inside: str | None,
    ) -> Any:
        x = args[0] if args else None
        if x is None:
            for k in ("X", "x", "data", "exog", "steps", "start"):
                if kwargs.get(k) is not None:
                    x = kwargs[k]
                    break
        event: dict[str, Any] = {
            "event": "use",
            "method": name,
            "model": self.key(this, "use"),
            "x": self.data(x),
            "inside": inside,
        }

        def done(result: Any) -> None:
            event["out"] = self.data(result)
            self.emit(event)

        return done

    def on_train(
        self, args: list[Any], kwargs: dict[str, Any], inside: str | None
    ) -> Any:
        data = (
            args[1] if len(args) > 1 else kwargs.get("dtrain", kwargs.get("train_set"))
        )
        event: dict[str, Any] = {
            "event": "fit",
            "method": "train",
            "inside": inside,
            "x": self.data(data),
            "y": None,
        }

        def done(result: Any) -> None:
            if result is not None and model_like(result):
                event["model"] = self.key(result, "train")
                self.emit(event)

        return done

    def on_search(self) -> Any:
        def done(result: Any) -> None:
            if isinstance(result, dict):
                for i, est in enumerate(list(result.get("estimator", ()))[:MAX_ITEMS]):
                    if model_like(est):
                        self.key(est, f"cross_validate fold {i}")

        return done

    def on_save(self, value: Any, target: Any, fmt: str, inside: str | None) -> None:
        path: str | None = None
        if isinstance(target, str | os.PathLike):
            path = os.fspath(target)
        else:
            name = getattr(target, "name", None)
            path = name if isinstance(name, str) else None
        contents: list[dict[str, Any]] = []

        def walk(x: Any, where: str, depth: int) -> None:
            if model_like(x):
                contents.append({"path": where, "model": self.key(x, "save")})
            elif depth < 3 and isinstance(x, list | tuple):
                for i, item in enumerate(x[:MAX_ITEMS]):
                    walk(item, f"{where}[{i}]", depth + 1)
            elif depth < 3 and isinstance(x, dict):
                for k, item in list(x.items())[:MAX_ITEMS]:
                    if isinstance(k, str | int):
                        walk(item, f"{where}[{k!r}]", depth + 1)

        walk(value, "", 0)
        self.emit(
            {
                "event": "save",
                "fmt": fmt,
                "path": path,
                "contents": contents,
                "value": describe(value),
                "inside": inside,
            }
        )

    def defined(self, func: Any) -> Any:
        """Decorates a function a cell defines: its calls from the notebook are
        recorded (arguments and result described), from anywhere else counted."""
        name = func.__name__

        @functools.wraps(func)
        def traced(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            frame = sys._getframe(1)
            while frame.f_back is not None and frame.f_code.co_filename == OWN_FILE:
                frame = frame.f_back  # train(...) goes through function()
            caller = frame.f_code
            if self.busy or not caller.co_filename.startswith(self.prefix):
                return func(*args, **kwargs)
            inside = None if caller.co_name == "<module>" else caller.co_name
            event = self.guarded(
                lambda: {
                    "event": "function",
                    "name": name,
                    "inside": inside,
                    "args": [self.data(a) for a in args[:4]],
                }
            )
            result = func(*args, **kwargs)
            if event is not None:
                event["out"] = self.guarded(self.data, result)
                self.guarded(self.emit, event)
            return result

        return traced

    # --- cells -------------------------------------------------------------------

    def pre_cell(self, *_: Any) -> None:
        self.cell += 1
        self.cell_data = set()

    def post_cell(self, *_: Any) -> None:
        self.busy = True
        try:
            self.snapshot()
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.busy = False

    def snapshot(self) -> None:
        """The names bound, after this cell, to the objects and data seen."""
        hidden = set(getattr(self.ip, "user_ns_hidden", ()))
        models: dict[str, list[str]] = {}
        data: dict[str, list[str]] = {}

        def walk(x: Any, expr: str, depth: int) -> None:
            key = self.keys.get(id(x))
            if key is None and model_like(x) and looks_fitted(x):
                key = self.key(x, "namespace")
            if key is not None:
                models.setdefault(key, []).append(expr)
            elif id(x) in self.cell_data:
                data.setdefault(str(id(x)), []).append(expr)
            if depth < 2 and isinstance(x, list | tuple):
                for i, item in enumerate(x[:MAX_ITEMS]):
                    walk(item, f"{expr}[{i}]", depth + 1)
            elif depth < 2 and isinstance(x, dict):
                for k, item in list(x.items())[:MAX_ITEMS]:
                    if isinstance(k, str | int):
                        walk(item, f"{expr}[{k!r}]", depth + 1)

        for name, value in list(self.ip.user_ns.items()):
            if name.startswith("_") or name in hidden or isinstance(value, type):
                continue
            if type(value).__name__ in ("module", "function"):
                continue
            walk(value, name, 0)
        self.snapshots.append({"cell": self.cell, "models": models, "data": data})

    def finish(self, path: str) -> None:
        self.ip.ast_transformers.remove(self.rewriter)
        self.ip.events.unregister("pre_run_cell", self.pre_cell)
        self.ip.events.unregister("post_run_cell", self.post_cell)
        for entry, obj in zip(self.objects, self.keep, strict=True):
            entry["main"] = self.guarded(main_references, obj) or []
        record = {
            "version": 1,
            "cells": self.cell - 1,
            "objects": self.objects,
            "events": self.events,
            "snapshots": self.snapshots,
            "calls": self.calls,
            "dropped": self.dropped,
            "errors": self.errors,
            "seconds": time.perf_counter() - self.started,
            "cpu_seconds": time.process_time() - self.cpu_started,
        }
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(record, fh)


class Rewriter(ast.NodeTransformer):
    """Rewrites a cell's watched calls into calls of the tracer, and decorates the
    functions it defines (undecorated ones: a decorator like numba's wants the
    function itself). Line numbers stay the notebook's."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in WATCHED:
            target, extra = CALL, [func.value, ast.Constant(func.attr)]
        elif isinstance(func, ast.Name) and func.id in WATCHED:
            target, extra = FUNCTION, [func, ast.Constant(func.id)]
        else:
            return node
        new = ast.Call(
            ast.Name(target, ast.Load()), [*extra, *node.args], node.keywords
        )
        return ast.copy_location(new, node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        if not node.decorator_list:
            node.decorator_list = [
                ast.copy_location(ast.Name(DEFINED, ast.Load()), node)
            ]
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        # methods stay as they are (a decorator would make them plain functions);
        # the calls inside them are still rewritten
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                for child in stmt.body:
                    self.visit(child)
            else:
                self.visit(stmt)
        return node

    def visit_Module(self, node: ast.Module) -> ast.AST:
        self.generic_visit(node)
        return ast.fix_missing_locations(node)


def install(cell_file: str) -> Tracer:
    """Start tracing the cells that follow (called from the tracer's own cell)."""
    from IPython import get_ipython

    ip = get_ipython()
    tracer = Tracer(os.path.dirname(cell_file), ip)
    tracer.rewriter = Rewriter()
    ip.user_ns[CALL] = tracer.call
    ip.user_ns[FUNCTION] = tracer.function
    ip.user_ns[DEFINED] = tracer.defined
    ip.events.register("pre_run_cell", tracer.pre_cell)
    ip.events.register("post_run_cell", tracer.post_cell)
    ip.ast_transformers.append(tracer.rewriter)
    return tracer
