"""Start-up and shutdown: load the model in the background, drain on SIGTERM.

The server listens at once: ``/healthz`` answers while the model loads and ``/readyz``
says 503 until the artifacts are verified and loaded. A failed load is one log line
and, under uvicorn, exit code 3. On SIGTERM (or SIGINT) the worker stops being ready,
asks clients to close their connections, keeps serving until requests have stopped
arriving (at most ``drain_seconds``), lets no new connection in and accepts those the
kernel holds (``stop_accepting``), then lets uvicorn finish what is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from ._internals.uvicorn_protocol import stop_accepting
from .artifacts import ArtifactError
from .guards import ServiceState
from .log import logger

STARTUP_FAILURE = 3  # uvicorn's exit code for a start-up failure
#: No request for this long, counted from the signal at the earliest: the drain is
#: over. A worker that was idle when the signal came still waits this long, for a
#: client may hold an idle connection to it and use it before it sees /readyz.
QUIET_SECONDS = 1.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

SignalHandler = Callable[[int, FrameType | None], Any]

#: Set by ``serve`` when it starts several workers: a folder where every worker that
#: has loaded its model keeps a file named after its process id, and their number.
READY_DIR_VARIABLE = "NB2SVC_READY_DIR"
WORKERS_VARIABLE = "NB2SVC_WORKERS"


class WorkerReadiness:
    """Readiness of the whole service when worker processes share its port.

    Any worker may answer ``/readyz`` and any may get the next request, so a worker
    says ready only once every worker has loaded its model (a live process' file in
    the folder ``serve`` made). One process, or no ``serve``: always true.
    """

    def __init__(self) -> None:
        folder = os.environ.get(READY_DIR_VARIABLE)
        self.folder = folder or None
        self.workers = int(os.environ.get(WORKERS_VARIABLE) or 1)

    def mark(self, ready: bool) -> None:
        """Record this worker as ready (its model is loaded) or as not ready."""
        if self.folder is None:
            return
        marker = os.path.join(self.folder, str(os.getpid()))
        if ready:
            with open(marker, "w"):
                pass
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(marker)

    def all_ready(self) -> bool:
        if self.folder is None:
            return True
        live = 0
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder) as it:
            for entry in it:
                try:
                    os.kill(int(entry.name), 0)  # a worker that died is not counted
                except (ValueError, ProcessLookupError):
                    continue
                except PermissionError:
                    pass
                live += 1
        return live >= self.workers


def _uvicorn_handler(signum: int) -> SignalHandler | None:
    """uvicorn's handler for ``signum`` when uvicorn runs this process, else None."""
    if threading.current_thread() is not threading.main_thread():
        return None  # e.g. a test client running the app in a thread
    handler = signal.getsignal(signum)
    owner = getattr(handler, "__self__", None)
    if callable(handler) and type(owner).__module__.startswith("uvicorn."):
        return handler
    return None


async def load(
    load_resources: Callable[[], None],
    on_loaded: Callable[[], Awaitable[None]],
    state: ServiceState,
    debug_errors: bool,
    env_prefix: str,
    exit_on_failure: bool,
) -> bool:
    """Verify and load the model off the event loop; True once ready.

    On failure: one log line, then exit code 3 with ``exit_on_failure`` (the process
    is a server that can never become ready), else False.
    """
    started = time.perf_counter()
    try:
        await asyncio.get_running_loop().run_in_executor(None, load_resources)
        await on_loaded()
    except Exception as exc:
        state.failed = True
        if isinstance(exc, ArtifactError):  # names the file and both hashes
            logger.error("start-up stopped: %s", exc)
        else:
            hint = "" if debug_errors else f"; set {env_prefix}DEBUG_ERRORS=1 to log it"
            logger.error(
                "start-up stopped: loading the model raised %s%s",
                type(exc).__name__,
                hint,
                exc_info=exc if debug_errors else None,
            )
        if exit_on_failure:
            logging.shutdown()
            os._exit(STARTUP_FAILURE)
        return False
    # Everything loaded so far lives as long as the process: keep the garbage
    # collector from walking it again and again (each full pass over a model and
    # its libraries would stall requests for tens of milliseconds).
    gc.collect()
    gc.freeze()
    logger.info("model loaded; ready in %.2f s", time.perf_counter() - started)
    return True


def install_warning_log(debug_errors: bool) -> None:
    """Log Python warnings as one line naming their category and module.

    Python prints a warning with its file path and source line, and its text may hold
    input values; neither goes to the log unless DEBUG_ERRORS allows it.
    """
    if debug_errors:
        logging.captureWarnings(True)
        return

    logged: set[tuple[type[Warning], str]] = set()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if (category, filename) in logged:  # once per kind and place, not per request
            return
        logged.add((category, filename))
        module = next(
            (
                name
                for name, mod in list(sys.modules.items())
                if getattr(mod, "__file__", None) == filename
            ),
            "an unknown module",
        )
        logger.warning("%s raised in %s", category.__name__, module)

    warnings.showwarning = show


def install_drain(state: ServiceState, drain_seconds: float) -> bool:
    """Put a drain in front of uvicorn's SIGTERM/SIGINT handling.

    True when uvicorn runs this process (its handlers were found), else nothing is
    changed and False.
    """
    loop = asyncio.get_running_loop()
    installed = False
    for signum in _STOP_SIGNALS:
        forward = _uvicorn_handler(signum)
        if forward is None:
            continue
        installed = True

        def on_signal(
            sig: int, frame: FrameType | None, forward: SignalHandler = forward
        ) -> None:
            if state.draining or drain_seconds <= 0:  # a second signal: stop now
                state.draining = True
                forward(sig, frame)
                return
            state.draining = True
            logger.info(
                "%s received: draining (not ready; stopping once requests stop "
                "arriving, at most %g s)",
                signal.Signals(sig).name,
                drain_seconds,
            )
            loop.call_soon_threadsafe(_start_drain, state, drain_seconds, forward, sig)

        signal.signal(signum, on_signal)
    return installed


_drains: set[asyncio.Task[None]] = set()


def _start_drain(
    state: ServiceState, drain_seconds: float, forward: SignalHandler, sig: int
) -> None:
    task = asyncio.get_running_loop().create_task(
        _drain(state, drain_seconds, forward, sig)
    )
    _drains.add(task)
    task.add_done_callback(_drains.discard)


async def _drain(
    state: ServiceState, drain_seconds: float, forward: SignalHandler, sig: int
) -> None:
    started = time.monotonic()
    give_up = started + drain_seconds
    while time.monotonic() < give_up:
        quiet = time.monotonic() - max(state.last_done, started) >= QUIET_SECONDS
        if state.active == 0 and quiet:
            break
        await asyncio.sleep(0.05)
    # No new connection from here on, and none left unaccepted: closing the listening
    # socket then resets no client that has already sent its request.
    await stop_accepting(getattr(forward, "__self__", None))
    forward(sig, None)  # uvicorn: stop listening, finish in-flight requests, exit
