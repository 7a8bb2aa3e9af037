"""SIGINT and SIGTERM: one way out (exit 130), never in the middle of a write.

The CLI installs :func:`handled` around a command. The first signal raises
:class:`Interrupted` wherever the main thread is; later ones are ignored, so that the
``finally`` blocks below it (stopping the kernel, stopping the service, removing a
staging folder) run to the end. Libraries sometimes turn the interrupt into an error
of their own on its way up (nbclient reports a dead kernel, then fails its own clean-up
with an AssertionError); :func:`received` tells the CLI that it was an interrupt all
the same.

A write that must be all or nothing runs in :func:`deferred`: a signal that arrives
there is held until the write has finished, then raised. :func:`record_written` keeps
what was written, so that the message after an interrupt says it truthfully.

Nothing here prints; outside :func:`handled` (a library call, a test runner) Python's
own SIGINT handling applies and the other functions do nothing special.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived (a KeyboardInterrupt, so code that cleans up on
    Ctrl-C cleans up on SIGTERM too)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _State:
    def __init__(self) -> None:
        self.active = False
        self.signum: int | None = None
        self.raised = False
        self.depth = 0  # nesting of deferred()
        self.written: list[Path] = []


_state = _State()


def _handler(signum: int, frame: FrameType | None) -> None:
    if _state.signum is None:
        _state.signum = signum
    if _state.depth or _state.raised:
        return  # held until the write ends, or already on its way up: clean-up runs
    _state.raised = True
    raise Interrupted(signum)


@contextmanager
def handled() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    global _state
    _state = _State()
    _state.active = True
    for s in _SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
        _state = _State()


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then raise :class:`Interrupted`."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
    if (
        _state.active
        and not _state.depth
        and _state.signum is not None
        and not _state.raised
    ):
        _state.raised = True
        raise Interrupted(_state.signum)


def received() -> str | None:
    """The name of the signal received inside :func:`handled`, if one was."""
    if not _state.active or _state.signum is None:
        return None
    return signal.Signals(_state.signum).name


def record_written(path: Path) -> None:
    """``path`` was written completely (the writer calls this)."""
    if path not in _state.written:
        _state.written.append(path)


def summary(name: str) -> str:
    """One line: which signal, and truthfully what was written before it."""
    if not _state.written:
        return f"interrupted ({name}); nothing was written"
    places = ", ".join(str(p) for p in _state.written)
    return (
        f"interrupted ({name}); written completely before it: {places}; "
        "nothing after it was written"
    )
