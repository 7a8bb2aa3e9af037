"""Decide the markers for an unmarked notebook: the model, its inputs, the model call,
the example, and a save/load pair for what lives only in memory.

The result is a Proposal: edits to apply to the notebook plus notes saying what was
picked and why. Nothing here reads or writes files.
"""

from __future__ import annotations

import ast

from nb2svc.analysis import normalise_artifact
from nb2svc.errors import Severity
from nb2svc.model import RawNotebook, Role
from nb2svc.tag.choose import Choice
from nb2svc.tag.cleaning import (
    Cleaning,
    decision_threshold,
    evaluates_probabilities,
    with_cleaning,
)
from nb2svc.tag.definitions import export_definitions
from nb2svc.tag.flow import (
    Chain,
    TagError,
    base_name,
    cell_no,
    changed_after,
    diag,
    free_names,
    held_out,
    resolve_chain,
)
from nb2svc.tag.forecast import (
    ForecastCall,
    find_forecast,
    forecast_cells,
    horizon_example,
    refuse_forecast,
)
from nb2svc.tag.kinds import kind_of
from nb2svc.tag.proposal import (
    EXAMPLE_ROWS,
    NewCell,
    Proposal,
    quote,
    rows_cell,
)
from nb2svc.tag.reference import propose_reference
from nb2svc.tag.scan import (
    PREDICT_METHODS,
    Binding,
    Fit,
    ModelCall,
    scan_notebook,
)
from nb2svc.tag.trace import Trace
from nb2svc.tag.traced import TracedPlanner, input_kind
from nb2svc.tag.train import propose_train

__all__ = ["EXAMPLE_ROWS", "NewCell", "Proposal", "TagError", "plan_tags"]


