"""The service's error envelope: every error is ``{"error": {"code", "message",
"request_id", "details"?}}``, raised as :class:`RequestError` anywhere in a request.
"""

from __future__ import annotations

import orjson

REQUEST_ID_HEADER = "X-Request-ID"


class RequestError(Exception):
    """An error answered with the JSON error envelope (raised by the routes too)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, object]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_body(
    code: str,
    message: str,
    request_id: str,
    details: list[dict[str, object]] | None = None,
) -> bytes:
    error: dict[str, object] = {
        "code": code,
        "message": message,
        "request_id": request_id,
    }
    if details is not None:
        error["details"] = details
    return orjson.dumps({"error": error})
