"""What kind of data a notebook name holds (a DataFrame, a Series, an array, texts), by
a light reading of how it was made. Good enough to shape one request into the batch a
model expects; None when unsure.
"""

from __future__ import annotations

import ast

from nb2svc.tag.scan import Binding, NotebookScan, call_name, constant_str

_SPLITTERS = ("train_test_split",)
_FRAME_FUNCS = frozenset(
    {
        "read_csv",
        "read_table",
        "read_parquet",
        "read_json",
        "read_excel",
        "read_sql",
        "read_sql_query",
        "read_feather",
        "read_pickle",
        "read_fwf",
        "DataFrame",
        "get_dummies",
        "concat",
        "merge",
        "load_dataset",
        "json_normalize",
    }
)
_ARRAY_FUNCS = frozenset(
    {
        "array",
        "asarray",
        "vstack",
        "hstack",
        "stack",
        "concatenate",
        "column_stack",
        "zeros",
        "ones",
        "rand",
        "randn",
        "normal",
        "uniform",
    }
)
_FRAME_METHODS = frozenset(
    {
        "drop",
        "copy",
        "dropna",
        "fillna",
        "assign",
        "query",
        "sample",
        "head",
        "tail",
        "reset_index",
        "set_index",
        "merge",
        "join",
        "astype",
        "select_dtypes",
        "rename",
        "replace",
        "sort_values",
        "sort_index",
        "filter",
        "pipe",
        "where",
        "mask",
        "clip",
        "round",
        "drop_duplicates",
        "reindex",
    }
)
_SERIES_METHODS = frozenset(
    {"copy", "dropna", "fillna", "head", "tail", "sample", "astype", "reset_index"}
)


def kind_of(
    scan: NotebookScan, expr: ast.expr | None, pos: int, depth: int = 0
) -> str | None:
    """'frame' | 'series' | 'array' | 'text' | None (unknown), by a light reading."""
    if expr is None or depth > 25:
        return None
    if isinstance(expr, ast.Name):
        b = scan.binding(expr.id, pos)
        if b is None or b.value is None:
            return None
        if b.index is None:
            return kind_of(scan, b.value, b.pos, depth + 1)
        return _unpacked_kind(scan, b, depth)
    if isinstance(expr, ast.Call):
        return _call_kind(scan, expr, pos, depth)
    if isinstance(expr, ast.Attribute):
        if expr.attr in ("values",):
            return "array"
        if expr.attr == "frame":
            return "frame"
        if expr.attr in ("data", "target"):
            source = call_name(expr.value) or ""
            if expr.attr == "data" and source.startswith("fetch_20newsgroups"):
                return "text"
            return "array" if source.startswith(("load_", "fetch_")) else None
        return None
    if isinstance(expr, ast.Subscript):
        return _subscript_kind(scan, expr, pos, depth)
    if (
        isinstance(expr, ast.List | ast.Tuple)
        and expr.elts
        and all(constant_str(e) is not None for e in expr.elts)
    ):
        return "text"
    return None


def _unpacked_kind(scan: NotebookScan, b: Binding, depth: int) -> str | None:
    value = b.value
    assert b.index is not None
    name = call_name(value) if value is not None else None
    if isinstance(value, ast.Call) and name in _SPLITTERS:
        source = b.index // 2
        if source < len(value.args):
            return kind_of(scan, value.args[source], b.pos, depth + 1)
        return None
    if isinstance(value, ast.Call) and name and name.startswith(("load_", "fetch_")):
        as_frame = any(
            k.arg == "as_frame" and isinstance(k.value, ast.Constant) and k.value.value
            for k in value.keywords
        )
        return "frame" if as_frame and b.index == 0 else "array"
    if isinstance(value, ast.Call) and name and name.startswith("make_"):
        return "array"
    return None


def _call_kind(scan: NotebookScan, expr: ast.Call, pos: int, depth: int) -> str | None:
    func = expr.func
    name = call_name(expr)
    if isinstance(func, ast.Attribute):
        if func.attr == "to_numpy":
            return "array"
        if func.attr in _FRAME_FUNCS and isinstance(func.value, ast.Name):
            module = scan.binding(func.value.id, pos)
            if module is not None and module.kind == "import":
                return "frame"
        if func.attr in _ARRAY_FUNCS and isinstance(func.value, ast.Name):
            source = scan.binding(func.value.id, pos)
            if source is not None and (
                source.kind == "import"
                or call_name(source.value) in ("default_rng", "RandomState")
            ):
                return "array"
        if func.attr in _ARRAY_FUNCS and isinstance(func.value, ast.Attribute):
            return "array"  # np.random.normal(...)
        receiver = kind_of(scan, func.value, pos, depth + 1)
        if receiver == "frame" and func.attr in _FRAME_METHODS:
            return "frame"
        if receiver == "series" and func.attr in _SERIES_METHODS | {"apply", "map"}:
            return "series"
        return None
    if name in _FRAME_FUNCS:
        return "frame"
    if isinstance(func, ast.Name) and scan.defined_function(func.id, pos) and expr.args:
        inner = kind_of(scan, expr.args[0], pos, depth + 1)
        return inner if inner == "frame" else None
    return None


def _subscript_kind(
    scan: NotebookScan, expr: ast.Subscript, pos: int, depth: int
) -> str | None:
    value = expr.value
    if isinstance(value, ast.Attribute) and value.attr in ("loc", "iloc"):
        return (
            "frame" if kind_of(scan, value.value, pos, depth + 1) == "frame" else None
        )
    base = kind_of(scan, value, pos, depth + 1)
    if base != "frame":
        return base
    key = expr.slice
    if isinstance(key, ast.Name):
        b = scan.binding(key.id, pos)
        if b is not None and b.value is not None and b.index is None:
            key = b.value
    if constant_str(key) is not None:
        return "series"
    return "frame"
