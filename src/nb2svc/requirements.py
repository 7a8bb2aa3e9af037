"""Imports -> pinned requirements, using the distributions installed where nb2svc runs."""

from __future__ import annotations

import functools
import importlib.metadata as md
import re
import sys
from collections.abc import Iterable

from nb2svc.errors import Diagnostic, Location, Severity

#: What every generated service needs at run time beyond the notebook's own imports
#: and what the vendored runtime requires (its Requires-Dist: fastapi, uvicorn, ...,
#: pinned beside it by ``nb2svc.api.build``).
SERVICE_RUNTIME = ("fastapi-offline",)  # /docs and /redoc without a CDN
SERVICE_TEST = ("pytest", "httpx2")  # Starlette's TestClient moved to httpx2
_IGNORED = frozenset({"__future__", "builtins", "__main__", "IPython", "ipykernel"})


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def _module_map() -> dict[str, list[str]]:
    return {k: sorted(v) for k, v in md.packages_distributions().items()}


def pin(dist: str) -> str:
    """`name==version` for an installed distribution, `name` when it is not installed."""
    try:
        return f"{canonical(dist)}=={md.version(dist)}"
    except md.PackageNotFoundError:
        return canonical(dist)


def requirements_for(
    modules: Iterable[str], extra: Iterable[str], notebook: str
) -> tuple[list[str], list[Diagnostic]]:
    problems: list[Diagnostic] = []
    dists: set[str] = {canonical(d) for d in extra}
    mapping = _module_map()
    for module in sorted(set(modules)):
        if (
            module in sys.stdlib_module_names
            or module in _IGNORED
            or module.startswith("_")
        ):
            continue
        found = mapping.get(module)
        if not found:
            problems.append(
                Diagnostic(
                    Severity.WARNING,
                    Location(notebook),
                    f"module '{module}' is imported but no installed distribution provides it",
                    "install it where nb2svc runs so it can be pinned",
                    "NB901",
                )
            )
            continue
        dists.add(canonical(found[0]))
    return sorted(pin(d) for d in dists), problems
