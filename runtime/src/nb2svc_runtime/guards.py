"""The service's guards, as one pure ASGI middleware: cheap on every request.

In order: request id (honoured or generated, always returned), API key (every path
but the probes, and the monitoring paths unless waived), concurrency
limit (503 + Retry-After), request body read under a size limit and a deadline (413,
408; chunked bodies too, memory bounded by the limit), JSON nesting depth (422; not for Arrow bodies), a
per-request timeout (504), and draining on shutdown. Every error it answers is the
service's JSON error envelope; none echoes the request. The request log and the
metrics are ``monitoring``'s.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import RequestError, error_body
from .log import logger

#: Paths that need no API key and are exempt from the concurrency limit and timeout.
PROBES = frozenset({"/healthz", "/readyz"})
#: Monitoring paths (and everything under /monitoring/): behind the API key like any
#: route, unless ``Limits.public_monitoring`` waives it for them.
MONITORING = frozenset({"/metrics", "/metadata"})
MONITORING_PREFIX = "/monitoring/"
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_STRUCTURE = bytes.maketrans(b"[{]}", b"(())")
#: A binary body: never measured for JSON nesting (its bytes may hold any bracket).
ARROW_STREAM = b"application/vnd.apache.arrow.stream"
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
    max_concurrency: int = 64
    request_timeout: float = 30.0
    receive_timeout: float = 10.0
    api_key: str | None = None
    public_monitoring: bool = False
    debug_errors: bool = False


@dataclass
class ServiceState:
    """What the drain waits for and the probes report; one per worker process.

    Readiness itself is ``app.state.ready``, set once the model is loaded.
    """

    failed: bool = False
    draining: bool = False
    active: int = 0  # requests in progress, probes included
    in_flight: int = 0  # requests in progress that count against the limit
    last_done: float = field(default_factory=time.monotonic)


def json_too_deep(body: bytes, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` (strings don't count).

    A few C-speed passes over the bytes, whatever their size: drop escaped quotes,
    keep only brackets and quotes, drop the strings, then remove the innermost pairs
    once per level; pairs left after ``limit`` passes nest too deep. Malformed JSON
    is left for the parser to refuse.
    """
    if b"\\" in body:  # escaped backslashes first, then escaped quotes
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = body.translate(_STRUCTURE, _NOT_STRUCTURE)
    if brackets.count(b"(") <= limit:
        return False
    if b'"' in brackets:
        # Strings without brackets are now '""': drop them. A string holding brackets
        # leaves a quote behind; then pair the quotes properly.
        without = brackets.replace(b'""', b"")
        if b'"' in without:
            without = b"".join(brackets.split(b'"')[::2])
        brackets = without
    for _ in range(limit):
        inner = brackets.replace(b"()", b"")
        if len(inner) == len(brackets):
            return False
        brackets = inner
    return b"()" in brackets


