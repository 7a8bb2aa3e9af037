"""End to end: build every example, install the package, run its tests, serve it for real."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    EXAMPLE_NOTEBOOKS,
    REPO,
    install_service,
)
from tests.helpers import assert_lint_clean
from tests.service_support import free_port, package_of, wait_for_service

pytestmark = pytest.mark.slow


def same(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Differences between two JSON values; floats compared with a tight tolerance."""
    if isinstance(expected, float) or isinstance(actual, float):
        ok = isinstance(actual, int | float) and math.isclose(
            expected, actual, rel_tol=1e-9, abs_tol=1e-12
        )
        return [] if ok else [f"{path}: {expected!r} != {actual!r}"]
    if type(expected) is not type(actual):
        return [f"{path}: type {type(expected).__name__} != {type(actual).__name__}"]
    if isinstance(expected, dict):
        if list(expected) != list(actual):
            return [f"{path}: keys {list(expected)} != {list(actual)}"]
        return [
            d for k in expected for d in same(expected[k], actual[k], f"{path}.{k}")
        ]
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return [f"{path}: length {len(expected)} != {len(actual)}"]
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in same(e, a, f"{path}[{i}]")
        ]
    return [] if expected == actual else [f"{path}: {expected!r} != {actual!r}"]


@pytest.fixture(scope="module", params=EXAMPLE_NOTEBOOKS)
def built(
    request: pytest.FixtureRequest,
    examples_copy: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    name = request.param
    out = tmp_path_factory.mktemp("services") / Path(name).stem
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nb2svc",
            "build",
            str(examples_copy / name),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path_factory.mktemp("cwd"),
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def installed(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the generated package (and its test extra) installed, offline."""
    return install_service(built, tmp_path_factory, "[test]")


def golden(out: Path) -> list[dict[str, Any]]:
    data = json.loads((out / "tests/golden/examples.json").read_text())
    examples: list[dict[str, Any]] = data["examples"]
    assert examples, "no golden examples captured"
    return examples


def test_installed_package_is_used_not_the_source_tree(
    built: Path, installed: Path
) -> None:
    pkg = package_of(built)
    where = subprocess.run(
        [str(installed), "-c", f"import {pkg}.pipeline as p; print(p.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=built.parent,
    ).stdout
    assert str(installed.parent.parent) in where
    artifacts = subprocess.run(
        [
            str(installed),
            "-c",
            f"from {pkg}._artifacts import verify_artifacts; verify_artifacts()",
        ],
        capture_output=True,
        text=True,
        cwd=built.parent,
    )
    assert artifacts.returncode == 0, artifacts.stderr


def test_generated_tests_pass_after_install(built: Path, installed: Path) -> None:
    result = subprocess.run(
        [str(installed), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=built,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


def test_matches_the_committed_golden_snapshot(built: Path) -> None:
    """examples/services/ holds the reviewed output; refresh with scripts/regen_golden.py."""
    snapshot = REPO / "examples" / "services" / built.name

    def tree(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    ours, committed = tree(built), tree(snapshot)
    assert sorted(ours) == sorted(
        committed
    ), "file lists differ; run scripts/regen_golden.py"
    differing = [name for name in ours if ours[name] != committed[name]]
    assert differing == [], "run scripts/regen_golden.py and review the diff"


def test_generated_code_is_formatted_lint_clean_and_typed(
    built: Path, tmp_path: Path
) -> None:
    assert_lint_clean(built, tmp_path)


@pytest.fixture
def served(built: Path, installed: Path, tmp_path: Path) -> Iterator[str]:
    """The installed service under real uvicorn on a loopback port, from an unrelated cwd."""
    port = free_port()
    log = (tmp_path / "service.log").open("w")
    proc = subprocess.Popen(
        [
            str(installed),
            "-m",
            package_of(built),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_service(base, proc, tmp_path / "service.log")
        yield base
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
        log.close()
        assert code == 0, (tmp_path / "service.log").read_text()


def test_service_returns_what_the_notebook_computed(built: Path, served: str) -> None:
    examples = golden(built)
    assert httpx.get(f"{served}/healthz").status_code == 200
    for example in examples:
        response = httpx.post(f"{served}/predict", json=example["input"], timeout=30)
        assert response.status_code == 200, response.text
        assert same(example["output"], response.json()) == []
    batch = httpx.post(
        f"{served}/predict/batch", json=[e["input"] for e in examples], timeout=30
    )
    assert batch.status_code == 200, batch.text
    assert same([e["output"] for e in examples], batch.json()) == []


def test_openapi_carries_the_notebook_example(built: Path, served: str) -> None:
    spec = httpx.get(f"{served}/openapi.json").json()
    assert json.dumps(golden(built)[0]["input"]) in json.dumps(spec)
    assert {"/predict", "/predict/batch", "/healthz", "/readyz"} <= set(spec["paths"])
