"""ASGI plumbing of the request pipeline: request facts from the scope, error answers, and running an app
with its body bounded in size, pace and total time (the pipeline answers, and closes, when it is not)."""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vaultlink import errors as E


def host_of(scope: Scope) -> str:
    for k, v in scope.get("headers", ()):
        if k == b"host":
            host = v.decode("latin-1").strip().lower()
            if host.startswith("["):
                return host
            return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")
    return ""


def has_body(scope: Scope) -> bool:
    for k, v in scope.get("headers", ()):
        if k == b"transfer-encoding" or (k == b"content-length" and v.strip() != b"0"):
            return True
    return False


def content_length(scope: Scope) -> int | None:
    for k, v in scope.get("headers", ()):
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return -1
    return None


async def send_error(send: Send, err: E.VaultlinkError, close: bool = False) -> None:
    body = json.dumps({"error": err.to_dict()}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-error-code", err.code.encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": err.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BrokenAnswer(Exception):
    """An answer's body failed after its head was sent (a blob read a piece at a time): the pipeline audits the
    request with ``err``'s code, then the connection is closed, so the client gets fewer bytes than announced."""

    def __init__(self, err: E.VaultlinkError) -> None:
        super().__init__(err.message)
        self.err = err


class _State:
    __slots__ = ("aborted", "broken", "code", "received", "started", "status")

    def __init__(self) -> None:
        self.status = 0
        self.code: str | None = None
        self.started = False
        self.received = 0
        self.aborted = False
        self.broken: BrokenAnswer | None = None


class _Aborted(Exception):
    """The pipeline answered the request itself (body too slow or too large)."""


# A large body goes to a TLS transport in pieces: asyncio's TLS layer encrypts all it is given into one
# growing memory buffer before sending any of it (a 16 MiB pack: reallocated and copied many times over);
# in pieces it encrypts and sends as it goes (measured: bench/README-tls.md).
TLS_PIECE = 256 * 1024


async def _send_in_pieces(send: Send, body: bytes, more_body: bool) -> None:
    view = memoryview(body)
    for start in range(0, len(view), TLS_PIECE):
        last = start + TLS_PIECE >= len(view)
        await send({"type": "http.response.body", "body": view[start:start + TLS_PIECE],
                    "more_body": more_body or not last})


async def run_bounded(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, max_body: int, body_timeout: float,
    body_deadline_s: float,
) -> _State:
    """Run ``app``; returns what it answered (``aborted`` when the pipeline refused the body itself)."""
    state = _State()


    async def abort(err: E.VaultlinkError) -> None:
        """Answer with ``err`` (closing the connection) and ignore whatever the handler sends after."""
        if not state.started:
            await send_error(send, err, close=True)
            state.started = True
        state.aborted = True
        state.code, state.status = err.code, err.http_status
        raise _Aborted()

    deadline = time.monotonic() + body_deadline_s

    async def recv() -> Message:
        left = deadline - time.monotonic()
        if left <= 0:
            await abort(E.RequestTimeout(
                f"the request body took longer than {body_deadline_s:g} seconds in all; the "
                "connection is closed."
            ))
        try:
            async with asyncio.timeout(min(body_timeout, max(left, 0.001))):  # a timer, not wait_for's task
                msg = await receive()
        except TimeoutError:
            await abort(E.RequestTimeout(
                f"no part of the request body arrived for {body_timeout:g} seconds; the connection is closed."
            ))
        if msg["type"] == "http.request":
            state.received += len(msg.get("body", b""))
            if state.received > max_body:
                await abort(E.PayloadTooLarge(f"the request body is over the limit of {max_body} bytes."))
        return msg

    tls = scope.get("scheme") == "https"

    async def snd(msg: Message) -> None:
        if state.aborted:
            return
        if msg["type"] == "http.response.start":
            state.status = msg["status"]
            state.started = True
            for k, v in msg.get("headers", ()):
                if k == b"x-error-code":
                    state.code = v.decode()
        body = msg.get("body", b"")
        if tls and msg["type"] == "http.response.body" and len(body) > TLS_PIECE:
            await _send_in_pieces(send, body, bool(msg.get("more_body", False)))
            return
        await send(msg)

    try:
        await app(scope, recv, snd)
    except BrokenAnswer as exc:  # audited by the caller, which then closes the connection (``state.broken``)
        state.broken, state.code, state.status = exc, exc.err.code, exc.err.http_status
    except Exception:
        if not state.aborted:  # the app's own failure (it has answered 500 already)
            raise
    return state


class BodyReader:
    """A request body a part at a time (each part as the server received it), at most ``limit`` bytes, each part
    within ``body_timeout`` seconds and all of them within ``deadline_s`` of the reader's making; ``PayloadTooLarge`` /
    ``RequestTimeout`` otherwise. ``part`` returns None at the end."""

    __slots__ = ("_body_timeout", "_deadline", "_done", "_limit", "_receive", "size")

    def __init__(self, receive: Receive, limit: int, body_timeout: float, deadline_s: float) -> None:
        self._receive, self._limit, self._body_timeout = receive, limit, body_timeout
        self._deadline = time.monotonic() + deadline_s
        self._done = False
        self.size = 0

    async def part(self) -> bytes | None:
        if self._done:
            return None
        left = self._deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(0.001, min(self._body_timeout, left))):
                msg = await self._receive()
        except TimeoutError:
            raise E.RequestTimeout(
                f"the request body did not arrive within {self._body_timeout:g} seconds.") from None
        if msg["type"] != "http.request":
            raise E.RequestTimeout("the client closed the connection before the body arrived.")
        chunk: bytes = msg.get("body", b"")
        self.size += len(chunk)
        if self.size > self._limit:
            raise E.PayloadTooLarge(f"the request body is over the limit of {self._limit} bytes.")
        self._done = not msg.get("more_body", False)
        return chunk


async def read_body(receive: Receive, limit: int, body_timeout: float, deadline_s: float) -> bytes:
    """The whole request body (``BodyReader``'s limits)."""
    reader = BodyReader(receive, limit, body_timeout, deadline_s)
    parts: list[bytes] = []
    while (part := await reader.part()) is not None:
        parts.append(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)
