"""Static facts about an unmarked notebook: who binds what, where models are fitted and
saved, how their inputs are built, and what kind of data flows in.

Everything is read in notebook order (the order a fresh run uses), from the statements
that run at the top level of each cell (inside `with`, `if` and `try` too, but not in
loops or function bodies). Nothing is executed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from nb2svc.lint.pysource import PyCell, parse_cell
from nb2svc.model import RawNotebook

#: Estimator classes that transform features rather than predict.
_TRANSFORMER = re.compile(
    r"(Scaler|Encoder|Vectorizer|Imputer|Transformer|PCA|SVD|NMF|Selector|SelectKBest|"
    r"SelectFromModel|Binarizer|Discretizer|Normalizer|Tokenizer|PolynomialFeatures|"
    r"FeatureHasher|DictVectorizer|LabelEncoder|TSNE|UMAP|Isomap)$"
)
PREDICT_METHODS = ("predict_proba", "predict", "decision_function", "predict_log_proba")


@dataclass(frozen=True)
class Binding:
    """One statement that binds a name at the top level of a cell."""

    name: str
    cell: int
    pos: int  # global statement order
    kind: str  # import | def | class | assign | other
    stmt: ast.stmt
    value: ast.expr | None = None  # the right-hand side of `name = value`
    index: int | None = None  # position in a tuple target: a, b = value
    targets: tuple[str, ...] = ()  # every name of a tuple target, in order
    import_line: tuple[str, str, str | None] | None = None  # (module, name, asname)
    top_level: bool = True  # directly in the cell's body (not inside with/if/try)


@dataclass(frozen=True)
class Fit:
    obj: str  # the name the fitted object is bound to
    cell: int
    pos: int
    stmt: ast.stmt
    x: ast.expr | None
    y: ast.expr | None
    ctor: str | None  # class or factory the object was built with, if seen
    #: "fit": x is the fit's input; "use": the model is fitted where tag cannot
    #: follow (inside a notebook function), and x is the input of a later call.
    site: str = "fit"

    @property
    def supervised(self) -> bool:
        return self.y is not None

    @property
    def transformer(self) -> bool:
        return bool(self.ctor and _TRANSFORMER.search(self.ctor))


@dataclass(frozen=True)
class Save:
    obj: str
    cell: int
    pos: int
    path: str
    fmt: str  # joblib | pickle


@dataclass(frozen=True)
class ModelCall:
    obj: str
    cell: int
    pos: int
    method: str
    subscript: str | None  # "[:, 1]" for model.predict_proba(X)[:, 1]
    arg: ast.expr | None = None  # the data it is called on
    options: str = ""  # its keyword arguments: "num_iteration=gbm.best_iteration"
    top_level: bool = True  # in a statement at a cell's top level


@dataclass
class NotebookScan:
    nb: RawNotebook
    cells: dict[int, PyCell]
    statements: list[tuple[int, int, ast.stmt, bool]] = field(default_factory=list)
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    fits: list[Fit] = field(default_factory=list)
    saves: list[Save] = field(default_factory=list)
    calls: list[ModelCall] = field(default_factory=list)

    # --- lookups ---------------------------------------------------------------

    def binding(self, name: str, before: int | None = None) -> Binding | None:
        """The binding of `name` in force just before statement `before` (or at the end)."""
        found = None
        for b in self.bindings.get(name, []):
            if before is not None and b.pos >= before:
                break
            found = b
        return found

    def defined_function(self, name: str, before: int | None = None) -> bool:
        b = self.binding(name, before)
        return b is not None and b.kind == "def"

    def ctor_of(self, name: str, before: int | None = None) -> str | None:
        b = self.binding(name, before)
        if b is None or b.value is None or b.index is not None:
            return None
        return call_name(b.value)


def call_name(expr: ast.expr | None) -> str | None:
    """`f` for f(...), `C` for mod.C(...), the estimator for C(...).fit(...)."""
    if not isinstance(expr, ast.Call):
        return None
    func = expr.func
    if isinstance(func, ast.Attribute) and func.attr in ("fit", "set_params"):
        return call_name(func.value)
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _flatten(body: list[ast.stmt], top: bool = True) -> Iterator[tuple[ast.stmt, bool]]:
    """Statements that run when the cell runs (with/if/try bodies included)."""
    for stmt in body:
        yield stmt, top
        if isinstance(stmt, ast.With | ast.AsyncWith):
            yield from _flatten(stmt.body, False)
        elif isinstance(stmt, ast.If):
            yield from _flatten(stmt.body, False)
            yield from _flatten(stmt.orelse, False)
        elif isinstance(stmt, ast.Try):
            yield from _flatten(stmt.body, False)
            for handler in stmt.handlers:
                yield from _flatten(handler.body, False)
            yield from _flatten(stmt.orelse, False)
            yield from _flatten(stmt.finalbody, False)


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for t in target.elts for n in _target_names(t)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _import_bindings(
    stmt: ast.Import | ast.ImportFrom, cell: int, pos: int, top: bool
) -> Iterator[Binding]:
    if isinstance(stmt, ast.Import):
        for a in stmt.names:
            name = a.asname or a.name.split(".")[0]
            line = (a.name, "", a.asname)
            yield Binding(
                name, cell, pos, "import", stmt, import_line=line, top_level=top
            )
        return
    for a in stmt.names:
        if a.name == "*":
            continue
        module = "." * stmt.level + (stmt.module or "")
        yield Binding(
            a.asname or a.name,
            cell,
            pos,
            "import",
            stmt,
            import_line=(module, a.name, a.asname),
            top_level=top,
        )


def _assign_bindings(
    stmt: ast.Assign | ast.AnnAssign, cell: int, pos: int, top: bool
) -> Iterator[Binding]:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    value = stmt.value
    for target in targets:
        if isinstance(target, ast.Name):
            yield Binding(target.id, cell, pos, "assign", stmt, value, top_level=top)
        elif isinstance(target, ast.Tuple | ast.List):
            yield from _unpacked_bindings(stmt, target, value, cell, pos, top)


def _unpacked_bindings(
    stmt: ast.stmt,
    target: ast.Tuple | ast.List,
    value: ast.expr | None,
    cell: int,
    pos: int,
    top: bool,
) -> Iterator[Binding]:
    """a, b = value: each name with its own element, or with its index in value."""
    names = tuple(_target_names(target))
    flat = all(isinstance(e, ast.Name) for e in target.elts)
    if (
        flat
        and isinstance(value, ast.Tuple | ast.List)
        and len(value.elts) == len(names)
        and not any(isinstance(e, ast.Starred) for e in value.elts)
    ):
        # a, b = f(x), g(y): each name gets its own value
        for name, element in zip(names, value.elts, strict=True):
            yield Binding(name, cell, pos, "assign", stmt, element, top_level=top)
        return
    for i, name in enumerate(names):
        yield Binding(
            name,
            cell,
            pos,
            "assign",
            stmt,
            value,
            index=i if flat else None,
            targets=names,
            top_level=top,
        )


def _bindings_of(stmt: ast.stmt, cell: int, pos: int, top: bool) -> Iterator[Binding]:
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        yield from _import_bindings(stmt, cell, pos, top)
    elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
        yield Binding(stmt.name, cell, pos, "def", stmt, top_level=top)
    elif isinstance(stmt, ast.ClassDef):
        yield Binding(stmt.name, cell, pos, "class", stmt, top_level=top)
    elif isinstance(stmt, ast.Assign | ast.AnnAssign):
        yield from _assign_bindings(stmt, cell, pos, top)
    elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        yield Binding(stmt.target.id, cell, pos, "other", stmt, top_level=top)
    elif isinstance(stmt, ast.For | ast.AsyncFor):
        for name in _target_names(stmt.target):
            yield Binding(name, cell, pos, "other", stmt, top_level=top)
        for inner in ast.walk(stmt):
            if isinstance(inner, ast.Assign):
                for target in inner.targets:
                    for name in _target_names(target):
                        yield Binding(name, cell, pos, "other", stmt, top_level=False)
    if isinstance(stmt, ast.With | ast.AsyncWith):
        for item in stmt.items:
            if item.optional_vars is not None:
                for name in _target_names(item.optional_vars):
                    yield Binding(name, cell, pos, "other", stmt, top_level=top)


def _fit_of(stmt: ast.stmt, scan: NotebookScan, cell: int, pos: int) -> Fit | None:
    call: ast.expr | None = None
    assigned: str | None = None
    if isinstance(stmt, ast.Expr):
        call = stmt.value
    elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        call = stmt.value
        if isinstance(stmt.targets[0], ast.Name):
            assigned = stmt.targets[0].id
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr in ("fit", "fit_predict")
    ):
        return None
    receiver = call.func.value
    if call.func.attr == "fit_predict" and not isinstance(receiver, ast.Name):
        return None  # labels = KMeans(3).fit_predict(X): the model has no name
    if isinstance(receiver, ast.Name):
        obj, ctor = receiver.id, scan.ctor_of(receiver.id, pos)
    elif isinstance(receiver, ast.Call) and assigned:
        obj, ctor = assigned, call_name(receiver)
    else:
        return None
    args = list(call.args)
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    x = args[0] if args else keywords.get("X", keywords.get("x"))
    y = args[1] if len(args) > 1 else keywords.get("y")
    return Fit(obj, cell, pos, stmt, x, y, ctor)


def constant_str(expr: ast.expr | None) -> str | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return None


def _open_path(expr: ast.expr | None, scan: NotebookScan, pos: int) -> str | None:
    """The path of open("path", "wb") or of a name bound by `with open(...) as f`."""
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Name)
        and expr.func.id == "open"
    ):
        return constant_str(expr.args[0] if expr.args else None)
    if isinstance(expr, ast.Name):
        b = scan.binding(expr.id, pos + 1)
        if b is not None and isinstance(b.stmt, ast.With):
            for item in b.stmt.items:
                if (
                    isinstance(item.optional_vars, ast.Name)
                    and item.optional_vars.id == expr.id
                ):
                    return _open_path(item.context_expr, scan, pos)
    return None


def _save_of(stmt: ast.stmt, scan: NotebookScan, cell: int, pos: int) -> Save | None:
    if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Call):
        return None
    call = stmt.value
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    module = (
        func.value.id
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
        else None
    )
    if name != "dump" or len(call.args) < 2 or not isinstance(call.args[0], ast.Name):
        return None
    obj = call.args[0].id
    resolved = scan.binding(module, pos) if module else scan.binding("dump", pos)
    source = ""
    if resolved is not None and resolved.import_line is not None:
        source = resolved.import_line[0] or resolved.import_line[1]
    if "joblib" in source:
        path = constant_str(call.args[1])
        return Save(obj, cell, pos, path, "joblib") if path else None
    if "pickle" in source:
        path = _open_path(call.args[1], scan, pos)
        return Save(obj, cell, pos, path, "pickle") if path else None
    return None


def _model_calls(tree: ast.Module, cell: int, pos: int) -> Iterator[ModelCall]:
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in PREDICT_METHODS
            and isinstance(node.func.value, ast.Name)
        ):
            parent = parents.get(id(node))
            subscript = None
            if isinstance(parent, ast.Subscript) and parent.value is node:
                # unparse the whole expression: a bare tuple of slices has no syntax
                subscript = ast.unparse(parent)[len(ast.unparse(node)) :]
            arg = node.args[0] if len(node.args) == 1 else None
            options = ", ".join(ast.unparse(k) for k in node.keywords)
            yield ModelCall(
                node.func.value.id, cell, pos, node.func.attr, subscript, arg, options
            )


def scan_notebook(nb: RawNotebook, skip: frozenset[int] = frozenset()) -> NotebookScan:
    cells = {
        c.index: parse_cell(c.source)
        for c in nb.cells
        if c.cell_type == "code" and c.index not in skip
    }
    scan = NotebookScan(nb, cells)
    pos = 0
    for index in sorted(cells):
        cell = cells[index]
        if cell.tree is None or not cell.python:
            continue
        for stmt, top in _flatten(cell.tree.body):
            pos += 1
            scan.statements.append((index, pos, stmt, top))
            fit = _fit_of(stmt, scan, index, pos)
            if fit is not None:
                scan.fits.append(fit)
            save = _save_of(stmt, scan, index, pos)
            if save is not None:
                scan.saves.append(save)
            if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                wrapper = ast.Module([stmt], [])
                simple = isinstance(stmt, ast.Expr | ast.Assign | ast.AnnAssign)
                scan.calls.extend(
                    replace(call, top_level=simple)
                    for call in _model_calls(wrapper, index, pos)
                )
            for b in _bindings_of(stmt, index, pos, top):
                scan.bindings.setdefault(b.name, []).append(b)
    return scan
