"""uvicorn's HTTP protocol with bounded request heads, a deadline and JSON errors.

uvicorn bounds neither how long a connection may stay silent before its first request
nor how long a client may take to send a request's headers: a client trickling header
bytes (slowloris) holds its connection for ever. Here a connection must deliver each
request's headers within ``RECEIVE_TIMEOUT`` seconds of opening, or of the first byte
of that request on a kept-alive connection (uvicorn's own keep-alive timeout covers
the silence between requests). A client that started a request and stalled gets a 408
in the service's error envelope, a silent one is disconnected; the body has its own
deadline of the same length in the guard middleware. Malformed HTTP gets a 400 in the
error envelope too, rather than uvicorn's plain-text one.

Nor does uvicorn bound the size of a request's head: httptools keeps a header's bytes
until the header ends, so a client sending one endless header makes the worker hold
all of it. Here the head is measured while it arrives: the request line may hold
``MAX_REQUEST_LINE`` bytes (414), the headers ``MAX_HEADER_BYTES`` bytes and
``MAX_HEADERS`` fields (431); bytes are handed to the parser only while the head is
within its budget, so a worker holds at most that much per connection. A refused
request is answered in the error envelope, then the connection is half-closed and what
the client still sends is read and dropped for up to ``LINGER_SECONDS`` (as nginx's
lingering close does), so that the client reads the answer instead of a reset.

Stopping without resetting anyone: uvicorn closes its listening socket, which resets
the connections the kernel completed but the server had not accepted yet, then closes
every connection without a request in progress, including one whose request is on its
way. ``stop_accepting`` first lets no new connection in (on Linux: a socket filter
drops connection requests; clients retry and are refused once the socket is closed)
and waits until the kernel's queue is empty; then, at uvicorn's shutdown, a
connection with a request arriving answers it with ``Connection: close``, a connection
accepted but silent gets ``FIRST_REQUEST_GRACE`` seconds to send its request, and only
idle ones are closed at once, with a FIN, nothing unread.

The limits come from the service's settings through :data:`LIMITS_VARIABLE`, which
``serve`` sets before uvicorn starts: uvicorn pickles its config for the workers it
spawns, so this class stays module-level and reads the variable once per process.

Framework internals relied on (supported: uvicorn >=0.54,<0.55, httptools >=0.9,<0.10):
``HttpToolsProtocol``'s parser callbacks, ``cycle``, ``shutdown``, ``send_400_response``,
``server_state.default_headers``, ``STATUS_LINE`` and ``Server.servers``.
tests/test_internals_uvicorn_protocol.py (and nb2svc's test_http_limits.py,
test_service_drain.py) fail the day those change under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import os
import socket
import struct
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

if sys.platform != "win32":
    import fcntl
    import termios

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from ..errors import error_body
from ..log import logger

#: JSON of :class:`HeadLimits`' fields, exported by ``serve`` for every worker.
LIMITS_VARIABLE = "NB2SVC_HTTP_LIMITS"


@dataclass(frozen=True)
class HeadLimits:
    """The bounds on a request head: the service settings of the same names."""

    receive_timeout: float = 10.0
    max_request_line: int = 8192
    max_header_bytes: int = 65536
    max_headers: int = 100

    def export(self) -> None:
        """Hand these limits to every worker process started from now on."""
        os.environ[LIMITS_VARIABLE] = json.dumps(asdict(self), sort_keys=True)


@functools.cache
def head_limits() -> HeadLimits:
    """The limits ``serve`` exported (the defaults without it), read once."""
    exported = os.environ.get(LIMITS_VARIABLE)
    return HeadLimits(**json.loads(exported)) if exported else HeadLimits()


#: After refusing a request head: how long what the client still sends is dropped.
LINGER_SECONDS = 2.0
#: The request line besides its target: method, two spaces, HTTP/1.1 (and CRLF).
_LINE_OVERHEAD = len(" HTTP/1.1\r\n") + 1
#: A header line besides its name and value: ": " and CRLF.
_HEADER_OVERHEAD = 4
#: At shutdown, how long a connection accepted but silent may take to send a request.
FIRST_REQUEST_GRACE = 1.0
_SO_ATTACH_FILTER = 26  # Linux
_TCP_INFO_UNACKED = 24  # offset of tcpi_unacked: a listening socket's accept queue


class _Insn(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _Program(ctypes.Structure):
    _fields_ = (("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_Insn)))


#: Classic BPF, run on each TCP segment reaching the listening socket (at the TCP
#: header): drop a connection request (SYN without ACK), keep everything else.
_DROP_SYN = (
    (0x30, 0, 0, 13),  # A = the TCP flags byte
    (0x54, 0, 0, 0x12),  # A &= SYN | ACK
    (0x15, 0, 1, 0x02),  # A == SYN ? next : skip one
    (0x06, 0, 0, 0),  # drop
    (0x06, 0, 0, 0xFFFFFFFF),  # keep
)


class _HeadRefused(Exception):
    """Raised from a parser callback: the request head is over a limit."""


class DeadlineHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; every request head is bounded and has a deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = head_limits()
        self.header_timeout = settings.receive_timeout
        self.max_request_line = settings.max_request_line
        self.max_header_bytes = settings.max_header_bytes
        self.max_headers = settings.max_headers
        # What the parser may be fed of one head: a line and headers at their limits.
        self._head_budget = self.max_request_line + self.max_header_bytes + 2
        self._header_deadline: asyncio.TimerHandle | None = None
        self._request_begun = False
        self._in_head = True  # the next bytes belong to a request head
        self._head_bytes = 0  # bytes of this head handed to the parser
        self._header_count = 0
        self._header_bytes = 0
        self._refusal: tuple[int, str, str] | None = None
        self._lingering = False
        self._stopping = False  # uvicorn is shutting down

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:  # after a refusal: read and dropped
            return
        while self._in_head:
            room = self._head_budget - self._head_bytes
            if room <= 0:  # a line or header still arriving: stop reading it
                self._refusal = self._headers_too_large()
                self._refuse()
                return
            if len(data) <= room:
                self._head_bytes += len(data)
                super().data_received(data)
                return
            piece, data = data[:room], data[room:]
            self._head_bytes += room
            super().data_received(piece)
            if self._lingering or self.transport.is_closing():
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        self._in_head = True
        self._header_count = self._header_bytes = 0
        if self._header_deadline is None:  # a new request on a kept-alive connection
            self._arm()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)  # called again for each piece of the target as it arrives
        method = self.parser.get_method()
        if len(method) + len(self.url) + _LINE_OVERHEAD > self.max_request_line:
            self._refusal = (
                414,
                "uri_too_long",
                f"The request line is longer than {self.max_request_line} bytes.",
            )
            raise _HeadRefused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + _HEADER_OVERHEAD
        if self._header_count > self.max_headers:
            self._refusal = (
                431,
                "headers_too_large",
                f"The request has more than {self.max_headers} header fields.",
            )
            raise _HeadRefused
        if self._header_bytes > self.max_header_bytes:
            self._refusal = self._headers_too_large()
            raise _HeadRefused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._request_begun = False
        self._in_head = False
        super().on_headers_complete()
        if self._stopping and self.cycle is not None:  # the last on this connection
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # what follows on this connection is the next request
        self._head_bytes = 0

    def shutdown(self) -> None:
        """uvicorn stops: close this connection unless a request is on its way."""
        self._stopping = True
        if self._lingering:
            return  # closes by itself
        if self.cycle is not None and not self.cycle.response_complete:
            super().shutdown()  # in progress: answered with Connection: close
            return
        if self._request_begun or self._unread_bytes():
            return  # arriving: answered with Connection: close (on_headers_complete)
        if self.cycle is None:  # accepted, nothing received: its request may follow
            self.loop.call_later(FIRST_REQUEST_GRACE, self._close_if_idle)
            return
        self.transport.close()  # idle between requests, nothing unread: a FIN

    def _close_if_idle(self) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self._request_begun and not self.transport.is_closing():
            self.transport.close()

    def _unread_bytes(self) -> int:
        """Bytes the kernel received on this connection that were not read yet."""
        sock = self.transport.get_extra_info("socket")
        if sock is None or sys.platform == "win32":
            return 0
        try:
            answer = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return 0
        return int(struct.unpack("i", answer)[0])

    def send_400_response(self, msg: str) -> None:
        """Malformed HTTP, or a parser callback refused the head (HttpParserError)."""
        if self._refusal is not None:
            self._refuse()
            return
        self._disarm()
        self._answer_and_close(400, "bad_request", "The request is not valid HTTP/1.1.")

    def _headers_too_large(self) -> tuple[int, str, str]:
        return (
            431,
            "headers_too_large",
            f"The request headers are larger than {self.max_header_bytes} bytes.",
        )

    def _refuse(self) -> None:
        """Answer ``_refusal`` in the error envelope, then a lingering close."""
        assert self._refusal is not None
        self._disarm()
        status, code, message = self._refusal
        logger.warning("request head refused: %s (%d)", code, status)
        self._answer_and_close(status, code, message, linger=True)

    def _arm(self) -> None:
        self._header_deadline = self.loop.call_later(
            self.header_timeout, self._headers_too_late
        )

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_late(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if not self._request_begun:  # nothing sent since the connection opened
            self.transport.close()
            return
        logger.warning(
            "request headers not received within %g s: 408, connection closed",
            self.header_timeout,
        )
        self._answer_and_close(
            408,
            "request_timeout",
            f"The request headers were not received within {self.header_timeout:g} s.",
        )

    def _answer_and_close(
        self, status: int, code: str, message: str, linger: bool = False
    ) -> None:
        request_id = uuid.uuid4().hex
        body = error_body(code, message, request_id)
        head = [STATUS_LINE[status]]  # as uvicorn writes it
        defaults = self.server_state.default_headers  # date, as uvicorn sends
        head += [name + b": " + value + b"\r\n" for name, value in defaults]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-request-id: " + request_id.encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        if linger and self.transport.can_write_eof():
            # Closing with unread bytes would reset the connection, and the client
            # could lose the answer: half-close, drop what it still sends, then close.
            self._lingering = True
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
            return
        self.transport.close()


async def stop_accepting(uvicorn_server: object, timeout: float = 1.0) -> None:
    """Let no new connection in and accept those waiting, before uvicorn stops.

    ``uvicorn_server`` is the running ``uvicorn.Server``. On Linux its listening
    sockets get a filter dropping connection requests, then this waits (at most
    ``timeout`` seconds) until their queues of completed connections are empty, the
    event loop accepting them meanwhile. Elsewhere it does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    listeners = []
    for server in getattr(uvicorn_server, "servers", ()):
        for transport_socket in server.sockets or ():
            with contextlib.suppress(OSError):
                duplicate = os.dup(transport_socket.fileno())
                listeners.append(socket.socket(fileno=duplicate))
    try:
        program = (_Insn * len(_DROP_SYN))(*(_Insn(*insn) for insn in _DROP_SYN))
        fprog = _Program(len(_DROP_SYN), ctypes.cast(program, ctypes.POINTER(_Insn)))
        for listener in listeners:
            try:
                listener.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, bytes(fprog))
            except OSError as exc:
                logger.warning("cannot stop new connections before closing: %s", exc)
                return
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            await asyncio.sleep(0.01)  # a handshake under way completes meanwhile
            if not any(_queued(listener) for listener in listeners):
                return
    finally:
        for listener in listeners:
            listener.close()  # a duplicate: the listening socket stays open


def _queued(listener: socket.socket) -> int:
    """Connections the kernel completed that wait in ``listener``'s accept queue."""
    try:
        info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except OSError:
        return 0
    return int(struct.unpack_from("I", info, _TCP_INFO_UNACKED)[0])
