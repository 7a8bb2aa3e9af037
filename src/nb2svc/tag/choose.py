"""Which model the notebook settles on, from what the traced run recorded.

In this order: the model the notebook saves (alone, or inside a tuple or dict it
saves); else the one it uses last to predict on data it was not trained on; else the
only model it fits. Otherwise it cannot tell, and says so with the candidates, so the
user can name one with `--model`. Every candidate gets a one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from nb2svc.tag.trace import DataInfo, FitEvent, SaveEvent, Trace, TracedModel, UseEvent

PREDICTING = frozenset(
    {"predict", "predict_proba", "predict_log_proba", "decision_function", "forecast"}
)


def cell_no(index: int) -> str:
    return f"cell {index + 1}"


@dataclass(frozen=True)
class Candidate:
    model: TracedModel
    summary: str  # 'clf' (cell 5, RandomForestClassifier, fitted on X_train 800x12)
    status: str  # what the notebook does with it: saved to ..., predicts on ...

    @property
    def line(self) -> str:
        return f"{self.summary}: {self.status}"


@dataclass(frozen=True)
class Choice:
    """The model to serve (None: the notebook does not say), why, and the others."""

    model: TracedModel | None
    why: str
    candidates: tuple[Candidate, ...]
    fit: FitEvent | None = None  # the fit that made it, when the notebook made it
    save: SaveEvent | None = None  # the save that holds it, when saved
    use: UseEvent | None = None  # its last prediction on held-out or new data

    @property
    def others(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.model != self.model)


def _same_data(a: DataInfo | None, b: DataInfo | None) -> bool:
    if a is None or b is None:
        return False
    if a.ident and a.ident == b.ident:
        return True
    if set(a.names) & set(b.names):
        return True
    # a copy made on the way (model.predict(X_train.values)): unnamed, same size
    return (
        not a.names
        and a.shape is not None
        and (a.shape, a.columns)
        == (
            b.shape,
            b.columns,
        )
    )


def _last_fit(trace: Trace, key: str) -> FitEvent | None:
    fits = [f for f in trace.fits if f.model == key]
    if fits:
        return fits[-1]
    # best_estimator_ of a search: the search's fit made it
    return next((f for f in reversed(trace.fits) if f.best == key), None)


def _held_out_uses(trace: Trace, key: str) -> list[UseEvent]:
    fit = _last_fit(trace, key)
    return [
        u
        for u in trace.uses
        if u.model == key
        and u.method in PREDICTING
        and not (fit is not None and _same_data(u.x, fit.x))
    ]


def _saves_of(trace: Trace, key: str) -> list[tuple[SaveEvent, str]]:
    return [(s, where) for s in trace.saves for where, k in s.contents if k == key]


def display_name(trace: Trace, model: TracedModel) -> str | None:
    """The name the notebook knows the model by: bound to it, or a search's
    `search.best_estimator_`."""
    if model.name:
        return model.name
    fit = _last_fit(trace, model.key)
    if fit is not None and fit.best == model.key:
        search = trace.model(fit.model).name
        return f"{search}.best_estimator_" if search else None
    return None


def _summary(trace: Trace, model: TracedModel) -> str:
    shown = display_name(trace, model)
    name = f"'{shown}'" if shown else f"an unnamed {model.short_type}"
    fit = _last_fit(trace, model.key)
    parts = []
    if fit is not None:
        parts.append(cell_no(fit.cell))
    parts.append(model.short_type)
    if fit is not None and fit.best == model.key:
        parts.append("the best estimator of a search")
    elif model.origin.startswith("cross_validate"):
        parts.append(f"from {model.origin}")
    elif fit is not None:
        if fit.formula:
            parts.append(f"formula {fit.formula!r}")
        elif fit.x is not None:
            parts.append(f"fitted on {fit.x.describe()}")
        if fit.inside:
            parts.append(f"inside '{fit.inside}'")
    return f"{name} ({', '.join(parts)})"


def _saved_text(save: SaveEvent, where: str) -> str:
    target = save.path or "a file"
    text = f"saved to {target} in {cell_no(save.cell)}"
    if where:
        text += f" (item {where} of what it saves)"
    return text


def _status(trace: Trace, model: TracedModel) -> str:
    saves = _saves_of(trace, model.key)
    if saves:
        return _saved_text(*saves[-1])
    uses = _held_out_uses(trace, model.key)
    if uses:
        u = uses[-1]
        on = u.x.describe() if u.x is not None else "data"
        return f"{u.method} on {on} in {cell_no(u.cell)}"
    return "not saved, and not used on data it was not trained on"


def candidates(trace: Trace) -> tuple[Candidate, ...]:
    """Every model (an object with predict) the run fitted, used, saved or bound."""
    found = []
    for model in trace.models:
        if not model.predicts:
            continue
        found.append(Candidate(model, _summary(trace, model), _status(trace, model)))
    return tuple(found)


def _matches(trace: Trace, model: TracedModel, wanted: str) -> bool:
    return (
        wanted in model.names
        or wanted == display_name(trace, model)
        or wanted == model.short_type
    )


def choose_model(trace: Trace, wanted: str | None = None) -> Choice:
    """The model to serve, and why."""
    pool = candidates(trace)
    if wanted is not None:
        picked = [c for c in pool if _matches(trace, c.model, wanted)]
        if len(picked) != 1:
            why = f"--model {wanted}: " + (
                "no model has that name" if not picked else "several models match"
            )
            return Choice(None, why, pool)
        model = picked[0].model
        return _choice(trace, model, f"the model named with --model ({wanted})", pool)
    saved = [
        (s, where, k)
        for s in trace.saves
        for where, k in s.contents
        if any(c.model.key == k for c in pool)
    ]
    if saved:
        save, where, key = saved[-1]
        model = trace.model(key)
        return _choice(
            trace,
            model,
            "the model the notebook saves: " + _saved_text(save, where),
            pool,
        )
    used = [
        u
        for u in trace.uses
        if u.method in PREDICTING
        and any(c.model.key == u.model for c in pool)
        and u in _held_out_uses(trace, u.model)
    ]
    if used:
        u = used[-1]
        on = u.x.describe() if u.x is not None else "data"
        return _choice(
            trace,
            trace.model(u.model),
            f"the model the notebook uses last to predict on data it was not "
            f"trained on: {u.method} on {on} in {cell_no(u.cell)}",
            pool,
        )
    fitted = [c for c in pool if any(f.model == c.model.key for f in trace.fits)]
    if len(fitted) == 1 and len(pool) == 1:
        return _choice(trace, fitted[0].model, "the only model the notebook fits", pool)
    return Choice(
        None,
        "the notebook neither saves a model nor predicts with one on data it was "
        "not trained on, and fits more than one",
        pool,
    )


def _choice(
    trace: Trace, model: TracedModel, why: str, pool: tuple[Candidate, ...]
) -> Choice:
    saves = _saves_of(trace, model.key)
    uses = _held_out_uses(trace, model.key)
    return Choice(
        model,
        why,
        pool,
        _last_fit(trace, model.key),
        saves[-1][0] if saves else None,
        uses[-1] if uses else None,
    )
