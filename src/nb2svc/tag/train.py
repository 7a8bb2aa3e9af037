"""`tag` proposes `train` for the cells that build the served model from data.

From the fit of the model tag serves, it follows what that fit reads back through the
notebook's cells (the cells binding the data, the features and the split) and adds
the cells that save the model's artifacts: those cells are `train`. The training
data's path becomes a config constant (`TRAIN_PATH = "customers.csv"`, the literal
the notebook reads replaced by the name), the marker names it (`data=TRAIN_PATH`),
the held-out split the example comes from (`holdout=X_test,y_test`) and the metric
the notebook scores that split with (`metric=roc_auc_score`), if it has one.

Nothing is proposed, with a note saying why, when the data is not read from one file
(made in the notebook, or a library's bundled data set), when there is no held-out
split, or when a cell the training needs is already marked for the service.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from nb2svc.analysis import normalise_artifact
from nb2svc.model import Role
from nb2svc.tag.flow import BUILTIN_NAMES, Chain, base_name, cell_no, held_out
from nb2svc.tag.proposal import NewCell, is_literal, quote
from nb2svc.tag.scan import Binding, Fit, call_name, constant_str

if TYPE_CHECKING:
    from nb2svc.tag.cells import CellPlanner

#: Calls that read a data file from the path in their first argument.
_READERS = ("loadtxt", "genfromtxt", "read_svmlight_file")
_PATH_NAMES = ("TRAIN_PATH", "TRAINING_DATA_PATH")


@dataclass(frozen=True)
class _Read:
    cell: int
    node: ast.Constant
    path: str


def _reads(planner: CellPlanner, cells: set[int]) -> list[_Read]:
    """Calls in ``cells`` that read a file named by a string literal."""
    found = []
    for cell in sorted(cells):
        tree = planner.scan.cells[cell].tree
        assert tree is not None
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else call_name(node)
            first = node.args[0]
            path = constant_str(first)
            if (
                name
                and (name.startswith("read_") or name in _READERS)
                and path is not None
                and isinstance(first, ast.Constant)
                and first.lineno == first.end_lineno
            ):
                found.append(_Read(cell, first, path))
    return found


def _first_pos(planner: CellPlanner, cell: int) -> int:
    return min((p for c, p, _, _ in planner.scan.statements if c == cell), default=0)


def _closure(planner: CellPlanner, start: set[int]) -> tuple[set[int], set[str]]:
    """The cells the training needs: ``start`` and every cell binding a value
    (not an import, definition or literal) that one of them reads; and the names
    the service's cells must provide them (imports, definitions, literals)."""
    from nb2svc.tag.flow import free_names

    cells, exported, work = set(start), set(), sorted(start)
    while work:
        cell = work.pop(0)
        source = planner.scan.cells[cell].code
        for name in sorted(free_names(source) - BUILTIN_NAMES):
            b: Binding | None = planner.scan.binding(name, _first_pos(planner, cell))
            if b is None:
                b = planner.scan.binding(name)  # bound later in the same cell
                if b is None or b.cell != cell:
                    exported.add(name)  # reported missing by the planner
                continue
            if b.cell == cell:
                continue
            if b.kind in ("import", "def", "class") or (
                b.kind == "assign" and b.index is None and is_literal(b.value)
            ):
                exported.add(name)
            elif b.cell not in cells:
                cells.add(b.cell)
                work.append(b.cell)
    return cells, exported


def _labels(planner: CellPlanner, fit: Fit, split: Binding | None) -> str | None:
    """The held-out labels: y_test beside y_train in the split's targets."""
    if fit.y is None:
        return None
    base = base_name(fit.y)
    if base is None:
        return None
    if split is not None and base.id in split.targets:
        index = split.targets.index(base.id)
        if index % 2 == 0 and index + 1 < len(split.targets):
            return split.targets[index + 1]
    for train, test in (("train", "test"), ("train", "val"), ("train", "valid")):
        if train in base.id and planner.scan.binding(base.id.replace(train, test)):
            return base.id.replace(train, test)
    return None


