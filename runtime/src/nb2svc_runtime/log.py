"""The service's logger, named after the generated package (``<package>``).

Operators filter on the package's name, as before the runtime existed, so the runtime's
modules log through :data:`logger`, which :func:`name_service_logger` points at the
service's logger once the app or the command line knows the package. One process serves
one package.
"""

from __future__ import annotations

import logging
from typing import Any


class ServiceLogger:
    """A stand-in for ``logging.getLogger(<package>)``: forwards every call to it."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("nb2svc_runtime")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.logger, name)


logger = ServiceLogger()


def name_service_logger(package: str) -> logging.Logger:
    """Log the runtime's messages under ``package`` from now on; returns that logger."""
    logger.logger = logging.getLogger(package)
    return logger.logger
