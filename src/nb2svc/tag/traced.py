"""The planner's use of the traced run: which fit stands for the model the notebook
settles on (its own fit, a search's, or the notebook's last top-level call of it),
what kind of value one request is, and the load of the file the run saw it saved in.

Reads a Choice and a Trace (None with `tag --static`); raises TagError when the model
the notebook settles on cannot be served. Nothing here runs the notebook.
"""

from __future__ import annotations

import ast

from nb2svc.analysis import normalise_artifact
from nb2svc.errors import Severity
from nb2svc.tag.cells import CellPlanner
from nb2svc.tag.choose import Choice
from nb2svc.tag.definitions import export_definitions
from nb2svc.tag.flow import Chain, TagError, cell_no, diag, pick_model
from nb2svc.tag.forecast import is_forecaster
from nb2svc.tag.proposal import quote
from nb2svc.tag.scan import PREDICT_METHODS, Fit, NotebookScan
from nb2svc.tag.trace import DataInfo, Trace


class TracedPlanner(CellPlanner):
    """The model and what the traced run knows about it (a base of the planner)."""

    def __init__(
        self,
        scan: NotebookScan,
        choice: Choice | None,
        wanted: str | None,
        trace: Trace | None,
    ) -> None:
        super().__init__(scan)
        self.choice = choice
        self.wanted = wanted
        self.trace = trace
        #: a forecasting model: a horizon in, dated values out (forecast.py)
        self.forecasting = False
        self.summary = ""

    def _pick(self) -> Fit:
        if self.choice is None:
            fit, note = pick_model(self.scan, self.wanted)
            self.p.notes.append(note)
            self.forecasting = is_forecaster(self.scan, fit)
            self.summary = f"'{fit.obj}' ({cell_no(fit.cell)}, {fit.ctor})"
            return fit
        choice = self.choice
        if choice.model is None:
            listed = "; ".join(c.line for c in choice.candidates) or "none"
            raise TagError(
                diag(
                    self.nb,
                    f"tag cannot tell which model to serve: {choice.why}. "
                    f"Candidates: {listed}",
                    "name the one to serve with --model NAME, or save it in the "
                    "notebook (joblib.dump / pickle.dump)",
                    "NB1209",
                    severity=Severity.ERROR,
                )
            )
        picked = next(c for c in choice.candidates if c.model == choice.model)
        self.forecasting = choice.model.type.startswith("statsmodels.tsa.")
        self.summary = f"{picked.summary} ({choice.why})"
        note = f"model: picked {picked.summary}, {choice.why}"
        if choice.others:
            note += "; other candidates: " + "; ".join(c.line for c in choice.others)
        self.p.notes.append(note)
        found = self._static_fit(choice)
        if found is None:
            how = (
                f"built inside the notebook's function '{choice.fit.inside}'"
                if choice.fit is not None and choice.fit.inside
                else "not fitted by a top-level '<model>.fit(X, y)' under one name"
            )
            raise TagError(
                diag(
                    self.nb,
                    f"the model to serve is {picked.summary} ({choice.why}), but it is "
                    f"{how}, and tag cannot yet propose the service cells for it",
                    "mark the cells by hand (docs/notebook-contract.md), or pick "
                    "another model with --model NAME",
                    "NB1210",
                    choice.fit.cell if choice.fit is not None else None,
                    severity=Severity.ERROR,
                )
            )
        return found

    def _search_of(self, choice: Choice) -> Fit | None:
        """For a search's best_estimator_, the search's own fit: the search predicts
        with its best estimator, and the notebook names it."""
        model, trace = choice.model, self.trace
        if model is None or trace is None or choice.fit is None:
            return None
        if choice.fit.best != model.key:
            return None
        search = trace.model(choice.fit.model)
        fits = [
            f
            for f in self.scan.fits
            if f.obj == search.name and f.cell == choice.fit.cell
        ]
        if not fits:
            return None
        self.p.notes.append(
            f"served through '{search.name}' ({search.short_type}), which predicts "
            "with its best_estimator_"
        )
        return fits[-1]

    def _static_fit(self, choice: Choice) -> Fit | None:
        """The statement that fits the chosen model, as the static scan sees it; for
        a model fitted where tag cannot follow (inside a notebook function), the
        notebook's last top-level call of it on data, if any."""
        name = choice.model.name if choice.model is not None else None
        fits = [f for f in self.scan.fits if f.obj == name]
        if choice.fit is not None:
            fits = [f for f in fits if f.cell <= choice.fit.cell] or fits
            same = [f for f in fits if f.cell == choice.fit.cell]
            if choice.fit.inside is not None and not same:
                fits = []
        if fits and fits[-1].x is not None:
            return fits[-1]
        search = self._search_of(choice)
        if search is not None:
            return search
        if name is None or not name.isidentifier():
            return fits[-1] if fits else None
        used = self._use_site(choice, name)
        return used if used is not None else (fits[-1] if fits else None)

    def _use_site(self, choice: Choice, name: str) -> Fit | None:
        """The notebook's last top-level call of the model on data, as a Fit whose
        input tag follows (statsmodels' fit() takes none; a helper's is local)."""
        bound = self.scan.bindings.get(name, [])
        calls = [
            c
            for c in self.scan.calls
            if c.obj == name
            and c.top_level
            and c.arg is not None
            and c.method in PREDICT_METHODS
            and bound
            and c.pos > bound[-1].pos
        ]
        if not calls:
            return None
        call = calls[-1]
        arg = call.arg
        assert arg is not None
        stmt = next(st for _, p, st, _ in self.scan.statements if p == call.pos)
        if choice.fit is not None and choice.fit.inside:
            where = f"inside the notebook's function '{choice.fit.inside}'"
        elif choice.fit is not None and choice.fit.formula:
            where = f"by a formula ({choice.fit.formula!r})"
        else:
            where = "where tag cannot follow its input"
        self.p.notes.append(
            f"input: '{name}' is fitted {where}; tag follows its input from "
            f"where the notebook calls it, {cell_no(call.cell)}: "
            f"{name}.{call.method}({ast.unparse(arg)})"
        )
        return Fit(name, call.cell, call.pos, stmt, arg, None, None, "use")

    def _traced_input(self, chain: Chain) -> DataInfo | None:
        """What the traced run saw entering the first step (or the model)."""
        trace, choice = self.trace, self.choice
        if trace is None or choice is None or choice.fit is None:
            return None
        if not chain.steps:
            return choice.fit.x
        first = chain.steps[0]
        if first.kind == "transform":
            for model in trace.models:
                if model.name == first.name:
                    fits = [f for f in trace.fits if f.model == model.key]
                    return fits[-1].x if fits else None
            return None
        if first.kind == "call":
            calls = [f for f in trace.functions if f.name == first.name and f.args]
            return calls[-1].args[0] if calls else None
        return None

    def _traced_load(self, fit: Fit) -> tuple[list[str], set[str]] | None:
        """Load lines for the file the traced run saw the notebook save the model in
        (alone, or in a tuple or dict), and the names they bind; None to fall back."""
        trace, choice = self.trace, self.choice
        if trace is None or choice is None or choice.save is None:
            return None
        save = choice.save
        path = normalise_artifact(save.path) if save.path else None
        if (
            save.fmt not in ("pickle", "joblib")
            or path is None
            or any(ch in path for ch in " ,\t=")
            or save.inside is not None
        ):
            return None
        keys = {k for _, k in save.contents}
        if any(f.model in keys and f.seq > save.seq for f in trace.fits):
            return None  # fitted again after it was saved: the file is stale
        named = [(where, trace.model(k).name) for where, k in save.contents]
        names = [n for _, n in named if n is not None and n.isidentifier()]
        if (
            len(names) != len(named)
            or fit.obj not in names
            or len(set(names)) != len(names)
        ):
            return None
        if save.fmt == "joblib":
            reading, lines = f"joblib.load({quote(path)})", []
        else:
            reading = "pickle.load(handle)"
            lines = [f"with open({quote(path)}, {quote('rb')}) as handle:"]
        indent = "    " if lines else ""
        wheres = [w for w, _ in named]
        size = save.value.length if save.value is not None else None
        if wheres == [""]:
            lines.append(f"{indent}{names[0]} = {reading}")
        elif wheres == [f"[{i}]" for i in range(len(named))] and size == len(named):
            lines.append(f"{indent}{', '.join(names)} = {reading}")
        else:
            lines.append(f"{indent}saved = {reading}")
            lines += [f"{name} = saved{where}" for where, name in named]
        self.artifacts.append(path)
        self.p.notes.append(
            f"load: the notebook saves {', '.join(repr(n) for n in names)} to {path} "
            f"({cell_no(save.cell)}); the load cell reads "
            + ("it" if len(names) == 1 else "them")
        )
        return lines, set(names)

    def _check_main_references(self) -> None:
        """What the traced run saw: the chosen model holds the notebook's own classes
        or functions (found however it was built): their cells are exported."""
        model = self.choice.model if self.choice is not None else None
        if model is None or not model.main or model.name is None:
            return
        fit = self.choice.fit if self.choice is not None else None
        export_definitions(self, model.name, model.main, fit.cell if fit else None)


def input_kind(info: DataInfo | None) -> str | None:
    """'frame' | 'series' | 'array' | 'text' | 'records' | None, from what the traced
    run saw: one request's value is then batched the way the model was fed."""
    if info is None:
        return None
    dims = len(info.shape) if info.shape is not None else None
    textual = bool(info.dtypes) and info.dtypes[0].startswith(("object", "<U", "str"))
    if info.type.startswith("pandas.") and info.short_type == "DataFrame":
        return "frame"
    if info.type.startswith("pandas.") and info.short_type == "Series":
        return "series" if textual else None
    if info.type == "numpy.ndarray":
        if dims == 2:
            return "array"
        return "text" if dims == 1 and textual else None
    if info.type in ("builtins.list", "builtins.tuple"):
        if info.item == "builtins.str":
            return "text"
        if info.item == "builtins.dict":
            return "records"
        if info.item in ("builtins.list", "builtins.tuple", "numpy.ndarray"):
            return "array"
    return None
