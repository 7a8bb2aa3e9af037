"""Execute the notebook in a fresh kernel and capture its examples and their outputs.

``plan`` chooses the cells, ``kernel`` runs them, ``run`` captures the examples'
outputs and the reference profile, ``objects`` handles ``--capture NAME``;
``kernel_code/`` is what runs inside the kernel (the reference profile's is the
runtime's ``nb2svc_runtime.reference``, which ``retrain`` runs too). The build's stage is
``stage.capture_examples``: it reuses the capture ``cache`` stores in a build when
its key matches, and checks the declared ``artifacts``.
"""

from __future__ import annotations

from nb2svc.capture.kernel import (
    BLAS_CORETYPE,
    NATIVE_THREAD_VARIABLES,
    KernelFailure,
    cell_progress,
    execute_in_kernel,
    first_line,
    kernel_env,
)
from nb2svc.capture.objects import (
    CAPTURE_FORMATS,
    CAPTURED_DIR,
    CaptureSpec,
    capture_cells,
    parse_capture,
)
from nb2svc.capture.plan import (
    CAPTURE_VERSION,
    PROFILE_VERSION,
    CapturePlan,
    KernelCell,
    plan_capture,
    with_capture,
)
from nb2svc.capture.run import (
    KERNEL_EXAMPLES_CODE,
    Captured,
    kernel_redactions,
    notebook_failure,
    run_capture,
)

__all__ = [
    "BLAS_CORETYPE",
    "CAPTURED_DIR",
    "CAPTURE_FORMATS",
    "CAPTURE_VERSION",
    "KERNEL_EXAMPLES_CODE",
    "NATIVE_THREAD_VARIABLES",
    "PROFILE_VERSION",
    "CapturePlan",
    "CaptureSpec",
    "Captured",
    "KernelCell",
    "KernelFailure",
    "capture_cells",
    "cell_progress",
    "execute_in_kernel",
    "first_line",
    "kernel_env",
    "kernel_redactions",
    "notebook_failure",
    "parse_capture",
    "plan_capture",
    "run_capture",
    "with_capture",
]
