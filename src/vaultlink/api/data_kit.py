"""The data-plane services' own small ASGI framework: each route a plain function of one ``DataRequest``.

The pipeline (``fabric/pipeline.py``) has already matched, checked, authenticated and authorized a request
before it reaches a data-plane app, and put the ``DataContext`` in the scope. What is left is small: match
the route, read and validate the body, run the handler and answer. FastAPI's per-request machinery
(routing through included routers, dependency solving, four middlewares, a worker-thread hop for every sync
function) cost about 1 ms of event-loop time per request here (bench/README-datapath.md), so the data plane
does without it; the management API stays on FastAPI (its OpenAPI document, its forms).

A route runs on the event loop when it is ``inline`` (no I/O: it reads only the request's context), else on
a worker thread (it reads or writes the store). Errors answer with their stable code, like everywhere else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.routing import compile_path
from starlette.types import Receive, Scope, Send

from vaultlink.api.body_stream import BodyStream
from vaultlink.api.validation import validation_problem
from vaultlink.errors import (
    InvalidInput,
    InvalidType,
    MissingField,
    NotFound,
    StoreError,
    VaultlinkError,
)
from vaultlink.fabric.asgi import BodyReader, BrokenAnswer, read_body, send_error
from vaultlink.fabric.routes import BySegment, first_segment
from vaultlink.ports import RangePieces
from vaultlink.service.core import Service
from vaultlink.service.dataplane.context import DataContext

log = logging.getLogger("vaultlink.data")

JSON_OBJECT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])  # a free-form JSON object body
_JSON_HEADERS = [(b"content-type", b"application/json")]
MAX_MATCHED = 4096  # (method, path) -> route remembered per app; more and it starts over


@dataclass(frozen=True, slots=True)
class Stream:
    """A body of ``length`` bytes sent a piece at a time: each piece read in a worker thread while the one before
    is sent (a large blob range: the client's first bytes do not wait for the whole range's read)."""

    length: int
    pieces: RangePieces


@dataclass(frozen=True, slots=True)
class Reply:
    """A non-JSON answer: bytes (a blob) or a :class:`Stream`, or headers only (HEAD)."""

    body: bytes | Stream = b""
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    media_type: str = "application/octet-stream"


class DataRequest:
    """What a data-plane handler gets: the service, the context the pipeline checked, the route's path
    parameters, the query, the headers (lower-case names; decoded when a handler first reads them, since
    most never do) and the body (validated model or raw bytes)."""

    __slots__ = ("_headers", "_raw_headers", "body", "ctx", "params", "query", "svc")

    def __init__(self, svc: Service, ctx: DataContext, params: dict[str, str], query: dict[str, str],
                 raw_headers: Any = (), body: Any = None) -> None:
        self.svc, self.ctx, self.params, self.query, self.body = svc, ctx, params, query, body
        self._raw_headers = raw_headers
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        if self._headers is None:
            self._headers = _headers(self._raw_headers)
        return self._headers

    def number(self, name: str, default: float, low: float, high: float, *, integer: bool = False) -> Any:
        """A numeric query parameter within [low, high]; ``InvalidType``/``InvalidInput`` naming it if not."""
        raw = self.query.get(name)
        if raw is None:
            return int(default) if integer else default
        try:
            value: float = int(raw) if integer else float(raw)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise InvalidType(f"{name} must be {kind}, not {raw[:40]!r}.", field=name) from None
        if not low <= value <= high:
            raise InvalidInput(f"{name} must be between {low:g} and {high:g}.", field=name)
        return value


Handler = Callable[[DataRequest], Any]


@dataclass(frozen=True, slots=True)
class DataRoute:
    path: str  # template, e.g. /jobs/{job_id}/complete
    methods: frozenset[str]
    name: str  # the IAM action the pipeline authorizes (fabric/routes.py reads it)
    handler: Handler
    body: Any = None  # a pydantic model, JSON_OBJECT, ``bytes`` (raw), ``BodyStream`` or None (no body)
    optional: bool = False  # an empty body is None rather than an error
    inline: bool = False  # runs on the event loop: the handler does no I/O
    regex: re.Pattern[str] = field(default=re.compile(""), compare=False)


class DataRouter:
    """Routes in declaration order (the first match wins, as in the table the pipeline builds)."""

    def __init__(self) -> None:
        self.routes: list[DataRoute] = []

    def route(self, method: str, path: str, name: str, *, body: Any = None, optional: bool = False,
              inline: bool = False) -> Callable[[Handler], Handler]:
        if body is BodyStream and inline:
            raise ValueError("a BodyStream route runs on a worker thread: it cannot be inline")

        def add(fn: Handler) -> Handler:
            regex = compile_path(path)[0]
            self.routes.append(DataRoute(path, frozenset({method}), name, fn, body, optional, inline, regex))
            return fn
        return add


def _parse(route: DataRoute, raw: bytes) -> Any:
    if route.body is bytes:
        return raw
    if not raw.strip():
        if route.optional:
            return None
        raise MissingField("a JSON body is required.", field="body")
    try:
        if route.body is JSON_OBJECT:
            return JSON_OBJECT.validate_json(raw)
        return route.body.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_problem(exc.errors()) from None


def _headers(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in raw:
        out.setdefault(k.decode("latin-1"), v.decode("latin-1"))
    return out


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)  # one, not one per answer


def _json(result: Any) -> bytes:
    # most answers are dicts: asked first, since a model class's isinstance check (an ABC's) is not free
    if result.__class__ is not dict and isinstance(result, BaseModel):
        return result.model_dump_json().encode()
    return _ENCODER.encode(result).encode()


class DataApp:
    """One data-plane service (backup, blob or queue) as an ASGI app."""

    def __init__(self, svc: Service, routers: tuple[DataRouter, ...]) -> None:
        self.svc = svc
        self.routes: tuple[DataRoute, ...] = tuple(r for router in routers for r in router.routes)
        self._by_segment = BySegment([(first_segment(r.path), r) for r in self.routes])
        self._matched: dict[tuple[str, str], tuple[DataRoute | None, dict[str, str]]] = {}

    def match(self, method: str, path: str) -> tuple[DataRoute | None, dict[str, str]]:
        """The first route for ``method`` and ``path``; HEAD falls back to the GET route (answered without
        its body) when no route declares HEAD itself. Recent answers are remembered (a request repeated,
        as most are, matches no pattern again); the parameters are a copy each time."""
        hit = self._matched.get((method, path))
        if hit is None:
            hit = self._match(method, path)
            if len(self._matched) >= MAX_MATCHED:
                self._matched.clear()
            self._matched[(method, path)] = hit
        return hit[0], dict(hit[1])

    def _match(self, method: str, path: str) -> tuple[DataRoute | None, dict[str, str]]:
        for want in (method, "GET") if method == "HEAD" else (method,):
            for r in self._by_segment.candidates(path):
                if want in r.methods:
                    m = r.regex.match(path)
                    if m is not None:
                        return r, m.groupdict()
        return None, {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        body: Any = None
        try:
            route, params = self.match(method, path)
            if route is None:
                raise NotFound(f"no such data-plane path {method} {path}.")
            ctx = scope.get("state", {}).get("dp")
            if not isinstance(ctx, DataContext):
                raise VaultlinkError("data-plane request reached a handler without passing the pipeline")
            cfg = self.svc.config
            if route.body is BodyStream:
                body = BodyStream(BodyReader(receive, cfg.max_body_bytes, cfg.body_timeout, cfg.body_deadline))
            elif route.body is not None:
                body = _parse(route, await read_body(receive, cfg.max_body_bytes, cfg.body_timeout, cfg.body_deadline))
            query = dict(parse_qsl(scope["query_string"].decode("latin-1"))) if scope.get("query_string") else {}
            req = DataRequest(self.svc, ctx, params, query, scope.get("headers", ()), body)
            if route.inline:
                result = route.handler(req)
            else:
                result = await anyio.to_thread.run_sync(route.handler, req)  # the pool FastAPI used
        except VaultlinkError as err:
            await send_error(send, err)
            return
        except Exception:
            log.exception("data-plane handler failed: %s %s", method, path)
            await send_error(send, VaultlinkError("the service failed on this request; see its log."))
            return
        finally:
            if isinstance(body, BodyStream):
                await body.close()
        await _answer(send, result, method == "HEAD")


async def _answer(send: Send, result: Any, head: bool) -> None:
    if isinstance(result, Reply) and isinstance(result.body, Stream):
        if not head:
            await _stream(send, result, result.body)
            return
        result.body.pieces.close()  # HEAD answered by a GET route that streams (HEAD's fallback): headers only
        length = str(result.body.length)
        result = Reply(b"", result.status, (*result.headers, ("content-length", length)), result.media_type)
    if isinstance(result, Reply):
        assert isinstance(result.body, bytes)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in result.headers]
        names = {k.lower() for k, _ in result.headers}
        if "content-length" not in names:
            headers.append((b"content-length", str(len(result.body)).encode()))
        if result.body or not head:
            headers.append((b"content-type", result.media_type.encode()))
        body = result.body
        status = result.status
    else:
        body = _json(result)
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        status = 200
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _stream(send: Send, reply: Reply, stream: Stream) -> None:
    """Send ``stream``: its first piece is read before the head goes (a failure then is answered with its error
    code), every next one in a worker thread while the one before is sent. A failure after the head cannot be
    answered any more: ``BrokenAnswer`` has the pipeline audit it and close the connection, so the client sees
    fewer bytes than announced (the agent retries)."""
    pieces = stream.pieces
    reading: asyncio.Future[bytes | None] | None = None

    def read() -> bytes | None:
        return next(pieces, None)

    try:
        try:
            piece = await anyio.to_thread.run_sync(read)
        except VaultlinkError as err:
            await send_error(send, err)
            return
        except Exception:
            log.exception("data-plane stream failed before its first byte")
            await send_error(send, VaultlinkError("the service failed on this request; see its log."))
            return
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        headers += [(b"content-length", str(stream.length).encode()), (b"content-type", reply.media_type.encode())]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        sent = 0
        try:
            while piece is not None:
                reading = asyncio.ensure_future(anyio.to_thread.run_sync(read))
                sent += len(piece)
                if sent > stream.length:
                    raise StoreError(f"the blob grew while it was read ({sent} of {stream.length} bytes)")
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                piece = await reading
            if sent != stream.length:
                raise StoreError(f"the blob ended while it was read ({sent} of {stream.length} bytes)")
        except VaultlinkError as err:
            raise BrokenAnswer(err) from None
        except OSError as exc:
            raise BrokenAnswer(StoreError(f"reading the blob failed: {exc.strerror or exc}")) from None
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        if reading is not None and not reading.done():
            await asyncio.wait([reading])  # a thread cannot be stopped: its read ends before the blob is closed
        pieces.close()
