"""The notebook's own classes and functions inside the model `tag` serves (issue 13).

A model that holds a custom transformer or a FunctionTransformer over a notebook
function is pickled as references to ``__main__.<name>``. Build exports the cells that
define them (``helpers``) and the generated service resolves those references to its
own copies (``nb2svc.definitions``), so tag marks the definitions, and what they use,
as the service needs them. What pickle cannot save by name is refused (NB1207): a
lambda, or a function or class defined inside another function.
"""

from __future__ import annotations

from collections.abc import Iterable

from nb2svc.errors import Severity
from nb2svc.tag.cells import CellPlanner
from nb2svc.tag.flow import cell_no, diag


def unpicklable(qualnames: Iterable[str]) -> list[str]:
    """The names pickle cannot save by reference: lambdas and nested definitions."""
    return sorted({q for q in qualnames if "<" in q})


def describe(qualname: str) -> str:
    if qualname.endswith("<lambda>"):
        return "a lambda"
    return f"'{qualname.replace('.<locals>.', ' → ')}' (defined inside a function)"


def export_definitions(
    planner: CellPlanner,
    holder: str,
    qualnames: Iterable[str],
    cell: int | None,
    line: int | None = None,
) -> None:
    """Mark the cells defining what ``holder`` refers to as ``__main__.<name>``, or
    refuse (NB1207) when one of them cannot be saved by name."""
    qualnames = sorted(set(qualnames))
    if not qualnames:
        return
    bad = unpicklable(qualnames)
    if bad and any(d.code == "NB1207" for d in planner.p.diagnostics):
        return  # said already
    if bad:
        what = ", ".join(describe(q) for q in bad)
        planner.p.diagnostics.append(
            diag(
                planner.nb,
                f"'{holder}' holds {what}: pickle saves the notebook's functions and "
                "classes by name, and this one has no name the service could import, "
                "so its saved copy cannot be loaded",
                "define it with 'def' at the top level of a cell (e.g. "
                "FunctionTransformer(clean_text), not FunctionTransformer(lambda t: "
                "...)), then run tag again",
                "NB1207",
                cell,
                line,
                Severity.ERROR,
            )
        )
        return
    names = {q.split(".")[0] for q in qualnames}
    already = set(planner.needs.defs)
    planner.need(names)
    added = sorted(n for n in names if n in planner.needs.defs and n not in already)
    if added:
        planner.p.notes.append(
            f"helpers: '{holder}'"
            + (f" ({cell_no(cell)})" if cell is not None else "")
            + f" refers to {', '.join(added)} as __main__.<name>: build exports "
            "their definitions and the service loads the model with them"
        )