def _metric(planner: CellPlanner, labels: str) -> str | None:
    """The first sklearn.metrics function the notebook calls on the held-out
    labels."""
    for _, _, stmt, _ in planner.scan.statements:
        for node in ast.walk(stmt):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Name) and first.id == labels):
                continue
            b = planner.scan.binding(node.func.id)
            if (
                b is not None
                and b.import_line is not None
                and b.import_line[0] == "sklearn.metrics"
            ):
                return node.func.id
    return None


def _replace_literal(source: str, node: ast.Constant, name: str) -> str:
    lines = source.splitlines(keepends=True)
    raw = lines[node.lineno - 1].encode()
    assert node.end_col_offset is not None
    new = raw[: node.col_offset] + name.encode() + raw[node.end_col_offset :]
    lines[node.lineno - 1] = new.decode()
    return "".join(lines)


def propose_train(planner: CellPlanner, fit: Fit, chain: Chain) -> None:
    """Mark the cells that fit the served model from data `train` (with the data
    path as a config constant), or note why not."""
    why = _propose(planner, fit, chain)
    if why is not None:
        planner.p.notes.append(
            f"train: not proposed: {why}; mark the cells that fit the model "
            "'# nb2svc: train data=TRAIN_PATH holdout=X_test,y_test' by hand to "
            "let the service retrain"
        )


def _propose(planner: CellPlanner, fit: Fit, chain: Chain) -> str | None:
    """Mark the train cells, or say why not."""
    p, scan = planner.p, planner.scan
    if fit.site != "fit":
        return "the model is fitted inside a function tag does not follow"
    saves = {
        s.cell
        for s in scan.saves
        if normalise_artifact(s.path) in planner.artifacts and s.pos > fit.pos
    }
    cells, exported = _closure(planner, {fit.cell, *saves})
    taken = sorted(c for c in cells if c in p.marks or c in planner.extract)
    if taken:
        return (
            f"{cell_no(taken[0])}, which the training needs, is marked for the service"
        )
    if any(scan.cells[c].magics or c in planner.secret_cells for c in cells):
        return "a cell the training needs holds IPython magics or a possible secret"
    reads = _reads(planner, cells)
    if len({r.path for r in reads}) != 1:
        return (
            "the training data is not read from one file (made in the notebook, or "
            "a library's data set)"
            if not reads
            else "the training reads several files"
        )
    test, split = held_out(scan, chain)
    labels = _labels(planner, fit, split)
    if test is None or labels is None:
        return "no held-out split of the training data to compare models on"
    metric = _metric(planner, labels)
    constant = _mark(planner, cells, reads, f"holdout={test},{labels}", metric)
    planner.need(exported)
    planner.p.notes.append(
        "train: "
        + ", ".join(cell_no(c) for c in sorted(cells))
        + f" fit '{fit.obj}' from {reads[0].path}, now the config constant "
        f"{constant}: 'python -m <service> retrain --data NEW' reruns them"
    )
    return None


def _mark(
    planner: CellPlanner,
    cells: set[int],
    reads: list[_Read],
    holdout: str,
    metric: str | None,
) -> str:
    """The config constant for the data path (returned), the literal the notebook
    read replaced by it, and the train markers."""
    p, scan = planner.p, planner.scan
    constant = next(n for n in _PATH_NAMES if scan.binding(n) is None)
    for read in reads:
        source = p.replace.get(read.cell, scan.cells[read.cell].source)
        p.replace[read.cell] = _replace_literal(source, read.node, constant)
    first = min(cells)
    p.inserts.append(
        NewCell(
            "before",
            first,
            f"{constant} = {quote(reads[0].path)}",
            Role.CONFIG,
            key="train-data",
            order=1,
        )
    )
    for cell in sorted(cells):
        p.marks[cell] = Role.TRAIN
    p.mark_options[first] = f"data={constant} {holdout}" + (
        f" metric={metric}" if metric else ""
    )
    for index, new in enumerate(p.inserts):  # the model's new save cell trains too
        if new.key.startswith("save-") and new.anchor in cells and new.role is None:
            p.inserts[index] = replace(new, role=Role.TRAIN)
    p.notes[:] = [n for n in p.notes if not n.startswith("training: ")]
    return constant