class GuardMiddleware:
    def __init__(self, app: ASGIApp, limits: Limits, state: ServiceState) -> None:
        self.app = app
        self.limits = limits
        self.state = state
        self._api_key = limits.api_key.encode() if limits.api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        incoming = headers.get(b"x-request-id")
        if incoming is not None and _VALID_REQUEST_ID.fullmatch(incoming):
            request_id = incoming.decode("ascii")
        else:
            request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        path: str = scope["path"]
        probe = path in PROBES
        state = self.state
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                extra = [(b"x-request-id", request_id.encode("ascii"))]
                if state.draining:
                    extra.append((b"connection", b"close"))
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        async def fail(error: RequestError) -> None:
            for message in _error_messages(error, request_id):
                await send_with_headers(message)

        counted = not probe
        deadline: asyncio.Timeout | None = None
        state.active += 1
        if counted:
            state.in_flight += 1
        try:
            self._admit(path, probe, headers)
            if probe:
                await self.app(scope, receive, send_with_headers)
                return
            replay = await self._read_body(scope, headers, receive)
            if replay is None:  # the client went away while sending
                return
            async with asyncio.timeout(self.limits.request_timeout) as deadline:
                await self.app(scope, replay, send_with_headers)
        except RequestError as error:
            if not response_started:
                await fail(error)
        except TimeoutError as exc:
            if deadline is None or not deadline.expired():  # not our deadline
                await self._unhandled(exc, request_id, response_started, fail)
            else:
                await self._timed_out(request_id, response_started, fail)
        except Exception as exc:
            await self._unhandled(exc, request_id, response_started, fail)
        finally:
            state.active -= 1
            if counted:
                state.in_flight -= 1
            state.last_done = time.monotonic()

    def _admit(self, path: str, probe: bool, headers: dict[bytes, bytes]) -> None:
        """Refuse a request without the API key (401), or over the limit (503)."""
        if (
            self._api_key is not None
            and not probe
            and not self._public(path)
            and not self._authorised(headers)
        ):
            raise RequestError(
                401,
                "unauthorized",
                "A valid API key is required (Authorization: Bearer <key> or "
                "X-API-Key).",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not probe and self.state.in_flight > self.limits.max_concurrency:
            raise RequestError(
                503,
                "overloaded",
                "Too many requests in progress; retry shortly.",
                headers={"Retry-After": "1"},
            )

    async def _timed_out(
        self,
        request_id: str,
        response_started: bool,
        fail: Callable[[RequestError], Awaitable[None]],
    ) -> None:
        logger.warning(
            "request timed out after %gs (request_id=%s)",
            self.limits.request_timeout,
            request_id,
        )
        if not response_started:
            timeout = self.limits.request_timeout
            message = f"The request took longer than {timeout:g} s."
            await fail(RequestError(504, "timeout", message))

    async def _unhandled(
        self,
        exc: Exception,
        request_id: str,
        response_started: bool,
        fail: Callable[[RequestError], Awaitable[None]],
    ) -> None:
        """A bug, not the notebook's code failing: log its type, never its message."""
        logger.error(
            "unhandled error: %s (request_id=%s)",
            type(exc).__name__,
            request_id,
            exc_info=exc if self.limits.debug_errors else None,
        )
        if not response_started:
            await fail(RequestError(500, "internal_error", "Internal server error."))

    def _public(self, path: str) -> bool:
        """A monitoring path, when the key is waived for them."""
        return self.limits.public_monitoring and (
            path in MONITORING or path.startswith(MONITORING_PREFIX)
        )

    def _authorised(self, headers: dict[bytes, bytes]) -> bool:
        assert self._api_key is not None
        given = headers.get(b"x-api-key")
        if given is None:
            scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
            if scheme.lower() != b"bearer":
                return False
            given = token.strip()
        return hmac.compare_digest(given, self._api_key)

    async def _read_body(
        self, scope: Scope, headers: dict[bytes, bytes], receive: Receive
    ) -> Receive | None:
        """Read the whole body under the size limit and deadline; replay it to the app.

        None when the client disconnected before the body was complete.
        """
        limits = self.limits
        declared = headers.get(b"content-length")
        chunked = b"transfer-encoding" in headers
        if declared is None and not chunked and scope["method"] in _NO_BODY_METHODS:
            return receive
        if declared is not None and not chunked:
            _check_declared_size(declared, limits.max_body_bytes)
        chunks: list[bytes] = []
        received = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.receive_timeout
        more_body = True
        while more_body:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestError(
                    408,
                    "request_timeout",
                    f"The request body was not received within {limits.receive_timeout:g} s.",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] != "http.request":
                return None
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if received > limits.max_body_bytes:
                raise _too_large(limits.max_body_bytes)
            if chunk:
                chunks.append(chunk)
            more_body = message.get("more_body", False)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if (
            body
            and _media_type(headers) != ARROW_STREAM
            and json_too_deep(body, limits.max_json_depth)
        ):
            raise RequestError(
                422,
                "invalid_request",
                f"The JSON body nests deeper than {limits.max_json_depth} levels.",
            )
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


def _check_declared_size(declared: bytes, limit: int) -> None:
    """Refuse a body whose Content-Length is over the limit before reading it."""
    try:
        size = int(declared)
    except ValueError:
        size = -1
    if size > limit:
        raise _too_large(limit)


def _error_messages(error: RequestError, request_id: str) -> list[Message]:
    """The ASGI messages answering ``error`` in the error envelope."""
    body = error_body(error.code, error.message, request_id, error.details)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
    ]
    return [
        {"type": "http.response.start", "status": error.status, "headers": headers},
        {"type": "http.response.body", "body": body},
    ]


def _too_large(limit: int) -> RequestError:
    return RequestError(
        413,
        "payload_too_large",
        f"The request body is larger than {limit} bytes.",
        headers={"Connection": "close"},
    )


def _media_type(headers: dict[bytes, bytes]) -> bytes:
    return headers.get(b"content-type", b"").partition(b";")[0].strip().lower()


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """The request's headers by lower-case name (the last one of a repeated name)."""
    return dict(scope["headers"])
