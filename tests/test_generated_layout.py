"""The generated package stays small and leans only on public APIs (issue 14).

Each bundled example is built afresh (the committed goldens are regenerated after a
merge, so they may lag): its Python outside pipeline.py is within the budget, it takes
no private name from another library, and its command line starts without the web
stack.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_NOTEBOOKS
from tests.service_support import built_service, package_of

pytestmark = pytest.mark.slow

#: Lines of generated Python (outside the notebook's own pipeline.py) per service.
BUDGET = 600
#: Modules the runtime alone may import from (its framework internals).
INTERNAL = "nb2svc_runtime._internals"


@pytest.fixture(scope="module", params=[Path(n).stem for n in EXAMPLE_NOTEBOOKS])
def out(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return built_service(tmp_path_factory, request.param)


def _generated_python(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.py") if p.name != "pipeline.py")


def test_generated_python_budget(out: Path) -> None:
    counts = {
        p.relative_to(out).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in _generated_python(out)
    }
    assert sum(counts.values()) <= BUDGET, counts


def _private_names(path: Path, package: str) -> list[str]:
    """``_name``s (not dunders) taken from another package's module, and any import
    of the runtime's internals."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            own = node.module.split(".")[0] == package
            if node.module.startswith(INTERNAL):
                found.append(f"{path.name}: from {node.module}")
            found += [
                f"{path.name}: {node.module}.{alias.name}"
                for alias in node.names
                if not own and _private(alias.name)
            ]
        elif isinstance(node, ast.Import):
            found += [
                f"{path.name}: import {a.name}"
                for a in node.names
                if a.name.startswith(INTERNAL)
                or any(
                    p.startswith("_") and not p.startswith("__")
                    for p in a.name.split(".")
                )
            ]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            root: ast.expr = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in _imported_modules(
                tree, package
            ):
                found.append(f"{path.name}: {ast.unparse(node)}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _imported_modules(tree: ast.Module, package: str) -> set[str]:
    """Names bound to another package's module by ``import x`` / ``import x as y``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != package:
                    names.add(alias.asname or alias.name.split(".")[0])
    return names


def test_generated_code_uses_no_private_names(out: Path) -> None:
    package = package_of(out)
    found = [
        hit for path in _generated_python(out) for hit in _private_names(path, package)
    ]
    assert found == []


def test_the_private_name_check_sees_them(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import pandas as pd\n"
        "from nb2svc_runtime._internals.uvicorn_protocol import HeadLimits\n"
        "from uvicorn.config import _private\n"
        "from pkg import _own\n"
        "frame = pd.DataFrame._from_arrays\n"
        "rows = pd._libs\n"
    )
    assert _private_names(sample, "pkg") == [
        "sample.py: from nb2svc_runtime._internals.uvicorn_protocol",
        "sample.py: uvicorn.config._private",
        "sample.py: pd.DataFrame._from_arrays",
        "sample.py: pd._libs",
    ]


def test_the_command_line_imports_neither_the_app_nor_the_web_stack(out: Path) -> None:
    """The supervisor and HEALTHCHECK stay light, and PROMETHEUS_MULTIPROC_DIR is set
    before any module that reads it is imported."""
    package = package_of(out)
    code = (
        f"import json, sys; import {package}.__main__; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=out,
            env={"PYTHONPATH": str(out / "src"), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    tops = {name.split(".")[0] for name in loaded}
    assert {"fastapi", "prometheus_client", "pandas"} & tops == set()
    assert f"{package}.app" not in loaded and f"{package}.pipeline" not in loaded
