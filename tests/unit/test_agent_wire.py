"""The agent's HTTP client on the standard library (``agent/wire.py``), against a real socket server on
127.0.0.1: kept-alive connections reused, a connection the server closed while idle retried once on a
new one, a declared length sent once, an answer read straight into a buffer that it must fill exactly, an answer
cut short by the connection closing a transport error (retried)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from vaultlink.agent.wire import Pool, TransportError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, dict[str, str], bytes, int]] = []
    close_after = False  # the server drops the connection after answering, without saying so
    cut_short = False  # the server announces 10 bytes, sends 4 and closes (a server failing mid-answer)

    def _answer(self, body: bytes) -> None:
        n = int(self.headers.get("content-length") or 0)
        got = self.rfile.read(n) if n else b""
        lengths = len(self.headers.get_all("content-length") or [])
        type(self).seen.append((self.command, self.path, dict(self.headers), got, lengths))
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if type(self).cut_short:
            self.wfile.write(body[:4])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)
        if type(self).close_after:
            self.close_connection = True

    def do_GET(self) -> None:
        self._answer(b"0123456789")

    def do_PUT(self) -> None:
        self._answer(b"stored")

    def log_message(self, *_a: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, type[_Handler]]]:
    handler = type("H", (_Handler,), {"seen": [], "close_after": False, "cut_short": False})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1], handler
    finally:
        srv.shutdown()
        srv.server_close()


def test_kept_alive_connection_is_reused_and_a_declared_length_sent_once(server: tuple[int, Any]) -> None:
    port, handler = server
    pool = Pool("127.0.0.1")
    body = bytearray(b"x" * 100_000)
    r = pool.send("127.0.0.1", port, "PUT", "/packs/a", {"host": "h", "content-length": str(len(body))},
                  [memoryview(body)])
    assert r.status_code == 200 and r.content == b"stored"
    assert pool.send("127.0.0.1", port, "GET", "/x", {"host": "h"}, None).content == b"0123456789"
    (m1, _p1, h1, got, lengths), (m2, *_rest) = handler.seen
    assert (m1, m2, got, lengths) == ("PUT", "GET", bytes(body), 1)
    assert h1["host"] == "h"
    assert len(pool._idle[("127.0.0.1", port, "")]) == 1  # one connection served both
    pool.close()


def test_a_connection_closed_while_idle_is_retried_on_a_new_one(server: tuple[int, Any]) -> None:
    port, handler = server
    handler.close_after = True
    pool = Pool("127.0.0.1")
    for _ in range(3):  # each reuse meets a closed connection, then succeeds on a fresh one
        assert pool.send("127.0.0.1", port, "GET", "/x", {"host": "h"}, None).status_code == 200
    assert len(handler.seen) == 3  # no request was sent twice to the server
    pool.close()


def test_an_answer_fills_the_buffer_exactly(server: tuple[int, Any]) -> None:
    port, _handler = server
    pool = Pool("127.0.0.1")
    buf = bytearray(10)
    r = pool.send("127.0.0.1", port, "GET", "/x", {"host": "h"}, None, sink=memoryview(buf))
    assert r.content == b"" and bytes(buf) == b"0123456789"
    with pytest.raises(ValueError):
        pool.send("127.0.0.1", port, "GET", "/x", {"host": "h"}, None, sink=memoryview(bytearray(4)))
    with pytest.raises(ValueError):
        pool.send("127.0.0.1", port, "GET", "/x", {"host": "h"}, None, sink=memoryview(bytearray(12)))
    pool.close()


def test_an_answer_cut_short_by_the_connection_is_a_transport_error(server: tuple[int, Any]) -> None:
    """Fewer bytes than announced, then the connection closes: a transport failure the caller retries (not the
    ``ValueError`` of a complete answer of the wrong size), and the connection is not reused."""
    port, handler = server
    handler.cut_short = True
    pool = Pool("127.0.0.1")
    buf = bytearray(10)
    with pytest.raises(TransportError, match="IncompleteRead"):
        pool.send("127.0.0.1", port, "GET", "/x", {"host": "h"}, None, sink=memoryview(buf))
    handler.cut_short = False
    r = pool.send("127.0.0.1", port, "GET", "/x", {"host": "h"}, None, sink=memoryview(buf))
    assert r.status_code == 200 and bytes(buf) == b"0123456789"
    pool.close()


def test_nothing_listening_is_a_transport_error() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(TransportError):
        Pool("127.0.0.1", connect_timeout=2).send("127.0.0.1", port, "GET", "/", {"host": "h"}, None)
