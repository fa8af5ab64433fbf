"""Bad input on real sockets: malformed HTTP, huge headers, idle and slow clients, spoofed names,
oversize bodies. Each is refused with a code and audited, and everyone else keeps being served."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import raw_connection, stop_server
from tests.integration.fabric.conftest import Fab, setup_fabric, start_with_config, vm


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fab]:
    """A server with a 4 KiB body limit and 1-second header/body timeouts."""
    text = "max_body_bytes = 4096\nheader_timeout = 1.0\nbody_timeout = 1.0\n"
    s = start_with_config(tmp_path_factory.mktemp("bad"), text)
    try:
        yield setup_fabric(s, 63)
    finally:
        stop_server(s)


def connect(ip: str, port: int, source: str, wait: float | None = None) -> socket.socket:
    return raw_connection(ip, port, source, wait)


def raw(f: Fab, source: str, data: bytes, wait: float = 5.0, dest: str | None = None) -> bytes:
    """Send raw bytes from ``source`` to the endpoint (or ``dest``); return everything the server answers."""
    with connect(dest or f.ip, f.port, source, wait) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError, ssl.SSLError):
            pass
    return out


def status_and_code(resp: bytes) -> tuple[int, str | None]:
    head = resp.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    code = next((h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("x-error-code:")), None)
    return int(head[0].split()[1]), code


def audited(f: Fab, source: str, code: str) -> list[dict[str, Any]]:
    with f.s.http() as c:
        evs = c.get("/audit", params={"endpoint": f.endpoint["id"], "code": code, "limit": 1000}).json()
    return [e for e in evs if e["source_ip"] == source]


def still_serves(f: Fab, source: str) -> None:
    with vm(source) as c:
        assert c.get(f.url(), headers=f.headers()).status_code == 200


def test_malformed_http_is_400_and_audited(small: Fab) -> None:
    src = "127.63.1.10"
    st, code = status_and_code(raw(small, src, b"THIS IS NOT HTTP\r\n\r\n"))
    assert (st, code) == (400, "MalformedHttpRequest")
    st, code = status_and_code(raw(small, "127.63.1.11", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n"))
    assert (st, code) == (400, "MalformedHttpRequest")
    ev = audited(small, src, "MalformedHttpRequest")
    assert ev and ev[0]["decision"] == "denied" and ev[0]["action"] == "http.refuse" and ev[0]["vnet"]
    still_serves(small, "127.63.1.12")


def test_huge_headers_are_431_and_audited(small: Fab) -> None:
    src = "127.63.1.20"
    req = (f"GET / HTTP/1.1\r\nHost: {small.host}\r\nX-Big: " + "a" * 200_000 + "\r\n\r\n").encode()
    st, code = status_and_code(raw(small, src, req))
    assert (st, code) == (431, "RequestHeaderTooLarge")
    assert audited(small, src, "RequestHeaderTooLarge")
    many = "".join(f"X-H{i}: {'b' * 100}\r\n" for i in range(1000))
    st, code = status_and_code(raw(small, "127.63.1.21", f"GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode()))
    assert (st, code) == (431, "RequestHeaderTooLarge")
    still_serves(small, "127.63.1.22")


def test_idle_and_slow_header_clients_are_timed_out_while_others_are_served(small: Fab) -> None:
    timeout = 1.0
    src_idle, src_slow = "127.63.1.30", "127.63.1.31"
    idle = connect(small.ip, small.port, src_idle)
    slow = connect(small.ip, small.port, src_slow)
    silent = socket.create_connection((small.ip, small.port), source_address=("127.63.1.34", 0))  # no handshake
    try:
        idle.settimeout(timeout + 10)
        slow.settimeout(timeout + 10)
        t0 = time.monotonic()
        slow.sendall(b"GET / HTTP/1.1\r\nHost: ")
        still_serves(small, "127.63.1.32")  # served while the two hang
        for sock in (idle, slow):
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            assert status_and_code(data) == (408, "RequestTimeout")
        assert time.monotonic() - t0 < timeout + 5
        silent.settimeout(timeout + 10)
        assert silent.recv(65536) == b""  # a client that never starts TLS is dropped at the same deadline
        assert time.monotonic() - t0 < timeout + 5
    finally:
        idle.close()
        slow.close()
        silent.close()
    assert audited(small, src_idle, "RequestTimeout") and audited(small, src_slow, "RequestTimeout")
    still_serves(small, "127.63.1.33")


def test_each_request_on_a_kept_alive_connection_gets_its_own_header_deadline(small: Fab) -> None:
    """The header deadline counts from each request's start: a request started late on a connection is not
    cut at the connection's first deadline, and one that never finishes its headers is cut at its own."""
    timeout, src = 1.0, "127.63.1.35"
    token = small.headers()["Authorization"]
    whole = f"GET / HTTP/1.1\r\nHost: {small.host}\r\nAuthorization: {token}\r\n\r\n".encode()
    with connect(small.ip, small.port, src) as sock:
        sock.settimeout(timeout + 10)
        t0 = time.monotonic()
        buf = b""
        for _ in range(3):  # answered, kept alive
            sock.sendall(whole)
            while b"\r\n\r\n" not in buf:
                buf += sock.recv(65536)
            head, buf = buf.split(b"\r\n\r\n", 1)
            assert status_and_code(head)[0] == 200
            clen = int(next(h.split(b":", 1)[1] for h in head.split(b"\r\n")
                            if h.lower().startswith(b"content-length")))
            while len(buf) < clen:
                buf += sock.recv(65536)
            buf = buf[clen:]
        time.sleep(0.6)  # past the middle of the connection's first deadline
        started = time.monotonic()
        sock.sendall(whole[:30])  # a request whose headers never end
        data = buf
        while chunk := sock.recv(65536):
            data += chunk
        cut = time.monotonic()
    assert status_and_code(data) == (408, "RequestTimeout")
    assert cut - started >= timeout - 0.1, f"cut {cut - started:.2f} s after the request began, before its deadline"
    assert cut - started < timeout + 5 and cut - t0 >= 0.6 + timeout - 0.1
    assert audited(small, src, "RequestTimeout")


