"""The reference profile (the drift baseline) as nb2svc's build and ``retrain`` make it.

Both profile the notebook's ``reference`` data in the notebook's kernel with the same
code (``kernel_profile.py``, sent to the kernel as a cell with the sources of
``jsonable.py`` and ``profile.py``) and write it with :func:`profile_bytes`, so the
same data and model give the same bytes whichever of the two wrote them. The build
calls the kernel code after its capture; ``retrain`` after the train cells, where
``reference`` holds the new data and the pipeline the new model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from .profile import input_rows

#: The profile's name among the package's artifacts.
PROFILE_FILE = "reference_profile.json"
#: Reference rows profiled (evenly spaced when there are more), and pipeline calls
#: made one input at a time when the pipeline cannot score them all in one call.
MAX_REFERENCE_ROWS = 100_000
MAX_SINGLE_CALLS = 2_000


def _source(name: str) -> str:
    return (resources.files(__package__ or "nb2svc_runtime") / name).read_text(
        encoding="utf-8"
    )


def kernel_code() -> str:
    """The kernel-side code: ``__nb2svc_profile`` and ``__nb2svc_profile_basis``."""
    return _source("kernel_profile.py")


def profile_names(inputs: Iterable[Any], kind: str) -> list[str]:
    """The feature names of the example's inputs (JSON form): the features the
    profile keeps (what ``__nb2svc_profile_basis`` computes from a capture)."""
    return sorted(
        {name for item in inputs for row in input_rows(item, kind) for name in row}
    )


def profile_call(out_path: str, basis: str, functions: Mapping[str, str]) -> str:
    """A kernel cell profiling the notebook's ``reference`` into ``out_path``:
    ``basis`` is a Python expression for the kind, columns and feature names,
    ``functions`` the pipeline's role functions (role: name)."""
    return (
        f"{kernel_code()}\n__nb2svc_profile({out_path!r}, {basis}, "
        f"{dict(sorted(functions.items()))!r}, {_source('jsonable.py')!r}, "
        f"{_source('profile.py')!r}, {MAX_REFERENCE_ROWS}, {MAX_SINGLE_CALLS})\n"
    )


def basis_from_capture(capture_path: str) -> str:
    """The ``basis`` expression of :func:`profile_call` read from the build's capture
    file, in the kernel."""
    return f"__nb2svc_profile_basis({capture_path!r}, {_source('profile.py')!r})"


def profile_bytes(profile: Mapping[str, Any]) -> bytes:
    """Deterministic JSON: sorted keys, the profile's floats already rounded."""
    text = json.dumps(
        profile, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False
    )
    return (text + "\n").encode()
