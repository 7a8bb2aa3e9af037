"""Running uvicorn: one server, or several worker processes under its supervisor.

Framework internals relied on (supported: uvicorn >=0.54,<0.55): ``Multiprocess`` (the
supervisor ``uvicorn.run(workers=n)`` uses, kept here for its workers' exit codes),
``Server.started``, and ``STARTUP_FAILURE``, the exit code of a worker whose start-up
failed. runtime/tests/test_internals_uvicorn_server.py fails the day they change.
"""

from __future__ import annotations

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

__all__ = ["STARTUP_FAILURE", "run_server", "run_workers"]


def run_workers(config: uvicorn.Config) -> int:
    """``config.workers`` processes on one socket; exit 3 if one failed to start."""
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        return STARTUP_FAILURE
    return 0


def run_server(config: uvicorn.Config) -> int:
    """One process; exit 3 if the app never started (a failed load, a busy port)."""
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else STARTUP_FAILURE
