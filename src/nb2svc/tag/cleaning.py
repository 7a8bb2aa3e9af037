"""The notebook's own cleaning of new data, and what it does after the model.

Before the model: the rows the notebook scores are often a copy of raw data changed in
place by a few statements (a label-encoding loop, `p[num_cols] = scaler.transform(...)`,
categories cast with `pd.Categorical`). Those statements are the service's preprocess,
and the data before them its raw input.

After the model: a decision threshold applied to its probabilities
(`(model.predict_proba(X)[:, 1] > THRESHOLD).astype(int)`, or `proba >= 0.35` on the
result) is the service's postprocess, with the threshold a config setting.

Reads a NotebookScan; returns facts. Nothing here runs the notebook.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from nb2svc.tag.flow import Chain, Step, base_name, changed_by
from nb2svc.tag.proposal import scalar_literal, stmt_lines
from nb2svc.tag.scan import ModelCall, NotebookScan

#: Functions whose arguments are an evaluation: probabilities fed to them are what the
#: notebook judges the model by.
_METRIC = re.compile(r"(auc|score|loss|curve|brier|calibration|precision|recall)")
_COMPARISONS = (ast.Gt, ast.GtE, ast.Lt, ast.LtE)


@dataclass(frozen=True)
class Cleaning:
    """`var = <raw>.copy()` then statements changing `var` in place, before the model."""

    var: str
    start: ast.expr  # the value `var` is bound to, over the raw data
    raw: ast.Name  # the raw data itself (the request)
    sources: tuple[
        str, ...
    ]  # the statements that change `var`, as the notebook has them
    cells: tuple[int, ...]  # where those statements are


@dataclass(frozen=True)
class Threshold:
    """A comparison of the model's output with a threshold, after the model."""

    expr: (
        ast.expr
    )  # the expression over the model's output, e.g. (proba > T).astype(int)
    output: str  # the name `expr` reads the model's output from
    name: str | None  # the threshold's config name, if the notebook has one
    value: float | None  # the threshold, when the notebook writes it as a number
    cell: int


def _statement_source(scan: NotebookScan, cell: int, stmt: ast.stmt) -> str:
    start, end = stmt_lines(stmt)
    return "\n".join(scan.cells[cell].code.splitlines()[start - 1 : end])


def _raw_of(value: ast.expr) -> ast.Name | None:
    """`person` for `person.copy()` or `person`; None for anything else."""
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "copy"
        and not value.args
        and not value.keywords
    ):
        value = value.func.value
    return value if isinstance(value, ast.Name) else None


def inplace_cleaning(scan: NotebookScan, name: str, pos: int) -> Cleaning | None:
    """The statements that change `name` in place between its binding and statement
    `pos` (where the model reads it), when it is bound to a copy of other data."""
    b = scan.binding(name, pos)
    if b is None or b.value is None or b.index is not None or not b.top_level:
        return None
    raw = _raw_of(b.value)
    if raw is None or raw.id == name:
        return None
    found = [
        (cell, stmt)
        for cell, p, stmt, top in scan.statements
        if top and b.pos < p < pos and changed_by(stmt, name)
    ]
    if not found:
        return None
    return Cleaning(
        name,
        b.value,
        raw,
        tuple(_statement_source(scan, cell, stmt) for cell, stmt in found),
        tuple(sorted({cell for cell, _ in found})),
    )


def with_cleaning(scan: NotebookScan, chain: Chain) -> Chain:
    """The chain followed further back, through the notebook's own cleaning of the
    data it scores: an expression over it (one-hot encoding reindexed to the training
    columns), then in-place changes of a copy."""
    chain = _through_expression(scan, chain)
    if chain.cleaning is not None or not isinstance(chain.raw, ast.Name):
        return chain
    cleaning = inplace_cleaning(scan, chain.raw.id, chain.pos)
    if cleaning is None:
        return chain
    return replace(chain, raw=cleaning.raw, cleaning=cleaning)


def _data_argument(expr: ast.expr) -> ast.Name | None:
    """`new` in pd.get_dummies(new, dtype=float).reindex(columns=cols): the first
    argument of the innermost call of a method chain."""
    inner: ast.expr = expr
    found: ast.Name | None = None
    while isinstance(inner, ast.Call):
        if inner.args and isinstance(inner.args[0], ast.Name):
            found = inner.args[0]
        func = inner.func
        if not isinstance(func, ast.Attribute):
            break
        inner = func.value
    return found


def _through_expression(scan: NotebookScan, chain: Chain) -> Chain:
    """`X_new = pd.get_dummies(new_users, ...).reindex(...)` before the model: the
    expression is a step (over `x`), and the chain starts from `new_users`."""
    if chain.cleaning is not None or not isinstance(chain.raw, ast.Name):
        return chain
    b = scan.binding(chain.raw.id, chain.pos)
    if b is None or b.value is None or b.index is not None or not b.top_level:
        return chain
    data = _data_argument(b.value)
    if data is None or data.id == chain.raw.id:
        return chain
    source = scan.binding(data.id, b.pos)
    if source is None or source.kind != "assign":
        return chain  # a module, a function or a class: no data to start from
    step = Step("expr", ast.unparse(rename(b.value, data.id, "x")))
    return replace(chain, raw=data, steps=(step, *chain.steps), pos=b.pos)


