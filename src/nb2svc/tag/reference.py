"""`tag` proposes the `reference` cell: the raw rows the served model was trained on,
in the shape the service takes, which build profiles for drift monitoring.

From the fit of the model tag serves, the chain of the notebook's steps leads back to
the data they start from (`X_train`, the training half of a split; the raw frame or
texts the model was fitted on when there is no split): that expression, as the
notebook itself writes it, becomes `reference = X_train` in a new cell at the end, or
right where the rows are made when the notebook changes them later (as the example).

Nothing is proposed, with a one-line note saying why, for a forecasting model (its
input is a horizon, not rows), a model fitted where tag cannot follow its training
rows (inside a function, by a formula), training rows the notebook cleans before tag
can follow them back to rows like the service's input, rows that would be the
held-out ones, and with `--static` unless the code shows a training split.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from nb2svc.model import Role
from nb2svc.tag.flow import (
    Chain,
    base_name,
    cell_no,
    changed_after,
    free_names,
    held_out,
)
from nb2svc.tag.proposal import NewCell, rows_cell
from nb2svc.tag.scan import Fit

if TYPE_CHECKING:
    from nb2svc.tag.scan import Binding
    from nb2svc.tag.traced import TracedPlanner

#: Words of a name that holds held-out rows (X_test, valid_df).
_HELD_OUT_WORDS = frozenset({"test", "tst", "val", "valid", "holdout"})
#: The note's start when no reference is proposed (tag's retry matches it).
NONE = "reference: none proposed: "
#: What every "none" note ends with.
_BY_HAND = (
    "; the service measures no drift until a cell '# nb2svc: reference' assigns "
    "'reference' the raw training rows, marked by hand"
)


def none_note(why: str) -> str:
    return NONE + " ".join(why.split()) + _BY_HAND


def propose_reference(
    planner: TracedPlanner,
    fit: Fit,
    trained: tuple[Fit, Chain] | None,
    target: str | None,
) -> NewCell | None:
    """The reference cell for the served `fit` (whose training fit and chain are
    `trained`; `target` the label column its training frame holds), with a note;
    None with a note saying why."""
    found = _reference(planner, fit, trained, target)
    if isinstance(found, str):
        planner.p.notes.append(none_note(found))
        return None
    return found


def _reference(
    planner: TracedPlanner,
    fit: Fit,
    trained: tuple[Fit, Chain] | None,
    target: str | None,
) -> NewCell | str:
    why = _why_none(planner, fit, trained)
    if why is not None:
        return why
    assert trained is not None  # _why_none says why when it is None
    trained_fit, chain = trained
    scan = planner.scan
    base = base_name(chain.raw)
    assert base is not None
    test, split = held_out(scan, chain)
    value = ast.unparse(chain.raw)
    origin = split or scan.binding(base.id, chain.pos)
    note = _note(planner, fit, trained_fit, value, test, split, target)
    since = origin.pos if origin is not None else 0
    if origin is not None and changed_after(scan, base.id, since):
        if not all(
            scan.binding(n, origin.pos + 1) is not None
            for n in free_names(value) - {base.id}
        ):
            return (
                f"the notebook changes {base.id} after {cell_no(origin.cell)}, and "
                f"{value} cannot be taken there"
            )
        planner.p.notes.append(
            f"{note}; taken right after {cell_no(origin.cell)}, before the notebook "
            "changes them"
        )
        return rows_cell("reference", value, Role.REFERENCE, "reference", origin.cell)
    planner.p.notes.append(note)
    return rows_cell("reference", value, Role.REFERENCE, "reference")


def _why_none(
    planner: TracedPlanner, fit: Fit, trained: tuple[Fit, Chain] | None
) -> str | None:
    """Why no reference is proposed for the served `fit`; None when one is."""
    scan = planner.scan
    if planner.forecasting:
        return "a forecasting model takes a horizon, not rows to profile"
    if trained is None:
        return (
            f"'{fit.obj}' is fitted where tag cannot follow its training rows "
            "(inside a function, or by a formula)"
        )
    trained_fit, chain = trained
    if fit.site == "use" and fit.pos != trained_fit.pos:
        return (
            f"the service takes the rows the notebook scores in {cell_no(fit.cell)} "
            "and cleans them as the notebook does; tag cannot follow the training "
            "rows back to that shape"
        )
    if scan.binding("reference") is not None:
        return "the notebook already uses the name 'reference'"
    base = base_name(chain.raw)
    if base is None or isinstance(chain.raw, ast.List | ast.Tuple | ast.Dict):
        return (
            f"'{fit.obj}' is fitted on {ast.unparse(chain.raw)}, not on rows the "
            "notebook names"
        )
    if _HELD_OUT_WORDS & set(base.id.lower().split("_")):
        return f"'{fit.obj}' is fitted on {base.id}, which looks like held-out rows"
    test, _ = held_out(scan, chain)
    if planner.trace is None and test is None:
        return (
            "with --static tag cannot tell that "
            f"{ast.unparse(chain.raw)} are the rows the model is trained on (no "
            "training split in the code)"
        )
    return None


def _note(
    planner: TracedPlanner,
    fit: Fit,
    trained_fit: Fit,
    value: str,
    test: str | None,
    split: Binding | None,
    target: str | None,
) -> str:
    """What the proposal's note says of the reference: whose rows, how many, where."""
    note = (
        f"reference: {value}, the raw rows '{fit.obj}' is trained on in "
        f"{cell_no(trained_fit.cell)}"
    )
    traced = planner.choice.fit if planner.choice is not None else None
    if traced is not None and traced.x is not None and traced.x.rows is not None:
        note += f" ({traced.x.rows} rows)"
    if split is not None and test is not None:
        note += (
            f", the training half of train_test_split in {cell_no(split.cell)} "
            f"(the example comes from {test})"
        )
    if target is not None:
        note += (
            f"; its label column {target!r} is not a service input: build leaves it "
            "out of the profile (NB603)"
        )
    return note + (
        "; build profiles it for the service's drift monitoring (/monitoring/drift)"
    )
