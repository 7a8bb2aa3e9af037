"""Which model to serve, and how its input is made: the data-flow half of `tag`.

Reads a NotebookScan; returns facts (the picked fit, the chain of steps from raw data
to the model's input, the held-out rows). Raises TagError when there is no model.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nb2svc.analysis import cell_names
from nb2svc.errors import Diagnostic, Location, Severity
from nb2svc.model import RawNotebook
from nb2svc.tag.kinds import kind_of
from nb2svc.tag.scan import Binding, Fit, NotebookScan, call_name

if TYPE_CHECKING:
    from nb2svc.tag.cleaning import Cleaning

BUILTIN_NAMES = frozenset(dir(builtins)) | {"__name__", "__file__", "display"}
_SPLITTERS = ("train_test_split",)
#: Library containers a model's input is wrapped in (xgboost's native API).
_WRAPPERS = ("DMatrix",)
_HELD_OUT = (("train", "test"), ("train", "val"), ("train", "valid"), ("trn", "tst"))


@dataclass(frozen=True)
class Step:
    #: "call" f(x) | "transform" t.transform(x) | "map" [f(v) for v in x] |
    #: "expr": the notebook's expression over x (its text is `name`)
    kind: str
    name: str


@dataclass(frozen=True)
class Chain:
    raw: ast.expr  # what the steps start from, as the notebook trained
    steps: tuple[Step, ...]
    pos: int  # statement position where `raw` is read
    #: the notebook's in-place cleaning of a copy of `raw`, before the steps
    cleaning: Cleaning | None = None

    @property
    def cleans(self) -> int:
        """How much of the notebook's own cleaning the chain follows."""
        return len(self.steps) + (1 if self.cleaning is not None else 0)


class TagError(Exception):
    """The notebook gives tag nothing to work with (no model fit, say)."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def diag(
    nb: RawNotebook,
    message: str,
    hint: str | None,
    code: str,
    cell: int | None = None,
    line: int | None = None,
    severity: Severity = Severity.WARNING,
) -> Diagnostic:
    location = (
        nb.cells[cell].location(nb.name, line)
        if cell is not None
        else Location(nb.name)
    )
    return Diagnostic(severity, location, message, hint, code)


def cell_no(index: int) -> str:
    return f"cell {index + 1}"


def free_names(code: str) -> set[str]:
    """Module-level names that code reads without binding them (functions included)."""
    return cell_names(code)[1] - BUILTIN_NAMES


# --- choosing the model ------------------------------------------------------------


def _full_slice(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Slice) and expr.lower is None and expr.upper is None


def column_subset(
    scan: NotebookScan, expr: ast.expr | None, pos: int, depth: int = 0
) -> bool:
    """Is this fit input a selection of some columns of a larger feature set?"""
    if expr is None or depth > 10:
        return False
    if isinstance(expr, ast.Subscript):
        key = expr.slice
        if isinstance(key, ast.Tuple) and len(key.elts) == 2:  # .iloc[:, :2], a[:, :2]
            return not _full_slice(key.elts[1])
        if isinstance(expr.value, ast.Attribute) and expr.value.attr in ("loc", "iloc"):
            return False  # rows only
        return isinstance(key, ast.List | ast.Name | ast.Constant | ast.Subscript)
    if isinstance(expr, ast.Name):
        b = scan.binding(expr.id, pos)
        if b is not None and b.value is not None and b.index is None:
            return column_subset(scan, b.value, b.pos, depth + 1)
        return False
    if isinstance(expr, ast.Call) and expr.args:
        return column_subset(scan, expr.args[0], pos, depth + 1)
    return False


def _describe(fit: Fit, scan: NotebookScan) -> str:
    what = f"'{fit.obj}' ({cell_no(fit.cell)}"
    if fit.ctor:
        what += f", {fit.ctor}"
    if fit.x is not None and column_subset(scan, fit.x, fit.pos):
        what += f", on a column subset: {ast.unparse(fit.x)}"
    return what + ")"


def pick_model(scan: NotebookScan, wanted: str | None = None) -> tuple[Fit, str]:
    """The fit to serve and a note saying which one and why (`tag --static`)."""
    models = [f for f in scan.fits if not f.transformer and f.supervised]
    if not models:
        models = [f for f in scan.fits if not f.transformer]
    if wanted is not None:
        named = [f for f in scan.fits if f.obj == wanted]
        if not named:
            fitted = sorted({f.obj for f in models})
            raise TagError(
                diag(
                    scan.nb,
                    f"--model {wanted}: no top-level '{wanted}.fit(...)' in the "
                    "notebook; models fitted: " + (", ".join(fitted) or "none"),
                    "name one of the models fitted",
                    "NB1209",
                    severity=Severity.ERROR,
                )
            )
        picked = named[-1]
        return picked, f"model: picked {_describe(picked, scan)}, named with --model"
    if not models:
        raise TagError(
            diag(
                scan.nb,
                "no model is fitted in this notebook (no top-level '<model>.fit(X, y)' "
                "call), so there is nothing to serve",
                "fit the model at the top level of a cell (not inside a loop or a "
                "function), or mark the cells by hand",
                "NB1200",
                severity=Severity.ERROR,
            )
        )
    full = [f for f in models if not column_subset(scan, f.x, f.pos)]
    pool = full or models
    saved = {s.obj for s in scan.saves}
    saved_fits = [f for f in pool if f.obj in saved]
    if saved_fits:
        picked, why = saved_fits[-1], "the model the notebook saves"
    else:
        picked = pool[-1]
        why = (
            "the last one fitted, not on a column subset (read from the code, "
            "not run)"
            if len(models) > 1 and full
            else "the last one fitted"
        )
    note = f"model: picked {_describe(picked, scan)}, {why}"
    others = [f for f in models if f is not picked]
    if others:
        note += "; also fitted: " + ", ".join(_describe(f, scan) for f in others)
    return picked, note


# --- the model's inputs ------------------------------------------------------------


def _call_step(
    scan: NotebookScan, expr: ast.expr, pos: int
) -> tuple[Step, ast.expr] | None:
    """f(x), t.transform(x), x.map(f): the step and the data it reads."""
    if not (isinstance(expr, ast.Call) and len(expr.args) == 1 and not expr.keywords):
        return None
    func, arg = expr.func, expr.args[0]
    if isinstance(func, ast.Name) and scan.defined_function(func.id, pos):
        return Step("call", func.id), arg
    if (
        isinstance(func, ast.Attribute)
        and func.attr in ("transform", "fit_transform")
        and isinstance(func.value, ast.Name)
    ):
        return Step("transform", func.value.id), arg
    if (
        isinstance(func, ast.Attribute)
        and func.attr in ("apply", "map")
        and isinstance(arg, ast.Name)
        and scan.defined_function(arg.id, pos)
        and kind_of(scan, func.value, pos) in ("series", "text", None)
    ):
        return Step("map", arg.id), func.value
    return None


def resolve_chain(
    scan: NotebookScan, expr: ast.expr, pos: int, depth: int = 0
) -> Chain:
    """Follow the model's input back to the data it starts from, step by step."""
    if depth > 12:
        return Chain(expr, (), pos)
    if (
        isinstance(expr, ast.Call)
        and expr.args
        and isinstance(expr.func, ast.Attribute | ast.Name)
        and (getattr(expr.func, "attr", None) or getattr(expr.func, "id", None))
        in _WRAPPERS
    ):
        # xgb.DMatrix(X_test, label=y_test): the service wraps the raw rows itself
        inner = resolve_chain(scan, expr.args[0], pos, depth + 1)
        wrap = Step("call", ast.unparse(expr.func))
        return Chain(inner.raw, (*inner.steps, wrap), inner.pos)
    found = _call_step(scan, expr, pos)
    if found is not None:
        step, source = found
        inner = resolve_chain(scan, source, pos, depth + 1)
        return Chain(inner.raw, (*inner.steps, step), inner.pos)
    if isinstance(expr, ast.ListComp) and len(expr.generators) == 1:
        gen, elt = expr.generators[0], expr.elt
        if (
            isinstance(elt, ast.Call)
            and isinstance(elt.func, ast.Name)
            and len(elt.args) == 1
            and isinstance(elt.args[0], ast.Name)
            and isinstance(gen.target, ast.Name)
            and elt.args[0].id == gen.target.id
            and not gen.ifs
            and scan.defined_function(elt.func.id, pos)
        ):
            inner = resolve_chain(scan, gen.iter, pos, depth + 1)
            return Chain(inner.raw, (*inner.steps, Step("map", elt.func.id)), inner.pos)
    if isinstance(expr, ast.Name):
        b = scan.binding(expr.id, pos)
        if b is not None and b.value is not None and b.index is None:
            inner = resolve_chain(scan, b.value, b.pos, depth + 1)
            if inner.steps:
                return inner
    return Chain(expr, (), pos)


