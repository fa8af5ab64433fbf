"""``AgentHttp.refresh``: a request the service refused because its credential was replaced is sent again once with
the credential another process of the machine saved; never a second time, and not for any other refusal."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from vaultlink.agent.http import AgentHttp
from vaultlink.agent.resolver import StaticResolver
from vaultlink.errors import AccessDenied, InvalidApiKey

GOOD = "vlc_c1_new"


class _Handler(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        token = (self.headers.get("authorization") or "")[7:]
        self.seen.append(token)
        code, status = ("", 200) if token == GOOD else (("AccessDenied", 403) if token == "vlc_c1_denied" else (
            "InvalidApiKey", 401))
        body = json.dumps({"ok": True} if status == 200 else {"error": {"code": code, "message": "no"}}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_a: Any) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    _Handler.seen = []
    try:
        yield int(srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()


def _http(port: int, token: str, saved: str | None) -> tuple[AgentHttp, list[int]]:
    http = AgentHttp(StaticResolver({"*": "127.0.0.1"}), port, "127.0.0.1", token, retry_for=0.0)
    asked: list[int] = []

    def refresh() -> str | None:
        asked.append(1)
        return saved

    http.refresh = refresh
    return http, asked


def test_a_replaced_credential_is_swapped_for_the_saved_one_once(port: int) -> None:
    http, asked = _http(port, "vlc_c1_old", GOOD)
    assert http.json("x.vaultlink.internal", "GET", "/a") == {"ok": True}
    assert _Handler.seen == ["vlc_c1_old", GOOD] and http.token == GOOD and len(asked) == 1
    assert http.json("x.vaultlink.internal", "GET", "/b") == {"ok": True} and len(asked) == 1

    http, asked = _http(port, "vlc_c1_old", "vlc_c1_also_bad")
    with pytest.raises(InvalidApiKey):
        http.json("x.vaultlink.internal", "GET", "/c")
    assert len(asked) == 2, "asked again after the saved one failed too, and stopped"
    http, asked = _http(port, "vlc_c1_old", None)
    with pytest.raises(InvalidApiKey):
        http.json("x.vaultlink.internal", "GET", "/d")
    http, asked = _http(port, "vlc_c1_denied", GOOD)
    with pytest.raises(AccessDenied):
        http.json("x.vaultlink.internal", "GET", "/e")
    assert asked == [], "any other refusal is not a credential to take up"
