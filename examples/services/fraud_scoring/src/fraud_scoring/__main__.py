"""The command line of the Fraud Scoring service.

    python -m fraud_scoring serve
    fraud-scoring serve --port 8000
    python -m fraud_scoring healthcheck    # exit 0 once /readyz says ready
    python -m fraud_scoring score rows.csv -o scored.csv    # score a file

Generated from fraud_scoring.ipynb by nb2svc 0.1.0.
"""

from collections.abc import Sequence

from nb2svc_runtime.cli import run_cli

from ._artifacts import ARTIFACTS
from .settings import INFO, get_settings


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(INFO, get_settings, ARTIFACTS, argv, input_kind="frame")


if __name__ == "__main__":
    raise SystemExit(main())