class _Planner(TracedPlanner):
    """One proposal for one notebook (use once)."""

    #: Propose `train` for the cells that fit the served model (tag/train.py).
    train = True
    #: Propose the `reference` cell: the raw training rows (tag/reference.py).
    reference = True
    #: The served model's own fit and its input's chain, before tag follows where
    #: the notebook scores new data (None: fitted where tag cannot follow it).
    trained: tuple[Fit, Chain] | None = None

    def run(self) -> Proposal:
        fit = self._pick()
        self._note_training()
        example: NewCell | None = None
        if self.forecasting:
            found = find_forecast(self.scan, fit)
            if found is None:
                raise refuse_forecast(self.scan, fit, self.summary)
            service_cells = self._forecast(found)
            example, note = horizon_example(found)
            self.p.notes.append(note)
        else:
            fit, chain = self._model_input(fit)
            service_cells = self._service_cells(fit, chain)
        self.need({fit.obj})
        self.needs.state.setdefault(fit.obj, None)
        load = self._load(fit)
        self.need(free_names(load))
        if self.train and not self.forecasting:
            propose_train(self, fit, chain)
        self._helpers()
        self._apply_extractions()
        self._imports()
        self._report_missing()
        header = (
            "## Service\n\n"
            "Proposed by `nb2svc tag`: `nb2svc build` turns the cells marked "
            "`# nb2svc: ...` into the service."
        )
        self.p.inserts.append(
            NewCell("end", 0, header, cell_type="markdown", key="service", order=3)
        )
        options = "artifacts=" + ",".join(self.artifacts)
        self.p.inserts.append(
            NewCell("end", 0, load, Role.LOAD, options, key="load", order=4)
        )
        self.p.inserts.extend(service_cells)
        self.p.inserts.append(example or self._example(fit, chain))
        if self.reference:
            self._reference(fit)
        return self.p

    def _reference(self, fit: Fit) -> None:
        trained = self.trained
        target = self._target_column(*trained) if trained is not None else None
        cell = propose_reference(self, fit, trained, target)
        if cell is not None:  # runs in the kernel only, as the example cell
            self.p.inserts.append(cell)

    def _model_input(self, fit: Fit) -> tuple[Fit, Chain]:
        """The model's input followed back to raw data: from its fit, or from where
        the notebook scores new data when that shows more of its cleaning."""
        if fit.x is None:
            raise TagError(
                diag(
                    self.nb,
                    f"'{fit.obj}.fit(...)' has no input to follow",
                    "fit the model as model.fit(X, y)",
                    "NB1200",
                    fit.cell,
                    fit.stmt.lineno,
                    Severity.ERROR,
                )
            )
        self._check_framework(fit)
        chain = resolve_chain(self.scan, fit.x, fit.pos)
        if fit.site == "use":
            chain = with_cleaning(self.scan, chain)
        else:
            self.trained = (fit, chain)
        return self._follow_use(fit, chain)

    def _forecast(self, found: ForecastCall) -> list[NewCell]:
        names = (
            self._function_name("preprocess", "prepare_input"),
            self._function_name("predict", "predict_output"),
            self._function_name("postprocess", "postprocess_output"),
        )
        cells, notes = forecast_cells(found, names)
        for cell in cells:
            self.need(free_names(cell.source))
        self.p.notes += notes
        return cells

    def _note_training(self) -> None:
        training = sorted(
            {f.cell for f in self.scan.fits} | {s.cell for s in self.scan.saves}
        )
        if self.trace is not None:  # what ran, fits inside functions included
            training = sorted(
                {f.cell for f in self.trace.fits if f.cell >= 0}
                | {s.cell for s in self.trace.saves if s.cell >= 0}
            )
        self.p.notes.append(
            "training: "
            + ", ".join(cell_no(c) for c in training)
            + " fit or save models and are left unmarked"
        )

    def _report_missing(self) -> None:
        for name in self.needs.missing:
            self.p.diagnostics.append(
                diag(
                    self.nb,
                    f"the service needs '{name}', but no cell defines it",
                    "define or import it in a cell, then run tag again",
                    "NB1203",
                )
            )

    def _service_cells(self, fit: Fit, chain: Chain) -> list[NewCell]:
        """preprocess, predict and postprocess: the notebook's own function that
        calls the model, or new ones following the notebook's calls."""
        existing = self._model_function(fit)
        if existing is not None:
            self.need(free_names(self.source_of(existing)))
            self._function_cell(existing, Role.PREDICT)
            self.p.notes.append(
                f"predict: the notebook's own '{existing.name}' "
                f"({cell_no(existing.cell)}), which calls the model"
            )
            return []
        return [*self._preprocess(chain), *self._predict(fit)]

    def _follow_use(self, fit: Fit, chain: Chain) -> tuple[Fit, Chain]:
        """Where the notebook last scores data through more of its own cleaning than
        the model's training input shows (a regex cleaner before the vectorizer, a
        label-encoding loop on a copy of new rows), follow that call back to its raw
        input instead: the service takes data as it comes, and cleans it."""
        calls = [
            c
            for c in self.scan.calls
            if c.obj == fit.obj
            and c.top_level
            and c.arg is not None
            and c.method in PREDICT_METHODS
            and c.pos >= fit.pos
        ]
        if not calls or (fit.site == "use" and calls[-1].pos == fit.pos):
            return fit, chain
        call = calls[-1]
        assert call.arg is not None
        used = with_cleaning(self.scan, resolve_chain(self.scan, call.arg, call.pos))
        no_held_out = fit.site == "fit" and held_out(self.scan, chain)[0] is None
        if used.cleans < chain.cleans or (
            used.cleans == chain.cleans and not (used.cleans and no_held_out)
        ):
            return fit, chain
        stmt = next(st for _, p, st, _ in self.scan.statements if p == call.pos)
        self.p.notes.append(
            f"input: the notebook cleans the data it scores in {cell_no(call.cell)} "
            + (
                "as it cleans its training data, which has no held-out part"
                if used.cleans == chain.cleans
                else "more than its training input shows"
            )
            + f"; the service takes {ast.unparse(used.raw)} as it comes and cleans "
            "it the same way"
        )
        use = Fit(fit.obj, call.cell, call.pos, stmt, call.arg, None, fit.ctor, "use")
        return use, used

    # -- the model and its call ------------------------------------------------------

    def _check_framework(self, fit: Fit) -> None:
        b = self.scan.binding(fit.ctor) if fit.ctor else None
        module = (b.import_line[0] if b and b.import_line else "") or ""
        if fit.ctor in ("Sequential", "Model", "Functional") or module.startswith(
            ("keras", "tensorflow", "torch")
        ):
            self.p.diagnostics.append(
                diag(
                    self.nb,
                    f"'{fit.obj}' looks like a deep-learning model: the proposed "
                    "joblib save and load may not work for it",
                    "save it with the framework's own format (model.save, "
                    "torch.save) and load it the same way in the load cell",
                    "NB1206",
                    fit.cell,
                    fit.stmt.lineno,
                )
            )

    def _model_function(self, fit: Fit) -> Binding | None:
        """The notebook's own one-argument function that calls the model, if any."""
        found: Binding | None = None
        for bindings in self.scan.bindings.values():
            b = bindings[-1]
            stmt = b.stmt
            if (
                b.kind != "def"
                or not isinstance(stmt, ast.FunctionDef)
                or not b.top_level
            ):
                continue
            args = stmt.args.posonlyargs + stmt.args.args
            if len(args) - len(stmt.args.defaults) != 1 or stmt.args.vararg:
                continue
            calls_model = any(
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and n.func.attr in PREDICT_METHODS
                and isinstance(n.func.value, ast.Name)
                and n.func.value.id == fit.obj
                for n in ast.walk(stmt)
            )
            returns = any(
                isinstance(n, ast.Return) and n.value is not None
                for n in ast.walk(stmt)
            )
            if calls_model and returns and (found is None or b.pos > found.pos):
                found = b
        return found

    def _function_name(self, preferred: str, fallback: str) -> str:
        b = self.scan.binding(preferred)
        return fallback if b is not None else preferred

    def _guard(self, chain: Chain) -> str | None:
        """'records' | 'text' | 'array': how one request becomes the model's batch."""
        steps = chain.steps
        kind = input_kind(self._traced_input(chain)) or kind_of(
            self.scan, chain.raw, chain.pos
        )
        first_ctor = (
            self.scan.ctor_of(steps[0].name) or ""
            if steps and steps[0].kind == "transform"
            else ""
        )
        if kind == "records":
            return "records"
        if kind in ("series", "text") or first_ctor.endswith(
            ("Vectorizer", "Tokenizer")
        ):
            return "text"
        return "array" if kind == "array" else None

    def _preprocess(self, chain: Chain) -> list[NewCell]:
        steps = chain.steps
        guard = self._guard(chain)
        if not chain.cleans and guard is None:
            self.p.notes.append(
                f"preprocess: none; the model takes {ast.unparse(chain.raw)} as it is"
            )
            return []
        if (
            len(steps) == 1
            and steps[0].kind == "call"
            and chain.cleaning is None
            and guard is None
        ):
            b = self.scan.binding(steps[0].name)
            if b is not None and b.top_level:
                self.need(free_names(self.source_of(b)))
                self._function_cell(b, Role.PREPROCESS)
                self.p.notes.append(
                    f"preprocess: the notebook's own '{b.name}' ({cell_no(b.cell)}), "
                    "applied to the model's input before fitting"
                )
                return []
        name = self._function_name("preprocess", "prepare_input")
        lines = [f"def {name}(raw):", *_GUARDS[guard]]
        described = []
        if chain.cleaning is not None:
            lines += _cleaning_lines(chain.cleaning)
            cells = ", ".join(cell_no(c) for c in chain.cleaning.cells)
            described.append(f"the notebook's own cleaning of new rows ({cells})")
        for step in steps:
            if step.kind == "call":
                lines.append(f"    x = {step.name}(x)")
                described.append(f"'{step.name}'")
            elif step.kind == "map":
                lines.append(f"    x = [{step.name}(value) for value in x]")
                described.append(f"'{step.name}' on each value")
            elif step.kind == "expr":
                lines.append(f"    x = {step.name}")
                described.append(f"the notebook's {step.name}")
            else:
                lines.append(f"    x = {step.name}.transform(x)")
                described.append(f"'{step.name}.transform'")
        lines.append("    return x")
        code = "\n".join(lines)
        self.need(free_names(code))
        self.p.notes.append(
            f"preprocess: a new '{name}' function: "
            + (", then ".join(described) if described else "it only batches the input")
        )
        return [NewCell("end", 0, code, Role.PREPROCESS, key="preprocess", order=5)]

    def _predict(self, fit: Fit) -> list[NewCell]:
        calls = [
            c
            for c in self.scan.calls
            if c.obj == fit.obj
            and (c.pos > fit.pos or (fit.site == "use" and c.pos == fit.pos))
        ]
        call = calls[-1] if calls else None
        after = fit.pos if fit.site == "fit" else -1
        proba = evaluates_probabilities(self.scan, fit.obj, after)
        if proba is not None and (call is None or call.method == "predict"):
            self.p.notes.append(
                f"probabilities: the notebook evaluates '{fit.obj}.predict_proba' "
                f"({cell_no(proba.cell)}); the service returns them"
            )
            call = proba
        method = call.method if call else "predict"
        subscript = call.subscript if call and call.subscript else ""
        options = f", {call.options}" if call and call.options else ""
        name = self._function_name("predict", "predict_output")
        self.p.notes.append(
            f"predict: '{fit.obj}.{method}(...{options}){subscript}'"
            + (
                f", as the notebook calls it in {cell_no(call.cell)}"
                if call
                else " (the notebook never calls the model after fitting it)"
            )
        )
        code = (
            f"def {name}(features):\n"
            f"    return {fit.obj}.{method}(features{options}){subscript}"
        )
        self.need(free_names(code))
        cells = [NewCell("end", 0, code, Role.PREDICT, key="predict", order=6)]
        if call is not None and method in ("predict_proba", "decision_function"):
            cells += self._postprocess(call)
        return cells

    def _postprocess(self, call: ModelCall) -> list[NewCell]:
        """The decision threshold the notebook applies to the model's scores, as a
        postprocess function with the threshold a config setting."""
        threshold = decision_threshold(self.scan, call, "scores")
        if threshold is None:
            return []
        cells: list[NewCell] = []
        expr = threshold.expr
        if threshold.name is not None:
            setting = threshold.name
            self.settings.add(setting)
            self.need({setting})
        else:
            assert threshold.value is not None
            setting = "THRESHOLD"
            if self.scan.binding(setting) is not None:
                setting = "DECISION_THRESHOLD"
            expr = _name_constant(expr, threshold.value, setting)
            source = f"{setting} = {threshold.value!r}"
            cells.append(NewCell("end", 0, source, Role.CONFIG, key="config", order=4))
        name = self._function_name("postprocess", "postprocess_output")
        code = f"def {name}({threshold.output}):\n    return {ast.unparse(expr)}"
        self.need(free_names(code))
        self.p.notes.append(
            f"postprocess: the decision threshold the notebook applies in "
            f"{cell_no(threshold.cell)}: {ast.unparse(expr)}, with {setting} a "
            "config setting"
        )
        cells.append(
            NewCell("end", 0, code, Role.POSTPROCESS, key="postprocess", order=7)
        )
        return cells

    # -- state: save (if needed) and load --------------------------------------------

    def _load(self, fit: Fit) -> str:
        lines: list[str] = []
        new_saves: dict[int, list[str]] = {}
        names = [fit.obj, *sorted(n for n in self.needs.state if n != fit.obj)]
        traced = self._traced_load(fit)
        if traced is not None:
            lines += traced[0]
            for name in sorted(traced[1]):
                self._check_picklable(name, self._reference_pos(name, fit))
            names = [n for n in names if n not in traced[1]]
        self._check_main_references()
        for name in names:
            ref = self._reference_pos(name, fit)
            self._check_picklable(name, ref)
            existing = self._existing_save(name, ref)
            if existing is not None:
                path, fmt = existing
                self.p.notes.append(
                    f"load: the notebook saves '{name}' to {path}; the load cell reads it"
                )
            else:
                path, fmt = f"{name}.joblib", "joblib"
                new_saves.setdefault(self._save_cell(name, fit), []).append(name)
            self.artifacts.append(path)
            if fmt == "joblib":
                lines.append(f"{name} = joblib.load({quote(path)})")
            else:
                lines += [
                    f'with open({quote(path)}, "rb") as handle:',
                    f"    {name} = pickle.load(handle)",
                ]
        for cell, saved in sorted(new_saves.items()):
            body = "\n".join(f"joblib.dump({n}, {quote(n + '.joblib')})" for n in saved)
            source = (
                "# Saved for the service (proposed by nb2svc tag): the load cell at "
                "the end reads these files.\nimport joblib\n\n" + body
            )
            self.p.inserts.append(
                NewCell("after", cell, source, key=f"save-{cell}", order=1)
            )
            names_text = ", ".join(f"'{n}'" for n in saved)
            self.p.notes.append(
                f"save/load: the notebook keeps {names_text} only in memory; a new "
                f"cell after {cell_no(cell)} saves "
                + ("it" if len(saved) == 1 else "them")
                + " next to the notebook, and the load cell reads "
                + ("it" if len(saved) == 1 else "them")
            )
        return "\n".join(lines)

    def _check_picklable(self, name: str, pos: int) -> None:
        """A saved object built from classes or functions of the notebook (a pickle
        names them __main__.<name>): their cells are exported, a lambda refused."""
        local: list[str] = []
        seen: set[str] = set()
        work = [(name, pos, 0, False)]
        while work:
            current, at, depth, called = work.pop()
            b = self.scan.binding(current, at + 1)
            if b is None or current in seen or depth > 4:
                continue
            seen.add(current)
            # An instance of a notebook class, or a notebook function kept as a
            # value (FunctionTransformer(clean)); calling a function is fine.
            if b.kind == "class" or (b.kind == "def" and not called):
                if depth > 0 and current not in local:
                    local.append(current)
                continue
            if b.kind != "assign" or b.value is None:
                continue
            if _lambda_transformer(b.value):
                local.append("<lambda>")
            funcs = {id(n.func) for n in ast.walk(b.value) if isinstance(n, ast.Call)}
            for node in ast.walk(b.value):
                if isinstance(node, ast.Name):
                    work.append((node.id, b.pos - 1, depth + 1, id(node) in funcs))
        if local:
            b = self.scan.binding(name, pos + 1)
            export_definitions(
                self, name, local, b.cell if b else None, b.stmt.lineno if b else None
            )

    def _reference_pos(self, name: str, fit: Fit) -> int:
        """The statement after which `name` holds what the service needs."""
        if name == fit.obj:
            return fit.pos
        bindings = self.scan.bindings.get(name, [])
        before = [b.pos for b in bindings if b.pos <= fit.pos]
        if before:
            return before[-1]
        return bindings[0].pos if bindings else fit.pos

    def _existing_save(self, name: str, ref: int) -> tuple[str, str] | None:
        """A save of `name` made after `ref`, with nothing changing it in between."""
        for save in self.scan.saves:
            if save.obj != name or save.pos <= ref:
                continue
            changed = any(
                ref < b.pos < save.pos for b in self.scan.bindings.get(name, [])
            ) or any(f.obj == name and ref < f.pos < save.pos for f in self.scan.fits)
            path = normalise_artifact(save.path)
            if changed or path is None or any(ch in path for ch in " ,\t"):
                return None
            return path, save.fmt
        return None

    def _save_cell(self, name: str, fit: Fit) -> int:
        """The cell after which to save `name` (where it last got its value)."""
        ref = self._reference_pos(name, fit)
        cell = next(c for c, p, _, _ in self.scan.statements if p == ref)
        return max(cell, fit.cell) if ref <= fit.pos else cell

    # -- the example -----------------------------------------------------------------

    def _example(self, fit: Fit, chain: Chain) -> NewCell:
        if fit.site == "use":
            return self._scored_example(fit, chain)
        test, split = held_out(self.scan, chain)
        base = base_name(chain.raw)
        if test is not None and base is not None:
            expr = _rename(chain.raw, base.id, test)
            source_name: str | None = test
            note = f"example: the first {EXAMPLE_ROWS} rows of {ast.unparse(expr)}"
            if split is not None:
                note += f", held out by train_test_split in {cell_no(split.cell)}"
        else:
            expr = chain.raw
            source_name = base.id if base is not None else None
            note = self._training_rows(chain)
        value = f"{ast.unparse(expr)}[:{EXAMPLE_ROWS}]"
        target = self._target_column(fit, chain)
        if target is not None:
            value += f".drop(columns=[{quote(target)}])"
            note += f", without the target column {target!r}"
        origin = split or (self.scan.binding(source_name) if source_name else None)
        since = origin.pos if origin is not None else 0
        return self._example_cell(value, note, source_name, origin, since)

    def _scored_example(self, fit: Fit, chain: Chain) -> NewCell:
        """The data the notebook scores with the model it settles on, raw."""
        raw = ast.unparse(chain.raw)
        value = raw if isinstance(chain.raw, ast.List) else f"{raw}[:{EXAMPLE_ROWS}]"
        note = f"example: {value}, what the notebook scores in {cell_no(fit.cell)}"
        base = base_name(chain.raw)
        origin = self.scan.binding(base.id, chain.pos) if base is not None else None
        # changed later than the notebook scores them: take them before that
        name = base.id if base is not None else None
        return self._example_cell(value, note, name, origin, chain.pos)

    def _training_rows(self, chain: Chain) -> str:
        raw_text = ast.unparse(chain.raw)
        self.p.diagnostics.append(
            diag(
                self.nb,
                f"no held-out rows found for '{raw_text}': the example uses "
                "training rows",
                "split off a test set (train_test_split) or edit the example cell",
                "NB1204",
            )
        )
        return (
            f"example: the first {EXAMPLE_ROWS} rows of {raw_text}, which the "
            "model was trained on"
        )

    def _example_cell(
        self,
        value: str,
        note: str,
        source_name: str | None,
        origin: Binding | None,
        since: int,
    ) -> NewCell:
        """The example cell at the end; or, when the notebook changes the rows after
        statement `since`, right where they are made, so that they are still raw
        when it runs."""
        if (
            source_name is not None
            and origin is not None
            and changed_after(self.scan, source_name, since)
            and all(  # what else it reads is there by then (mall[features])
                self.scan.binding(n, origin.pos + 1) is not None
                for n in free_names(value) - {source_name}
            )
        ):
            self.p.notes.append(
                f"{note}; taken right after {cell_no(origin.cell)}, before the "
                "notebook changes them"
            )
            return rows_cell("examples", value, Role.EXAMPLE, "example", origin.cell)
        self.p.notes.append(note)
        return rows_cell("examples", value, Role.EXAMPLE, "example")

    def _target_column(self, fit: Fit, chain: Chain) -> str | None:
        """The label column, when the model's y is a column of its raw input frame."""
        y, pos = fit.y, fit.pos
        for _ in range(10):
            if not isinstance(y, ast.Name):
                break
            b = self.scan.binding(y.id, pos)
            if b is None or b.value is None or b.index is not None:
                return None
            y, pos = b.value, b.pos
        base = base_name(chain.raw)
        if (
            isinstance(y, ast.Subscript)
            and isinstance(y.value, ast.Name)
            and isinstance(y.slice, ast.Constant)
            and isinstance(y.slice.value, str)
            and base is not None
            and y.value.id == base.id
            and kind_of(self.scan, chain.raw, chain.pos) == "frame"
        ):
            return y.slice.value
        return None


