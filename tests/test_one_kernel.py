"""One implementation where build and retrain do the same thing: the kernel runner,
the registry fingerprint and a file's sha256 live in nb2svc_runtime; nb2svc (the
builder) and the runtime's retrain use them, each reporting failures its own way."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
import pytest

import nb2svc_runtime.kernel
import nb2svc_runtime.registry
from nb2svc import capture, registry
from nb2svc.capture import KernelFailure, execute_in_kernel
from nb2svc_runtime.artifacts import sha256_of
from nb2svc_runtime.retrain import register
from nb2svc_runtime.retrain.kernel import KernelError, Step, run_steps

#: check() raises in cell 0 (line 2), called from line 3 of cell 1.
SOURCES = ("def check(x):\n    raise ValueError(f'bad {x}')", "y = 1\n\ncheck(y)")


def test_the_builder_uses_the_runtimes_kernel_and_registry() -> None:
    assert capture.kernel_env is nb2svc_runtime.kernel.kernel_env
    assert (
        capture.NATIVE_THREAD_VARIABLES is nb2svc_runtime.kernel.NATIVE_THREAD_VARIABLES
    )
    assert registry.fingerprint is nb2svc_runtime.registry.fingerprint
    assert register.fingerprint is nb2svc_runtime.registry.fingerprint
    assert registry.FINGERPRINT_TAG == register.FINGERPRINT_TAG == "nb2svc.fingerprint"


def test_build_and_retrain_fingerprint_alike() -> None:
    """A retrained model equal to the built one is the same version: the document
    hashed is the artifacts' hashes (sorted) and the cells' sha256."""
    artifacts = {"b.joblib": "2" * 64, "a.joblib": "1" * 64}
    document = (
        '{"artifacts": {"a.joblib": "' + "1" * 64 + '", "b.joblib": "' + "2" * 64
    ) + '"}, "cells": "c"}'
    expected = hashlib.sha256(document.encode()).hexdigest()
    assert registry.fingerprint(artifacts, "c") == expected


def test_a_files_sha256_is_read_in_blocks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # over two 1 MiB blocks
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()


def _cells() -> list[object]:
    return [nbformat.v4.new_code_cell(source) for source in SOURCES]


@pytest.mark.slow  # runs a kernel
def test_the_build_names_the_innermost_line_of_the_notebooks_code(
    tmp_path: Path,
) -> None:
    with pytest.raises(KernelFailure) as caught:
        execute_in_kernel(_cells(), tmp_path, 60, capture.kernel_env(), tmp_path)
    failure = caught.value
    assert (failure.kind, failure.index) == ("error", 1)
    assert (failure.message, failure.hint, failure.line) == (
        "raised ValueError: bad 1",
        None,
        2,
    )


@pytest.mark.slow  # runs a kernel
def test_a_build_timeout_says_what_to_do(tmp_path: Path) -> None:
    cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(30)")]
    with pytest.raises(KernelFailure) as caught:
        execute_in_kernel(cells, tmp_path, 2, capture.kernel_env(), tmp_path)
    failure = caught.value
    assert (failure.kind, failure.index, failure.message) == (
        "timeout",
        0,
        "timed out after 2 s",
    )
    assert failure.hint == "raise --timeout, or make the cell faster"


@pytest.mark.slow  # runs a kernel
def test_a_dead_build_kernel_says_what_it_said_last(tmp_path: Path) -> None:
    cells = [nbformat.v4.new_code_cell("import os\nos._exit(3)")]
    with pytest.raises(KernelFailure) as caught:
        execute_in_kernel(cells, tmp_path, 60, capture.kernel_env(), tmp_path)
    failure = caught.value
    assert (failure.kind, failure.message) == (
        "dead",
        "the kernel died while running this cell",
    )
    assert failure.hint is not None
    assert failure.hint.startswith("out of memory, a crash in native code, or exit()?")


@pytest.mark.slow  # runs a kernel
def test_retrain_names_the_step_and_its_own_line(tmp_path: Path) -> None:
    steps = [Step(source) for source in SOURCES]
    with pytest.raises(KernelError) as caught:
        run_steps(steps, tmp_path, tmp_path, 60)
    error = caught.value
    assert error.step is steps[1]
    assert (error.message, error.line) == ("ValueError: bad 1", 3)


@pytest.mark.slow  # runs a kernel
def test_a_dead_retrain_kernel_is_named(tmp_path: Path) -> None:
    steps = [Step("x = 1"), Step("import os\nos._exit(3)", what="scoring")]
    with pytest.raises(KernelError) as caught:
        run_steps(steps, tmp_path, tmp_path, 60)
    error = caught.value
    assert error.step is steps[1]
    assert (error.message, error.line) == (
        "the kernel died (out of memory? a native crash?)",
        None,
    )
