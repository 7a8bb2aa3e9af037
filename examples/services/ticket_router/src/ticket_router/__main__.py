"""The command line of the Ticket Router service.

    python -m ticket_router serve
    ticket-router serve --port 8000
    python -m ticket_router healthcheck    # exit 0 once /readyz says ready
    python -m ticket_router score rows.csv -o scored.csv    # score a file

Generated from ticket_router.ipynb by nb2svc 0.1.0.
"""

from collections.abc import Sequence

from nb2svc_runtime.cli import run_cli

from ._artifacts import ARTIFACTS
from .settings import INFO, get_settings


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(INFO, get_settings, ARTIFACTS, argv, input_kind="string")


if __name__ == "__main__":
    raise SystemExit(main())
