"""The window of recent requests that drift is measured on."""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any

from .. import profile as drift_stats


class Window:
    """The most recent scored inputs and their responses, at least ``size`` rows.

    Requests are kept as they arrived (validated bodies and response bytes): adding
    one is an append under a lock; turning them into rows waits for a measurement.
    Memory is bounded: requests older than the newest ``size`` rows are dropped.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: deque[tuple[list[Any], bytes, bool, int]] = deque()
        self._rows = 0
        self._lock = threading.Lock()
        self.version = 0  # bumped by every add

    def add(self, items: list[Any], content: bytes, batch: bool, rows: int) -> None:
        with self._lock:
            entries = self._entries
            entries.append((items, content, batch, rows))
            self._rows += rows
            self.version += 1
            while self._rows - entries[0][3] >= self.size:
                self._rows -= entries.popleft()[3]

    def snapshot(self) -> tuple[int, list[tuple[list[Any], bytes, bool, int]]]:
        with self._lock:
            return self.version, list(self._entries)

    @property
    def rows(self) -> int:
        return self._rows


def _plain(value: Any) -> Any:
    """A validated body as plain JSON values (models by their field aliases)."""
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(by_alias=True, mode="json")
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def window_rows(
    entries: list[tuple[list[Any], bytes, bool, int]], size: int, kind: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The newest ``size`` input rows and prediction rows of the window's requests."""
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for items, content, batch, _ in entries:
        responses = json.loads(content)
        if not batch:
            responses = [responses]
        if not isinstance(responses, list) or len(responses) != len(items):
            continue
        for item, response in zip(items, responses, strict=True):
            rows = drift_stats.input_rows(_plain(item), kind)
            inputs += rows
            outputs += drift_stats.output_rows(response, len(rows))
    return inputs[-size:], outputs[-size:]
