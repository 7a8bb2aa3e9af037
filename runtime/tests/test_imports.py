"""The runtime stands alone: no builder package, and the light modules stay light."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import nb2svc_runtime

PACKAGE = Path(nb2svc_runtime.__file__).parent
BUILDER_PACKAGES = ("typer", "jinja2", "nbformat", "nbclient", "jupytext", "nb2svc")


def _modules() -> list[str]:
    found = ["nb2svc_runtime"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="nb2svc_runtime."):
        found.append(info.name)
    return sorted(found)


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out))


def test_every_module_is_found() -> None:
    modules = _modules()
    assert "nb2svc_runtime.guards" in modules
    assert "nb2svc_runtime._internals.uvicorn_protocol" in modules
    assert "nb2svc_runtime.monitoring.routes" in modules


def test_no_runtime_module_imports_a_builder_package() -> None:
    imports = "\n".join(f"import {name}" for name in _modules())
    loaded = _loaded_after(imports)
    assert {name for name in loaded if name.split(".")[0] in BUILDER_PACKAGES} == set()


@pytest.mark.parametrize("module", ["nb2svc_runtime", "nb2svc_runtime.spec"])
def test_the_specs_import_no_web_framework(module: str) -> None:
    loaded = _loaded_after(f"import {module}")
    heavy = {"fastapi", "starlette", "pydantic", "prometheus_client", "uvicorn"}
    assert {name.split(".")[0] for name in loaded} & heavy == set()


@pytest.mark.parametrize("name", ["jsonable.py", "profile.py"])
def test_kernel_sources_are_stdlib_only_and_self_contained(name: str) -> None:
    """Both are also exec'd on their own in the build's Jupyter kernel."""
    source = (PACKAGE / name).read_text(encoding="utf-8")
    top: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            top |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import"
            top.add((node.module or "").split(".")[0])
    lazy = {"scipy"}  # imported inside the one function that needs it
    assert top - lazy <= set(sys.stdlib_module_names), top
    namespace: dict[str, object] = {"__name__": "kernel"}
    exec(compile(source, name, "exec"), namespace)
    assert callable(namespace.get("to_jsonable") or namespace.get("build_profile"))


def test_the_kernel_profile_code_is_stdlib_only_and_adds_only_prefixed_functions() -> (
    None
):
    """``kernel_profile.py`` runs in the notebook's own namespace (the build's kernel
    and retrain's): nothing but ``__nb2svc_`` functions, stdlib imports inside them."""
    from nb2svc_runtime.reference import kernel_code

    tree = ast.parse(kernel_code())
    for stmt in tree.body:
        assert isinstance(stmt, ast.FunctionDef), ast.dump(stmt)[:80]
        assert stmt.name.startswith("__nb2svc_"), stmt.name
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert imported <= set(sys.stdlib_module_names), imported
