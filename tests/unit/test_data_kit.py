"""The data-plane services' small ASGI framework (api/data_kit.py): routing (HEAD's own route first, else
GET's answer without its body), bodies validated into stable error codes, query numbers checked, inline
handlers on the event loop and the others on a worker thread, and no answer without the pipeline's context."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.api.data_kit import JSON_OBJECT, DataApp, DataRequest, DataRouter, Reply, Stream
from vaultlink.bootstrap import build_service
from vaultlink.config import Config
from vaultlink.service.core import Caller
from vaultlink.service.dataplane.context import DataContext


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int = 0


router = DataRouter()
THREADS: dict[str, bool] = {}


@router.route("GET", "/items/{item}", "backup:GetItem", inline=True)
def get_item(r: DataRequest) -> dict[str, Any]:
    THREADS["inline"] = threading.current_thread() is threading.main_thread()
    return {"item": r.params["item"], "n": r.number("n", 5, 1, 10, integer=True)}


@router.route("HEAD", "/blobs/{name:path}", "backup:HeadBlob")
def head_blob(r: DataRequest) -> Reply:
    return Reply(b"", 200, (("content-length", "1234"), ("x-blob-size", "1234")))


@router.route("GET", "/blobs/{name:path}", "backup:GetBlob")
def get_blob(r: DataRequest) -> Reply:
    THREADS["worker"] = threading.current_thread() is not threading.main_thread()
    return Reply(b"0123456789", 206, (("content-range", "bytes 0-9/*"),))


@router.route("POST", "/items", "backup:PutItem", body=ItemIn)
def put_item(r: DataRequest) -> dict[str, Any]:
    return {"name": r.body.name, "size": r.body.size}


@router.route("POST", "/free", "backup:PutFree", body=JSON_OBJECT)
def put_free(r: DataRequest) -> dict[str, Any]:
    return {"keys": sorted(r.body)}


@router.route("POST", "/optional", "backup:Optional", body=ItemIn, optional=True)
def optional(r: DataRequest) -> dict[str, Any]:
    return {"none": r.body is None}


class Pieces:
    """A stream's pieces (``RangePieces``): ``fail_at`` raises ``OSError`` when that piece is asked for."""

    def __init__(self, parts: list[bytes], fail_at: int | None = None) -> None:
        self.parts, self.fail_at, self.asked, self.closed = list(parts), fail_at, 0, False

    def __iter__(self) -> Pieces:
        return self

    def __next__(self) -> bytes:
        self.asked += 1
        if self.fail_at == self.asked:
            raise OSError(5, "Input/output error")
        if not self.parts:
            raise StopIteration
        return self.parts.pop(0)

    def close(self) -> None:
        self.closed = True


STREAMS: list[Pieces] = []


@router.route("GET", "/stream/{kind}", "backup:GetBlob")
def stream(r: DataRequest) -> Reply:
    kind = r.params["kind"]
    parts = [b"a" * 5, b"b" * 5, b"c" * 2]
    pieces = Pieces(parts, {"first": 1, "middle": 3}.get(kind))
    STREAMS.append(pieces)
    return Reply(Stream(12 if kind != "short" else 20, pieces), 206, (("content-range", "bytes 0-11/*"),))


@router.route("GET", "/boom", "backup:Boom")
def boom(r: DataRequest) -> dict[str, Any]:
    raise RuntimeError("a bug")


@pytest.fixture(scope="module")
def app() -> DataApp:
    svc = build_service(Config(data_dir=Path("/nonexistent")), store=MemoryStore(), blobs=None)
    return DataApp(svc, (router,))


def _ctx() -> DataContext:
    caller = Caller("p1", "111111111111", "arn:aws:iam::111111111111:user/a", "a")
    return DataContext(service="backup", host="v.backup", vault_id="v1", storage_account=None, region="r",
                       endpoint_id=None, vnet_id=None, source_ip="127.0.0.1", caller=caller, action="x",
                       resource="*")


def call(app: DataApp, method: str, path: str, body: bytes = b"", query: bytes = b"",
         ctx: DataContext | None = None) -> tuple[int, dict[str, str], bytes]:
    scope = {"type": "http", "method": method, "path": path, "query_string": query, "headers": [],
             "state": {"dp": ctx or _ctx()}}
    sent: list[dict[str, Any]] = []
    parts = [body[:3], body[3:]] if len(body) > 3 else [body]

    async def receive() -> dict[str, Any]:
        chunk = parts.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(parts)}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_inline_routes_run_on_the_event_loop_and_check_query_numbers(app: DataApp) -> None:
    status, headers, body = call(app, "GET", "/items/a1", query=b"n=7")
    assert status == 200 and json.loads(body) == {"item": "a1", "n": 7}
    assert headers["content-type"] == "application/json" and int(headers["content-length"]) == len(body)
    assert THREADS["inline"] is True
    status, headers, body = call(app, "GET", "/items/a1", query=b"n=seven")
    assert status == 400 and headers["x-error-code"] == "InvalidType" and json.loads(body)["error"]["field"] == "n"
    status, headers, _ = call(app, "GET", "/items/a1", query=b"n=11")
    assert headers["x-error-code"] == "InvalidInput"


