"""The one exception hierarchy and the diagnostics every problem is reported as.

Nothing here imports other nb2svc modules: every layer may raise these.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file, optionally a cell (0-based index) and a line in it."""

    file: str
    cell: int | None = None
    cell_id: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.cell is not None:
            cell = f"cell {self.cell + 1}"
            if self.cell_id:
                cell += f" (id={self.cell_id})"
            parts.append(cell)
        if self.line is not None:
            parts.append(f"line {self.line}")
        return ": ".join(parts)


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    location: Location
    message: str
    hint: str | None = None
    code: str = "NB000"

    def __str__(self) -> str:
        text = f"{self.location}: {self.severity.value}: {self.message}"
        if self.hint:
            text += f" — {self.hint}"
        return text

    def as_json(self) -> dict[str, object]:
        """The machine-readable form, for --json output and verify's --report."""
        loc = self.location
        return {
            "severity": self.severity.value,
            "code": self.code,
            "file": loc.file,
            "cell": None if loc.cell is None else loc.cell + 1,
            "cell_id": loc.cell_id,
            "line": loc.line,
            "location": str(loc),
            "message": self.message,
            "hint": self.hint,
        }


class ExitCode(enum.IntEnum):
    """The one exit-code table (documented in the README)."""

    OK = 0
    USER_ERROR = 1  # the notebook breaks the contract (diagnostics name cell and line)
    USAGE = 2  # bad command line (typer/click's own code)
    INPUT = 3  # a file is missing or is not a notebook
    NOTEBOOK_FAILED = 4  # executing the notebook failed or timed out
    OUTPUT = 5  # the output location cannot be written
    DRIFT = 6  # --check: regenerating would change files
    MISMATCH = 7  # verify: the service disagrees with the notebook
    SERVICE_FAILED = 8  # verify: the service did not start or answer
    NONDETERMINISTIC = 9  # verify: the notebook disagrees with itself
    HAND_EDITED = 10  # generated files were edited by hand (use --force)
    LOCK_FAILED = 11  # the hashed lock can't be made (no index, no cached hashes)
    REGISTRY = 12  # the model registry can't be reached or refused the request
    DISAGREE = 13  # compare: the two models disagree beyond the tolerance
    # A generated service's `retrain` (nb2svc_runtime.retrain.cli, which keeps the same
    # number): the retrained model did not pass the gate; nothing was registered.
    RETRAIN_GATE = 14
    INTERRUPTED = 130
    INTERNAL = 70


class Nb2svcError(Exception):
    """Root of every error nb2svc raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL


class UserError(Nb2svcError):
    """Something the user can fix; carries one or more diagnostics."""

    exit_code = ExitCode.USER_ERROR

    def __init__(self, diagnostics: Iterable[Diagnostic] | str) -> None:
        if isinstance(diagnostics, str):
            self.diagnostics: tuple[Diagnostic, ...] = ()
            message = diagnostics
        else:
            self.diagnostics = tuple(diagnostics)
            message = "\n".join(str(d) for d in self.diagnostics)
        super().__init__(message)


class ContractError(UserError):
    """The notebook breaks the notebook contract."""


class InputError(UserError):
    """The input file is missing, unreadable or not a notebook."""

    exit_code = ExitCode.INPUT


class NotebookExecutionError(UserError):
    """A cell failed, timed out or killed the kernel."""

    exit_code = ExitCode.NOTEBOOK_FAILED


class OutputError(UserError):
    """The output location cannot be written."""

    exit_code = ExitCode.OUTPUT


class HandEditedError(UserError):
    """Generated files were edited by hand; refusing to overwrite them."""

    exit_code = ExitCode.HAND_EDITED


class ServiceError(UserError):
    """The generated service did not start or did not answer."""

    exit_code = ExitCode.SERVICE_FAILED


class GeneratedFileError(UserError):
    """A generated file does not parse: nothing was written (an nb2svc bug, or one of
    a custom template)."""

    exit_code = ExitCode.INTERNAL


class RegistryError(UserError):
    """The model registry can't be reached, or refused the registration or download."""

    exit_code = ExitCode.REGISTRY
