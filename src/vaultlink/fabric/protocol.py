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
    _hdr_bytes = 0
    _too_large = False
    _refused = False
    routing_domain = ""  # set per listener: the namespace its socket lives in (netns mode), "" otherwise

    def _limits(self) -> tuple[float, int]:
        return float(getattr(self.app, "header_timeout", 10.0)), int(getattr(self.app, "max_header_bytes", 65536))

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = self.loop.call_later(self._limits()[0], self._header_deadline)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _nodelay(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.routing_domain:
            self.scope["vaultlink.domain"] = self.routing_domain  # type: ignore[typeddict-unknown-key]
        self._hdr_bytes = 0
        self._arm()

    def _count(self, n: int) -> None:
        self._hdr_bytes += n
        if self._hdr_bytes > self._limits()[1]:
            self._too_large = True
            raise _HeaderTooLarge()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        err: E.VaultlinkError
        if self._too_large:
            err = E.RequestHeaderTooLarge(
                f"the request line and headers are over {self._limits()[1]} bytes; send fewer or shorter headers."
            )
        else:
            err = E.MalformedHttpRequest()
        self._refuse(err)

    def _header_deadline(self) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: the body timeout applies, not this one
        self._refuse(E.RequestTimeout(
            f"no complete request line and headers within {self._limits()[0]:g} seconds; the connection is closed."
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