def test_oversize_bodies_are_413_and_audited(small: Fab) -> None:
    src = "127.63.1.40"
    with vm(src) as c:
        r = c.request("GET", small.url(), headers=small.headers(), content=b"x" * 10_000)
    assert r.status_code == 413 and r.json()["error"]["code"] == "PayloadTooLarge"
    ev = audited(small, src, "PayloadTooLarge")
    assert ev and ev[0]["principal"].endswith(":user/owner") and ev[0]["action"] == "backup:DescribeBackupVault"
    still_serves(small, "127.63.1.41")


def test_oversize_chunked_body_to_management_api_is_413(small: Fab) -> None:
    def gen() -> Iterator[bytes]:
        for _ in range(10):
            yield b"{" + b" " * 1000

    with vm("127.0.0.1") as c:
        r = c.post(small.s.url + "/v1/vaults", content=gen(), headers={"Authorization": f"Bearer {small.s.owner_key}"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "PayloadTooLarge"


def test_slow_body_is_408_and_audited(small: Fab) -> None:
    """A body that stops arriving: refused after body_timeout; a body read happens on the management API."""
    src = "127.0.0.1"
    req = (b"POST /v1/vaults HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer "
           + small.s.owner_key.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"name\": ")
    t0 = time.monotonic()
    st, code = status_and_code(raw(small, src, req, wait=10, dest="127.0.0.1"))
    assert (st, code) == (408, "RequestTimeout") and time.monotonic() - t0 < 5
    with small.s.http() as c:
        evs = c.get("/audit", params={"code": "RequestTimeout", "limit": 1000}).json()
    assert any(e.get("path") == "/v1/vaults" for e in evs)


def test_x_forwarded_for_is_ignored(small: Fab) -> None:
    """Only the socket's source address decides the network: a header cannot claim to be inside the vnet."""
    with vm("127.0.0.1") as c:
        r = c.get(small.url(), headers={**small.headers(), "X-Forwarded-For": "127.63.1.5",
                                        "X-Real-IP": "127.63.1.5"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "EndpointUnreachable"


def test_spoofed_host_on_the_public_endpoint_goes_to_management_not_to_a_vault(small: Fab, tmp_path: Path) -> None:
    with vm("127.0.0.1") as c:
        r = c.get(small.s.url + "/", headers={"Host": "evil.example.com", "Authorization": "Bearer x"})
        # the management app's / (the web console's redirect), not a vault's data plane
        assert (r.status_code, r.headers.get("location")) == (303, "/console/vaults")
        r = c.get(small.s.url + "/v1/nothing", headers={"Host": "evil.example.com", "Authorization": "Bearer x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