def test_head_takes_its_own_route_before_gets_and_get_answers_bytes_from_a_worker(app: DataApp) -> None:
    status, headers, body = call(app, "HEAD", "/blobs/packs/p1")
    assert (status, headers["x-blob-size"], body) == (200, "1234", b"")
    status, headers, body = call(app, "GET", "/blobs/packs/p1")
    assert (status, headers["content-range"], body) == (206, "bytes 0-9/*", b"0123456789")
    assert THREADS["worker"] is True
    status, headers, body = call(app, "HEAD", "/items/a1")  # no HEAD route: GET's answer, without its body
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


@pytest.mark.parametrize(("body", "code", "field"), [
    (b'{"name": "x", "size": 3}', None, None),
    (b'{"name": "x", "colour": 1}', "InvalidInput", "colour"),
    (b'{"size": 3}', "MissingField", "name"),
    (b'{"name": "x", "size": "big"}', "InvalidType", "size"),
    (b"[1, 2]", "InvalidType", "body"),
    (b'{"name": ', "MalformedJSON", None),
    (b"[" * 100_000 + b"]" * 100_000, "MalformedJSON", None),  # nested too deeply: refused, not a crash
    (b"", "MissingField", "body"),
])
def test_bodies_are_validated_into_stable_codes(app: DataApp, body: bytes, code: str | None,
                                                field: str | None) -> None:
    status, headers, out = call(app, "POST", "/items", body)
    if code is None:
        assert status == 200 and json.loads(out) == {"name": "x", "size": 3}
        return
    err = json.loads(out)["error"]
    assert headers["x-error-code"] == code == err["code"] and 400 <= status < 500
    assert err.get("field") == field


def test_free_json_objects_and_optional_bodies(app: DataApp) -> None:
    assert json.loads(call(app, "POST", "/free", b'{"b": 1, "a": {"c": []}}')[2]) == {"keys": ["a", "b"]}
    assert call(app, "POST", "/free", b'"text"')[1]["x-error-code"] == "InvalidType"
    assert json.loads(call(app, "POST", "/optional", b"")[2]) == {"none": True}
    assert json.loads(call(app, "POST", "/optional", b'{"name": "n"}')[2]) == {"none": False}


def test_unknown_paths_failures_and_requests_without_the_pipelines_context(app: DataApp) -> None:
    status, headers, _ = call(app, "DELETE", "/items/a1")
    assert (status, headers["x-error-code"]) == (404, "NotFound")
    status, headers, body = call(app, "GET", "/boom")  # a bug answers 500 with the stable code, no traceback
    assert (status, headers["x-error-code"]) == (500, "InternalError") and b"Traceback" not in body
    scope_ctx: Any = object()
    status, headers, _ = call(app, "GET", "/items/a1", ctx=scope_ctx)
    assert (status, headers["x-error-code"]) == (500, "InternalError")


def test_a_caller_as_seen_is_one_object_per_address_and_transport(app: DataApp) -> None:
    """The pipeline's step 6 hands the handler the caller with its source address and TLS set: made once per
    cached caller, address and transport (not a copy per request), and never another caller's."""
    from vaultlink.service.authn import Authenticator

    auth = Authenticator(app.svc)
    a = Caller("p1", "111111111111", "arn:aws:iam::111111111111:user/a", "a")
    b = Caller("p2", "111111111111", "arn:aws:iam::111111111111:user/b", "b")
    seen = auth.seen_from(a, "10.0.0.5", True)
    assert (seen.arn, seen.source_ip, seen.secure_transport) == (a.arn, "10.0.0.5", True)
    assert auth.seen_from(a, "10.0.0.5", True) is seen
    assert auth.seen_from(a, "10.0.0.6", True).source_ip == "10.0.0.6"
    assert auth.seen_from(a, "10.0.0.5", False).secure_transport is False
    assert auth.seen_from(b, "10.0.0.5", True).arn == b.arn


def test_a_stream_is_sent_piece_by_piece_and_its_blob_released(app: DataApp) -> None:
    status, headers, body = call(app, "GET", "/stream/whole")
    assert (status, headers["content-length"], headers["content-range"]) == (206, "12", "bytes 0-11/*")
    assert body == b"aaaaabbbbbcc" and STREAMS[-1].closed


def test_a_stream_failing_before_its_first_byte_answers_an_error(app: DataApp) -> None:
    status, _headers, body = call(app, "GET", "/stream/first")
    assert status == 500 and "error" in json.loads(body) and STREAMS[-1].closed


@pytest.mark.parametrize("kind", ["middle", "short"])
def test_a_stream_failing_after_its_head_is_a_broken_answer(app: DataApp, kind: str) -> None:
    """A read failing mid-stream, or a blob ending before the announced length: nothing more can be answered, so
    ``BrokenAnswer`` (StoreError) goes to the pipeline, which audits it and has the connection closed."""
    from vaultlink.fabric.asgi import BrokenAnswer

    with pytest.raises(BrokenAnswer) as exc:
        call(app, "GET", f"/stream/{kind}")
    assert exc.value.err.code == "StoreError" and STREAMS[-1].closed


def test_run_bounded_records_a_broken_answer_for_the_audit() -> None:
    from vaultlink.errors import StoreError
    from vaultlink.fabric.asgi import BrokenAnswer, run_bounded

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 206, "headers": []})
        raise BrokenAnswer(StoreError("the disk failed"))

    async def send(msg: Any) -> None:
        pass

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    state = asyncio.run(run_bounded(app, {"type": "http", "scheme": "http"}, receive, send, 10, 5.0, 5.0))
    assert state.broken is not None and (state.code, state.status, state.started) == ("StoreError", 500, True)
