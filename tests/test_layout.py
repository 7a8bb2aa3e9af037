"""The builder's own layout shows its pipeline (issue 14): stages as modules a reader
finds in order, no long functions, the kernel's code as real files."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import nb2svc
from nb2svc.capture.kernel_code import kernel_source

SRC = Path(nb2svc.__file__).parent
MAX_LINES = 60
KERNEL_CODE = ("examples", "capture", "main_refs", "dump")


def _function_lengths(path: Path, root: Path = SRC.parent) -> list[tuple[str, int]]:
    """(where, lines) of every function and method in ``path``, nested ones too.

    A function's lines run from its first decorator (or its ``def``) to the last line
    of its body, inclusive: signature, docstring, comments and blank lines count.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            assert node.end_lineno is not None
            where = f"{path.relative_to(root)}:{node.lineno} {node.name}"
            found.append((where, node.end_lineno - first + 1))
    return found


def test_no_function_over_60_lines() -> None:
    sources = sorted(SRC.rglob("*.py"))
    assert len(sources) > 50  # the whole package, kernel code included
    too_long = [
        f"{where} ({lines} lines)"
        for path in sources
        for where, lines in _function_lengths(path)
        if lines > MAX_LINES
    ]
    assert too_long == [], "split these functions:\n" + "\n".join(too_long)


def test_the_length_counts_decorators_signature_and_body(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "@first\n@second(\n    1\n)\ndef f(\n    a,\n):\n"
        '    """Doc."""\n\n    def g():\n        pass\n    return a\n'
    )
    assert _function_lengths(module, tmp_path) == [("m.py:5 f", 12), ("m.py:10 g", 2)]


#: The build's stages, as nb2svc's docstring lists them: module, then function.
_STAGE = re.compile(r"^\d\. +(\w+) +``([\w/.]+)`` +``(\w+)``", re.MULTILINE)


def test_the_package_docstring_lists_the_stages_in_order() -> None:
    stages = _STAGE.findall(nb2svc.__doc__ or "")
    assert [verb for verb, _, _ in stages] == [
        "read",
        "mark",
        "analyse",
        "capture",
        "pin",
        "render",
        "format",
        "write",
    ]
    for _, where, function in stages:
        path = SRC / where
        assert path.exists(), where
        package = path.is_dir()
        module = "nb2svc." + where.removesuffix(".py").rstrip("/").replace("/", ".")
        if not package:
            assert hasattr(importlib.import_module(module), function), (where, function)
        else:
            names = {
                n.name
                for p in path.rglob("*.py")
                for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
                if isinstance(n, ast.FunctionDef)
            }
            assert function in names, (where, function)


def _function(module: str, name: str) -> ast.FunctionDef:
    tree = ast.parse((SRC / module).read_text(encoding="utf-8"))
    return next(
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name
    )


def _calls(function: ast.FunctionDef) -> list[str]:
    """The names ``function`` calls, in the order they appear."""
    calls = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]
    calls.sort(key=lambda c: (c.lineno, c.col_offset))
    return [c.func.id for c in calls if isinstance(c.func, ast.Name)]


def test_build_calls_the_stages_in_pipeline_order() -> None:
    front = _calls(_function("api.py", "analyse_notebook"))
    stages = [front.index(n) for n in ("read_notebook", "mark_cells", "analyse")]
    assert stages == sorted(stages), front
    called = _calls(_function("api.py", "build"))
    order = [
        "analyse_notebook",
        "capture_examples",
        "pin_requirements",
        "render_service",
        "format_tree",
        "write_tree",
    ]
    stages = [called.index(name) for name in order]
    assert stages == sorted(stages), called


@pytest.mark.parametrize("name", [*KERNEL_CODE, "profile"])
def test_kernel_code_defines_only_prefixed_functions(name: str) -> None:
    """The kernel's code runs in the notebook's own namespace: it may add nothing but
    ``__nb2svc_`` functions there (no imports, no docstring setting ``__doc__``).
    The profile's is the runtime's (retrain runs it too)."""
    from nb2svc_runtime.reference import kernel_code

    tree = ast.parse(kernel_code() if name == "profile" else kernel_source(name))
    assert tree.body
    for stmt in tree.body:
        assert isinstance(stmt, ast.FunctionDef), ast.dump(stmt)[:80]
        assert stmt.name.startswith("__nb2svc_"), stmt.name


def test_kernel_code_is_what_the_capture_sends() -> None:
    from nb2svc.capture import KERNEL_EXAMPLES_CODE
    from nb2svc.capture.run import _CAPTURE_CODE
    from nb2svc_runtime.reference import kernel_code

    assert kernel_source("examples") == KERNEL_EXAMPLES_CODE
    assert (
        kernel_source("examples")
        + kernel_source("main_refs")
        + kernel_source("capture")
        == _CAPTURE_CODE
    )
    assert "def __nb2svc_profile(" in kernel_code()
    namespace: dict[str, object] = {}
    exec(compile(_CAPTURE_CODE + kernel_code(), "<kernel>", "exec"), namespace)
    assert {n for n in namespace if n != "__builtins__"} == {
        "__nb2svc_put",
        "__nb2svc_examples",
        "__nb2svc_capture",
        "__nb2svc_main_refs",
        "__nb2svc_profile",
        "__nb2svc_profile_basis",
        "__nb2svc_spaced",
        "__nb2svc_frame_rows",
        "__nb2svc_item_rows",
        "__nb2svc_combined",
        "__nb2svc_batch",
        "__nb2svc_n_features",
    }
