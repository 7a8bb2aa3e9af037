"""Code nb2svc runs inside the notebook's kernel, kept as real files so that it is
linted and read as code; each is read as text (``kernel_source``) and sent to the
kernel as a cell.

The files run in the notebook's own namespace: stdlib only, no module docstring
(it would set the notebook's ``__doc__``), no module-level imports, every global
name prefixed ``__nb2svc_``.
"""

from __future__ import annotations

from importlib.resources import files


def kernel_source(name: str) -> str:
    """The source of ``kernel_code/<name>.py``, shipped in the wheel."""
    return files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")
