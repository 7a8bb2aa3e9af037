"""The monitoring middleware: times, counts and logs every request."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .monitor import Monitor

#: Most bytes of an error response read to find its error code.
MAX_ERROR_BODY = 4096


class MonitoringMiddleware:
    """Times every request, counts it by route and status (errors by kind), and logs
    it as one JSON line. Pure ASGI: no body is read, error bodies excepted."""

    def __init__(self, app: ASGIApp, monitor: Monitor) -> None:
        self.app = app
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        error: bytearray | None = None

        async def send_and_watch(message: Message) -> None:
            nonlocal status, error
            if message["type"] == "http.response.start":
                status = message["status"]
                if status >= 400:
                    error = bytearray()
            elif error is not None and len(error) < MAX_ERROR_BODY:
                error += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except Exception:
            status, error = 500, bytearray(b'{"error":{"code":"internal_error"}}')
            raise
        finally:
            self.monitor.record(
                scope,
                status,
                time.perf_counter() - started,
                bytes(error) if error is not None else None,
            )