def base_name(expr: ast.expr) -> ast.Name | None:
    while isinstance(expr, ast.Subscript | ast.Attribute):
        expr = expr.value
    return expr if isinstance(expr, ast.Name) else None


def held_out(scan: NotebookScan, chain: Chain) -> tuple[str | None, Binding | None]:
    """The held-out counterpart of the raw training input, and the split that made it."""
    base = base_name(chain.raw)
    if base is None:
        return None, None
    b = scan.binding(base.id, chain.pos)
    if (
        b is not None
        and b.index is not None
        and b.value is not None
        and call_name(b.value) in _SPLITTERS
        and b.index % 2 == 0
        and b.index + 1 < len(b.targets)
    ):
        return b.targets[b.index + 1], b
    for train, test in _HELD_OUT:
        for a, c in (
            (train, test),
            (train.upper(), test.upper()),
            (train.title(), test.title()),
        ):
            if a in base.id:
                candidate = base.id.replace(a, c)
                if scan.binding(candidate) is not None:
                    return candidate, None
    return None, None


def _touches(node: ast.AST, name: str) -> bool:
    """An in-place change of `name`: name[...] = ..., name.x += ..., inplace=True."""
    if isinstance(node, ast.Assign | ast.AugAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(
            isinstance(t, ast.Subscript | ast.Attribute)
            and (b := base_name(t)) is not None
            and b.id == name
            for t in targets
        )
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == name
        and any(
            k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value
            for k in node.keywords
        )
    )


def changed_by(stmt: ast.stmt, name: str) -> bool:
    """Does the statement change `name` in place (a loop doing so included)?"""
    return any(_touches(node, name) for node in ast.walk(stmt))


def changed_after(scan: NotebookScan, name: str, pos: int) -> bool:
    """Is `name` rebound or changed in place after statement `pos`?"""
    if any(b.pos > pos for b in scan.bindings.get(name, [])):
        return True
    return any(changed_by(stmt, name) for _, p, stmt, _ in scan.statements if p > pos)