_GUARDS: dict[str | None, list[str]] = {
    "records": [
        "    # one record per request; the model takes a list of them",
        "    x = [raw] if isinstance(raw, dict) else raw",
    ],
    "text": [
        "    # one text per request; the model takes a batch of them",
        "    x = [raw] if isinstance(raw, str) else raw",
    ],
    "array": [
        "    # one row per request; the model takes a 2-D batch",
        "    x = np.asarray(raw).reshape(1, -1) if np.ndim(raw) == 1 else raw",
    ],
    None: ["    x = raw"],
}


def _cleaning_lines(cleaning: Cleaning) -> list[str]:
    """The notebook's in-place cleaning, run on a copy of the request."""
    lines = [
        "    # the notebook's own cleaning of the rows it scores",
        f"    {cleaning.var} = x.copy()",
    ]
    for source in cleaning.sources:
        lines += [f"    {line}" if line else "" for line in source.splitlines()]
    if cleaning.var != "x":
        lines.append(f"    x = {cleaning.var}")
    return lines


def _name_constant(expr: ast.expr, value: float, name: str) -> ast.expr:
    """`expr` with the threshold written as a number replaced by the setting `name`."""

    class Swap(ast.NodeTransformer):
        def visit_Compare(self, node: ast.Compare) -> ast.Compare:
            self.generic_visit(node)
            right = node.comparators[0]
            if (
                isinstance(right, ast.Constant)
                and isinstance(right.value, int | float)
                and float(right.value) == value
            ):
                node.comparators = [ast.Name(name, ast.Load())]
            return node

    copied = ast.parse(ast.unparse(expr), mode="eval").body
    swapped = Swap().visit(copied)
    assert isinstance(swapped, ast.expr)
    return swapped


