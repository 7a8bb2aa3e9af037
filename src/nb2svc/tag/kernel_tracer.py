"""The tracer that `nb2svc tag` runs inside the notebook's kernel.

This file's source is sent to the kernel as text and executed in a private namespace
(the kernel need not have nb2svc installed), so it imports only the standard library.
It records, per cell, which objects the notebook fits (and on what data), uses to
predict or transform (and on what data), saves (and to which file, inside tuples and
dicts too), and which of the notebook's own functions data goes through. It records
descriptions of data (type, shape, columns, dtypes), never the data itself.

How: a profile function (sys.setprofile) that reacts only to calls made from the
notebook's code (its cells and the functions they define) to methods and functions
with the watched names; pickle.dump, a C function the profiler cannot see the
arguments of, is wrapped. After each cell, the user namespace is looked through for
the names bound to the objects and data seen. finish() writes everything as JSON.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import time
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
#: Library functions that train or save, by name, with the modules they come from.
TRAIN = {"train": ("xgboost", "lightgbm")}
SEARCH = {"cross_validate": ("sklearn",)}
DUMP = {"dump": ("joblib", "skops", "dill", "cloudpickle")}
SAVE_METHODS = frozenset({"save_model", "save"})
WATCHED = FIT | USE | frozenset(TRAIN) | frozenset(SEARCH) | frozenset(DUMP)
WATCHED |= SAVE_METHODS
#: How far up from a watched call the notebook's own frame may be (decorators).
MAX_HOPS = 4
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
    return _callable(x, "predict") or (
        _callable(x, "fit") and _callable(x, "transform")
    )


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
        self.pending: dict[int, Any] = {}  # id(frame) -> what to do on its return
        self.cell_data: set[int] = set()  # ids of data seen in this cell
        self.snapshots: list[dict[str, Any]] = []
        self.calls: dict[str, int] = {}  # notebook function -> calls, from anywhere
        self.dropped = 0
        self.errors: list[str] = []
        self.started = time.perf_counter()
        self.original_dump = pickle.dump

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
                "predicts": _callable(obj, "predict"),
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

    # --- the profile function ----------------------------------------------------

    def profile(self, frame: Any, event: str, arg: Any) -> None:
        if self.busy:
            return
        self.busy = True
        try:
            if event == "call":
                code = frame.f_code
                if code.co_filename.startswith(self.prefix):
                    self.on_notebook_function(frame)
                elif code.co_name in WATCHED:
                    self.on_call(frame, code.co_name)
            elif event == "return" and self.pending:
                done = self.pending.pop(id(frame), None)
                if done is not None:
                    done(arg)
        except Exception as exc:  # never break the notebook
            if len(self.errors) < 20:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.busy = False

    def notebook_caller(self, frame: Any) -> Any:
        """The notebook's frame that made this call, if it made it: decorators
        between are fine; a call from inside another watched call, or from another
        method of the same object (score calls predict), is not."""
        this = frame.f_locals.get("self") if frame.f_code.co_argcount else None
        back = frame.f_back
        for _ in range(MAX_HOPS):
            if back is None:
                return None
            if back.f_code.co_filename.startswith(self.prefix):
                return back
            if back.f_code.co_name in WATCHED:
                return None
            if (
                this is not None
                and back.f_locals.get("self") is this
                and callable(getattr(type(this), back.f_code.co_name, None))
            ):
                return None  # another method of the model (score calls predict)
            back = back.f_back
        return None

    @staticmethod
    def arguments(frame: Any) -> tuple[list[Any], dict[str, Any]]:
        code = frame.f_code
        local = frame.f_locals
        names = code.co_varnames[: code.co_argcount]
        args = [local.get(n) for n in names]
        kwargs: dict[str, Any] = {}
        if code.co_flags & 0x08:  # **kwargs
            extra = code.co_varnames[code.co_argcount + code.co_kwonlyargcount]
            if code.co_flags & 0x04:
                extra = code.co_varnames[code.co_argcount + code.co_kwonlyargcount + 1]
            kwargs = dict(local.get(extra) or {})
        for n in code.co_varnames[
            code.co_argcount : code.co_argcount + code.co_kwonlyargcount
        ]:
            kwargs[n] = local.get(n)
        for n in names:
            kwargs.setdefault(n, local.get(n))
        return args, kwargs

    def on_call(self, frame: Any, name: str) -> None:
        caller = self.notebook_caller(frame)
        if caller is None:
            return
        inside = caller.f_code.co_name
        inside = None if inside == "<module>" else inside
        module = str(frame.f_globals.get("__name__", ""))
        args, kwargs = self.arguments(frame)
        this = args[0] if args else None
        if name in TRAIN and module.startswith(TRAIN[name]):
            self.on_train(frame, args, kwargs, inside)
        elif name in SEARCH and module.startswith(SEARCH[name]):
            self.on_search(frame, inside)
        elif name in DUMP and module.startswith(DUMP[name]):
            value = args[0] if args else None
            target = args[1] if len(args) > 1 else kwargs.get("filename")
            self.on_save(value, target, module.split(".")[0], inside)
        elif name in SAVE_METHODS and this is not None and model_like(this):
            target = args[1] if len(args) > 1 else None
            self.on_save(this, target, "native", inside)
        elif name in FIT and this is not None and model_like(this):
            self.on_fit(frame, name, this, args, kwargs, inside)
        elif name in USE and this is not None and model_like(this):
            self.on_use(frame, name, this, args, kwargs, inside)

    def on_fit(
        self,
        frame: Any,
        name: str,
        this: Any,
        args: list[Any],
        kwargs: dict[str, Any],
        inside: str | None,
    ) -> None:
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
            x = args[1] if len(args) > 1 else kwargs.get("X", kwargs.get("x"))
            y = args[2] if len(args) > 2 else kwargs.get("y")
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

        self.pending[id(frame)] = done

    def on_use(
        self,
        frame: Any,
        name: str,
        this: Any,
        args: list[Any],
        kwargs: dict[str, Any],
        inside: str | None,
    ) -> None:
        x = args[1] if len(args) > 1 else None
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

        self.pending[id(frame)] = done

    def on_train(
        self, frame: Any, args: list[Any], kwargs: dict[str, Any], inside: str | None
    ) -> None:
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

        self.pending[id(frame)] = done

    def on_search(self, frame: Any, inside: str | None) -> None:
        def done(result: Any) -> None:
            if isinstance(result, dict):
                for i, est in enumerate(list(result.get("estimator", ()))[:MAX_ITEMS]):
                    if model_like(est):
                        self.key(est, f"cross_validate fold {i}")

        self.pending[id(frame)] = done

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

    def on_notebook_function(self, frame: Any) -> None:
        code = frame.f_code
        name = code.co_name
        if name.startswith("<"):  # a comprehension or lambda of the notebook
            return
        self.calls[name] = self.calls.get(name, 0) + 1
        back = frame.f_back
        if back is None or not back.f_code.co_filename.startswith(self.prefix):
            return  # called by a library (df.apply(clean)): counted only
        if len(self.events) >= MAX_EVENTS:
            self.dropped += 1
            return
        inside = back.f_code.co_name
        args, _ = self.arguments(frame)
        event: dict[str, Any] = {
            "event": "function",
            "name": name,
            "inside": None if inside == "<module>" else inside,
            "args": [self.data(a) for a in args[:4]],
        }

        def done(result: Any) -> None:
            event["out"] = self.data(result)
            self.emit(event)

        self.pending[id(frame)] = done

    def dump(self, obj: Any, file: Any, *args: Any, **kwargs: Any) -> None:
        """pickle.dump, watched (a C function: the profiler cannot see its arguments)."""
        caller = sys._getframe(1)
        if caller.f_code.co_filename.startswith(self.prefix) and not self.busy:
            self.busy = True
            try:
                inside = caller.f_code.co_name
                self.on_save(
                    obj, file, "pickle", None if inside == "<module>" else inside
                )
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                self.busy = False
        self.original_dump(obj, file, *args, **kwargs)

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
        sys.setprofile(None)
        pickle.dump = self.original_dump
        self.ip.events.unregister("pre_run_cell", self.pre_cell)
        self.ip.events.unregister("post_run_cell", self.post_cell)
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
        }
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(record, fh)


def install(cell_file: str) -> Tracer:
    """Start tracing the cells that follow (called from the tracer's own cell)."""
    from IPython import get_ipython

    ip = get_ipython()
    tracer = Tracer(os.path.dirname(cell_file), ip)
    ip.events.register("pre_run_cell", tracer.pre_cell)
    ip.events.register("post_run_cell", tracer.post_cell)
    pickle.dump = tracer.dump
    sys.setprofile(tracer.profile)
    return tracer
