"""No runtime function is over 60 lines: each does one thing, readably."""

from __future__ import annotations

import ast
from pathlib import Path

import nb2svc_runtime

LIMIT = 60


def test_no_function_over_60_lines() -> None:
    long = []
    for path in sorted(Path(nb2svc_runtime.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > LIMIT:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines})")
    assert long == []
