"""The HTTP/1.1 protocol under every listener: uvicorn's httptools protocol with the limits it lacks.

- a header deadline: a connection must finish sending a request's line and headers within
  ``header_timeout`` seconds of connecting (or of starting the request) — idle and slow-header
  (slowloris) clients get ``408 RequestTimeout`` and are closed;
- a cap on the request line + headers (``max_header_bytes``): ``431 RequestHeaderTooLarge``;
- malformed HTTP is answered ``400 MalformedHttpRequest``.

These refusals happen before any ASGI app runs; each is still counted in the metrics and audited
through the app's ``http_refused`` hook (the fabric), with the local and peer addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from vaultlink import errors as E


class _HeaderTooLarge(Exception):
    pass


class GuardedProtocol(HttpToolsProtocol):
    _timer: asyncio.TimerHandle | None = None
    _deadline: float | None = None  # when the request line and headers must be complete; None: not waiting
    _hdr_bytes = 0
    _hdr_timeout = 10.0
    _hdr_max = 65536
    _too_large = False
    _refused = False
    routing_domain = ""  # set per listener: the namespace its socket lives in (netns mode), "" otherwise

    _idle: float | None = None  # when an idle keep-alive connection is closed; None: not idle

    # One timer per connection, not one or two per request: a request only notes its header deadline, an
    # answered one the end of the keep-alive wait (uvicorn armed and cancelled a timer of its own for each
    # request), and the timer, when it fires, acts on what is due or sleeps until the next deadline (a
    # keep-alive connection answering thousands of requests a second re-arms it about once per timeout).
    def _arm(self) -> None:
        self._deadline = self.loop.time() + self._hdr_timeout
        self._wake_by(self._deadline)

    def _wake_by(self, when: float) -> None:
        """The timer fires at ``when`` or earlier (re-armed only when it was set for later)."""
        timer = self._timer
        if timer is None or timer.when() > when:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(when, self._on_timer)

    def _disarm(self) -> None:
        self._deadline = self._idle = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def on_response_complete(self) -> None:
        """uvicorn's, with the keep-alive wait on the connection's one timer."""
        out = self.cycle.transport if self.cycle is not None else None
        if isinstance(out, _HeadWithBody):
            out.flush()  # a response without body parts (HEAD): its head goes now
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:  # a pipelined request waits: start it
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle = self.loop.time() + self.timeout_keep_alive
        self._wake_by(self._idle)

    def _on_timer(self) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing():
            return
        due = [d for d in (self._deadline, self._idle) if d is not None]
        if not due:
            return
        now = self.loop.time()
        if now < min(due):  # a later deadline than the one the timer was set for: sleep until it
            self._timer = self.loop.call_at(min(due), self._on_timer)
            return
        if self._idle is not None and now >= self._idle:  # an idle keep-alive connection: closed quietly
            self.transport.close()
            return
        self._header_deadline()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._hdr_timeout = float(getattr(self.app, "header_timeout", 10.0))
        self._hdr_max = int(getattr(self.app, "max_header_bytes", 65536))
        _nodelay(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        HttpToolsProtocol.on_message_begin(self)
        if self.routing_domain:
            self.scope["vaultlink.domain"] = self.routing_domain  # type: ignore[typeddict-unknown-key]
        self._hdr_bytes = 0
        self._idle = None  # the keep-alive wait is over: a request has begun
        self._arm()

    def _count(self, n: int) -> None:
        self._hdr_bytes += n
        if self._hdr_bytes > self._hdr_max:
            self._too_large = True
            raise _HeaderTooLarge()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        HttpToolsProtocol.on_url(self, url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        HttpToolsProtocol.on_header(self, name, value)

    def on_headers_complete(self) -> None:
        self._deadline = None  # the timer, when it fires, finds nothing late and is not re-armed
        before = self.cycle
        HttpToolsProtocol.on_headers_complete(self)
        cycle = self.cycle
        if cycle is not None and cycle is not before:
            cycle.transport = _HeadWithBody(self.transport, cycle, self.loop)  # type: ignore[assignment]

    def on_body(self, body: bytes) -> None:
        """uvicorn's, with reading paused only once ``BODY_HIGH_WATER`` bytes wait (uvicorn's 64 KiB paused and
        resumed the TLS reader for every socket read: a message, a wake-up and a resume per 64-256 KiB)."""
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.body += body
        if len(cycle.body) > BODY_HIGH_WATER:
            self.flow.pause_reading()
        cycle.message_event.set()

    def send_400_response(self, msg: str) -> None:
        err: E.VaultlinkError
        if self._too_large:
            err = E.RequestHeaderTooLarge(
                f"the request line and headers are over {self._hdr_max} bytes; send fewer or shorter headers."
            )
        else:
            err = E.MalformedHttpRequest()
        self._refuse(err)

    def _header_deadline(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: the body timeout applies, not this one
        self._refuse(E.RequestTimeout(
            f"no complete request line and headers within {self._hdr_timeout:g} seconds; the connection is closed."
        ))

    def _refuse(self, err: E.VaultlinkError) -> None:
        if self._refused:
            return
        self._refused = True
        self._disarm()
        body = json.dumps({"error": err.to_dict()}).encode()
        head = [STATUS_LINE[err.http_status],
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"x-error-code: " + err.code.encode() + b"\r\n",
                b"connection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        hook = getattr(self.app, "http_refused", None)
        if hook is not None:
            hook(self.server, self.client, err, self.routing_domain)


# request body bytes held for a handler that has not read them yet before the connection stops reading (per
# connection, besides one socket read of at most 256 KiB)
BODY_HIGH_WATER = 1 << 20
_JOIN_LIMIT = 64 * 1024  # a body part up to this size is copied behind the held head; a larger one follows it


class _HeadWithBody:
    """The transport one response is written to: its status line and headers are held until the first part of
    its body and go out with it in one write: one TLS record and one ``send`` for a small answer, not two
    (with ``TCP_NODELAY`` each write is a segment of its own). A head is held at most until the event loop's
    next turn (a streamed body whose first part comes later does not delay its head); anything written before
    the response starts (``100 Continue``) goes out at once; ``close`` and the response's end send a head
    still held."""

    __slots__ = ("_armed", "_cycle", "_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._cycle = cycle
        self._loop = loop
        self._head: bytes | None = None
        self._armed = True

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if len(data) <= _JOIN_LIMIT:
                self._transport.write(head + data)
                return
            self._transport.write(head)
        elif self._armed and self._cycle.response_started:
            self._armed = False
            self._head = data
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        head, self._head = self._head, None
        if head is not None and not self._transport.is_closing():
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _nodelay(transport: asyncio.Transport) -> None:
    """Disable Nagle: asyncio only does it for sockets created with proto=IPPROTO_TCP, and listeners made
    with ``socket.socket(AF_INET, SOCK_STREAM)`` accept proto-0 sockets; without this every response that is
    written in two parts (head, then body) waits ~40 ms for the client's delayed ACK."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def install(uv_config: Any) -> None:
    """Use the guarded protocol for every listener the runtime opens from now on."""
    uv_config.http_protocol_class = GuardedProtocol
