"""Progress on stderr: one line redrawn in place on a terminal, plain lines in a log.

Twenty lines of our own rather than a dependency: the service image carries no
terminal UI library, and a log (CI, a scheduler) wants a dated line now and then, not
carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self,
        total: int | None,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        interval: float | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.total = total
        self.interval = (
            interval if interval is not None else (0.2 if self.tty else 10.0)
        )
        self.rows = self.rejected = self._shown = 0
        self.started = self._last = time.monotonic()

    def start(self) -> None:
        """Count time from now: rows/s are the scoring's, not the start-up's."""
        self.started = self._last = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def line(self) -> str:
        elapsed = max(self.elapsed(), 1e-9)
        done = f"{self.rows:,} rows"
        if self.total:
            done = f"{self.rows:,}/{self.total:,} rows ({100 * self.rows / self.total:.0f}%)"
        rejected = f", {self.rejected:,} rejected" if self.rejected else ""
        return f"scored {done}{rejected} in {elapsed:.1f} s, {self.rows / elapsed:,.0f} rows/s"

    def update(self, rows: int, rejected: int = 0) -> None:
        self.rows += rows
        self.rejected += rejected
        now = time.monotonic()
        if self.enabled and now - self._last >= self.interval:
            self._last = now
            self._show()

    def _show(self) -> None:
        self._shown = self.rows + self.rejected
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and (self.tty or self._shown != self.rows + self.rejected):
            if self.tty:
                self.stream.write("\r\x1b[2K")
            self.stream.write(self.line() + "\n")
            self.stream.flush()