def rename(expr: ast.expr, old: str, new: str) -> ast.expr:
    """A copy of `expr` with the name `old` read as `new`."""

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.Name:
            return ast.Name(new, node.ctx) if node.id == old else node

    copied = ast.parse(ast.unparse(expr), mode="eval").body
    renamed = Rename().visit(copied)
    assert isinstance(renamed, ast.expr)
    return renamed


def _is_model_call(node: ast.AST, call: ModelCall) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == call.method
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == call.obj
    )


def _output_of(node: ast.expr, call: ModelCall) -> bool:
    """Is `node` the model's call, or its call with the notebook's subscript?"""
    if _is_model_call(node, call):
        return call.subscript is None
    return (
        isinstance(node, ast.Subscript)
        and _is_model_call(node.value, call)
        and call.subscript is not None
        and ast.unparse(node).endswith(call.subscript)
    )


def _threshold_side(
    scan: NotebookScan, node: ast.expr, pos: int
) -> tuple[str | None, float | None] | None:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return None, float(node.value)
    if isinstance(node, ast.Name):
        b = scan.binding(node.id, pos)
        if b is not None and b.kind == "assign" and scalar_literal(b.value):
            assert b.value is not None
            value = ast.literal_eval(b.value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return node.id, None
    return None


def _decision(
    scan: NotebookScan,
    stmt: ast.stmt,
    pos: int,
    is_output: Callable[[ast.expr], bool],
    output: str,
) -> tuple[ast.expr, str | None, float | None] | None:
    """The outermost expression of `stmt` that compares the model's output with a
    threshold (with a cast around it kept), rewritten over the name `output`."""
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(stmt):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    for node in ast.walk(stmt):
        if not (
            isinstance(node, ast.Compare)
            and len(node.ops) == 1
            and isinstance(node.ops[0], _COMPARISONS)
        ):
            continue
        left, right = node.left, node.comparators[0]
        if not is_output(left):
            continue
        side = _threshold_side(scan, right, pos)
        if side is None:
            continue
        top: ast.expr = node
        parent = parents.get(id(top))
        # (proba > t).astype(int): keep the cast the notebook applies
        if (
            isinstance(parent, ast.Attribute)
            and parent.attr == "astype"
            and isinstance(grand := parents.get(id(parent)), ast.Call)
        ):
            top = grand
        replaced = _replace_output(top, is_output, output)
        return replaced, side[0], side[1]
    return None


def _replace_output(
    expr: ast.expr, is_output: Callable[[ast.expr], bool], output: str
) -> ast.expr:
    class Swap(ast.NodeTransformer):
        def visit(self, node: ast.AST) -> ast.AST:
            if isinstance(node, ast.expr) and is_output(node):
                return ast.Name(output, ast.Load())
            result: ast.AST = super().visit(node)
            return result

    copied = ast.parse(ast.unparse(expr), mode="eval").body
    swapped = Swap().visit(copied)
    assert isinstance(swapped, ast.expr)
    return swapped


def decision_threshold(
    scan: NotebookScan, call: ModelCall, output: str
) -> Threshold | None:
    """A threshold the notebook applies to the model's output: in the statement that
    calls the model, or in a later one that reads the name the output is bound to."""
    stmt = next(st for _, p, st, _ in scan.statements if p == call.pos)
    found = _decision(scan, stmt, call.pos, lambda n: _output_of(n, call), output)
    if found is not None:
        return Threshold(found[0], output, found[1], found[2], call.cell)
    if not (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and _output_of(stmt.value, call)
    ):
        return None
    bound = stmt.targets[0].id

    def reads_bound(node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id == bound

    for cell, p, later, top in scan.statements:
        if p <= call.pos or not top:
            continue
        b = scan.binding(bound, p)
        if b is None or b.pos != call.pos:
            break  # rebound: what follows reads something else
        found = _decision(scan, later, p, reads_bound, output)
        if found is not None:
            return Threshold(found[0], output, found[1], found[2], cell)
    return None


def evaluates_probabilities(
    scan: NotebookScan, obj: str, after: int
) -> ModelCall | None:
    """The notebook's last top-level predict_proba of `obj` (after statement `after`)
    whose result a metric reads (roc_auc_score(y, proba), precision_recall_curve)."""
    found = None
    for call in scan.calls:
        if call.obj != obj or call.method != "predict_proba" or call.pos <= after:
            continue
        stmt = next(st for _, p, st, _ in scan.statements if p == call.pos)
        names = {call_name_of(n) for n in ast.walk(stmt) if isinstance(n, ast.Call)}
        if any(n and _METRIC.search(n.lower()) for n in names):
            found = call
            continue
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, ast.Name) and _read_by_metric(scan, target.id, call):
                found = call
    return found


def call_name_of(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _read_by_metric(scan: NotebookScan, name: str, call: ModelCall) -> bool:
    for _, p, stmt, _ in scan.statements:
        if p <= call.pos:
            continue
        b = scan.binding(name, p)
        if b is None or b.pos != call.pos:
            return False
        for node in ast.walk(stmt):
            if (
                isinstance(node, ast.Call)
                and (n := call_name_of(node)) is not None
                and _METRIC.search(n.lower())
                and any(
                    (bn := base_name(a)) is not None and bn.id == name
                    for a in node.args
                )
            ):
                return True
    return False