def _rename(expr: ast.expr, old: str, new: str) -> ast.expr:
    class Rename(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.Name:
            return ast.Name(new, node.ctx) if node.id == old else node

    copied = ast.parse(ast.unparse(expr), mode="eval").body
    renamed = Rename().visit(copied)
    assert isinstance(renamed, ast.expr)
    return renamed


def plan_tags(
    nb: RawNotebook,
    choice: Choice | None = None,
    wanted: str | None = None,
    trace: Trace | None = None,
    train: bool = True,
    reference: bool = True,
) -> Proposal:
    """The proposal for an unmarked notebook; TagError when there is nothing to serve.

    `choice` is the model the traced run settled on and `trace` what that run
    recorded (None: choose statically, the `--static` way); `wanted` is the --model
    name for the static choice.
    """
    planner = _Planner(scan_notebook(nb), choice, wanted, trace)
    planner.train = train
    planner.reference = reference
    return planner.run()


def _lambda_transformer(value: ast.expr) -> bool:
    """A lambda given to a transformer (FunctionTransformer(lambda df: ...))."""
    for node in ast.walk(value):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            args = [*node.args, *(k.value for k in node.keywords)]
            if name.endswith("Transformer") and any(
                isinstance(a, ast.Lambda) for a in args
            ):
                return True
    return False
