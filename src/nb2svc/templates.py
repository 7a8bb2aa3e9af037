"""Where the bundled templates live (inside the wheel, or the repo's top-level templates/)."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

_SERVICE = "service"


@functools.cache
def bundled_templates() -> Path:
    """The bundled template root: `nb2svc/templates` in a wheel, `templates/` in a checkout."""
    inside = Path(__file__).parent / "templates"
    if (inside / _SERVICE).is_dir():
        return inside
    checkout = Path(__file__).resolve().parents[2] / "templates"
    if (checkout / _SERVICE).is_dir():
        return checkout
    raise FileNotFoundError(
        "nb2svc's bundled templates are missing from this installation"
    )


def service_template() -> Path:
    return bundled_templates() / _SERVICE


@functools.cache
def jsonable_source() -> str:
    """The source of the runtime's `jsonable.py`, also run in the kernel at capture."""
    return (resources.files("nb2svc_runtime") / "jsonable.py").read_text("utf-8")
