"""Answers on real sockets after the guarded protocol's write coalescing: a HEAD answer (no body part) and a
streamed one (its first part later) still get their headers at once, and a kept-alive connection keeps
serving after each."""

from __future__ import annotations

import time

from tests.conftest import raw_connection
from tests.integration.fabric.conftest import Fab, vm


def read_head(sock: object, buf: bytes = b"") -> tuple[bytes, bytes]:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)  # type: ignore[attr-defined]
        assert chunk, "closed before the headers"
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def test_head_answers_and_then_a_get_on_the_same_connection(fab: Fab) -> None:
    token = fab.headers()["Authorization"]
    with raw_connection(fab.ip, fab.port, "127.60.1.40", 10) as sock:
        sock.sendall(f"HEAD / HTTP/1.1\r\nHost: {fab.host}\r\nAuthorization: {token}\r\n\r\n".encode())
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200") and rest == b""
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {fab.host}\r\nAuthorization: {token}\r\n\r\n".encode())
        head, rest = read_head(sock, rest)
        assert head.startswith(b"HTTP/1.1 200")
        clen = int(next(h.split(b":", 1)[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
        while len(rest) < clen:
            rest += sock.recv(65536)
        assert fab.vault["id"].encode() in rest


def test_a_streamed_answer_sends_its_headers_before_its_first_line(fab: Fab) -> None:
    with fab.s.http() as c:
        t0 = time.monotonic()
        with c.stream("GET", "/audit/stream", params={"action": "never-happens"}, timeout=30) as r:
            assert r.status_code == 200  # the stream has nothing to send for seconds; its headers came now
            assert time.monotonic() - t0 < 4.5  # its first line would come after 5 s of nothing
    with vm("127.60.1.41") as v:
        assert v.get(fab.url(), headers=fab.headers()).status_code == 200
