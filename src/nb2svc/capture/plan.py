"""Which cells the capture kernel runs: the exported ones and the example, or the whole
notebook; and then the objects ``--capture`` saves."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from nb2svc.capture.kernel_code import kernel_source
from nb2svc.definitions import exported_definitions
from nb2svc.model import EXPORTED_ORDER, MarkedCell, RawNotebook, Role, RoleFunction

if TYPE_CHECKING:
    from nb2svc.capture.objects import CaptureSpec

CAPTURE_VERSION = "5"
PROFILE_VERSION = "2"
#: Kernel-side: saves one --capture object (one line per object, see with_capture).
_DUMP_CODE = kernel_source("dump")


@dataclass(frozen=True)
class KernelCell:
    source: str
    origin: int | None  # index of the notebook cell it came from


@dataclass(frozen=True)
class CapturePlan:
    cells: tuple[KernelCell, ...]
    functions: tuple[RoleFunction, ...]
    load_globals: tuple[str, ...]
    reference: int | None = None  # the reference cell's index: profile it
    #: Every code cell a full run executes: what the captured values depend on.
    notebook: tuple[str, ...] = ()

    def key(self, artifact_hashes: dict[str, str], redact: bool = False) -> str:
        """Identifies a capture: the same whether the whole notebook ran or only the
        exported cells (on artifacts already there), so output is the same either way.
        ``redact``: the examples' secrets are replaced (--redact-examples).
        """
        digest = hashlib.sha256(f"capture-v{CAPTURE_VERSION}\n".encode())
        if redact:
            digest.update(b"redact-examples\n")
        if self.reference is not None:
            digest.update(f"profile-v{PROFILE_VERSION}\n".encode())
        for source in self.notebook:
            digest.update(source.encode() + b"\x00")
        for fn in self.functions:
            digest.update(f"{fn.role.value}={fn.name}\n".encode())
        for name in sorted(artifact_hashes):
            digest.update(f"{name}={artifact_hashes[name]}\n".encode())
        return digest.hexdigest()


def plan_capture(
    nb: RawNotebook,
    exported: list[tuple[Role, int, str]],
    example: tuple[int, str],
    full: bool,
    functions: list[RoleFunction],
    load_globals: list[str],
    reference: tuple[int, str] | None = None,
) -> CapturePlan:
    """Which cells to run: the whole notebook (minus skip cells), or only exported +
    example (+ reference)."""
    skip = {i for role, i, _ in exported if role is Role.SKIP}
    whole = tuple(
        KernelCell(c.source, c.index)
        for c in nb.cells
        if c.cell_type == "code" and c.index not in skip
    )
    if full:
        cells = whole
    else:
        ordered = sorted(
            (e for e in exported if e[0] in EXPORTED_ORDER),
            key=lambda e: (EXPORTED_ORDER.index(e[0]), e[1]),
        )
        cells = tuple(KernelCell(code, index) for _, index, code in ordered)
        cells += (KernelCell(example[1], example[0]),)
        if reference is not None:
            cells += (KernelCell(reference[1], reference[0]),)
    return CapturePlan(
        cells,
        tuple(functions),
        tuple(load_globals),
        reference[0] if reference is not None else None,
        tuple(cell.source for cell in whole),
    )


def with_capture(
    plan: CapturePlan,
    nb: RawNotebook,
    marked: list[MarkedCell],
    specs: tuple[CaptureSpec, ...],
) -> CapturePlan:
    """The whole notebook (but skip cells), then one cell saving each captured object.

    Captured objects exist only once the notebook has run, so nothing less will do.
    """
    if not specs:
        return plan
    skip = {mc.cell.index for mc in marked if mc.role is Role.SKIP}
    cells = [
        KernelCell(c.source, c.index)
        for c in nb.cells
        if c.cell_type == "code" and c.index not in skip
    ]
    for spec in specs:
        origin = next(
            (
                mc.cell.index
                for mc in marked
                if dict(mc.params).get("capture") == spec.name
            ),
            None,
        )
        # One line: a failure is reported at the cell that makes the object.
        call = (
            f"exec(compile({_DUMP_CODE!r}, '<nb2svc --capture>', 'exec')); "
            f"__nb2svc_dump({spec.name!r}, {spec.artifact!r}, {spec.fmt!r}, "
            f"{exported_definitions(marked)!r})"
        )
        cells.append(KernelCell(call, origin))
    return replace(plan, cells=tuple(cells))
