"""Micro-batching: concurrent requests' rows scored in one call to the pipeline.

Requests that arrive while every worker thread is busy wait in a queue. When a thread
frees up, everything queued (up to ``max_rows`` rows) goes through the notebook's
pipeline as one table and the result is split back by request. Nothing waits for
company: an idle service scores a lone request at once, exactly as without batching.
Used only when the notebook's output has one item per input row, the same condition
under which ``/predict/batch`` makes one vectorised call.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

#: rows of many requests -> one result per request (raises if not row-wise)
ScoreParts = Callable[[list[Any]], list[bytes]]
#: rows of one request -> its serialised result
ScoreOne = Callable[[Any], bytes]


class MicroBatcher:
    def __init__(
        self,
        executor: Executor,
        threads: int,
        score_parts: ScoreParts,
        score_one: ScoreOne,
        max_rows: int,
    ) -> None:
        self._executor = executor
        self._free = threads
        self._score_parts = score_parts
        self._score_one = score_one
        self._max_rows = max_rows
        self._queue: deque[tuple[Any, asyncio.Future[bytes]]] = deque()

    async def score(self, rows: Any) -> bytes:
        """The serialised result for one request's rows (raises what scoring raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._queue.append((rows, future))
        self._dispatch(loop)
        return await future  # cancelled by a timeout: the batch just skips it

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._free and self._queue:
            batch: list[tuple[Any, asyncio.Future[bytes]]] = []
            count = 0
            while self._queue:
                rows, future = self._queue[0]
                if batch and count + len(rows) > self._max_rows:
                    break
                self._queue.popleft()
                if not future.done():  # not given up on while it waited
                    batch.append((rows, future))
                    count += len(rows)
            if not batch:
                return
            self._free -= 1
            work = self._executor.submit(self._run, [rows for rows, _ in batch])

            def finished(
                work: Future[list[bytes | Exception]],
                batch: list[tuple[Any, asyncio.Future[bytes]]] = batch,
            ) -> None:
                loop.call_soon_threadsafe(self._finish, loop, batch, work)

            work.add_done_callback(finished)

    def _finish(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[Any, asyncio.Future[bytes]]],
        work: Future[list[bytes | Exception]],
    ) -> None:
        self._free += 1
        try:
            outcomes = work.result()
        except BaseException as exc:  # the executor shut down under it
            outcomes = [RuntimeError(type(exc).__name__)] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        self._dispatch(loop)

    def _run(self, parts: list[Any]) -> list[bytes | Exception]:
        """In a worker thread: one call for all; if it fails, each request alone."""
        if len(parts) > 1:
            try:
                results: list[bytes | Exception] = list(self._score_parts(parts))
                if len(results) == len(parts):
                    return results
            except Exception:
                pass  # maybe one request's rows: find out which, one by one
        outcomes: list[bytes | Exception] = []
        for rows in parts:
            try:
                outcomes.append(self._score_one(rows))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes
