"""The agent's proxy settings and its CONNECT tunnel (agent/proxy.py), against a real socket peer."""

from __future__ import annotations

import socket
import threading

import pytest

from vaultlink.agent.proxy import ProxyError, parse_proxy, proxy_for, tunnel
from vaultlink.errors import InvalidInput


def test_parse_and_bypass() -> None:
    p = parse_proxy("http://us%40er:p%3Ass@10.0.0.1:8888", ".internal, 10.1.0.0/16,direct.example")
    assert (p.host, p.port) == ("10.0.0.1", 8888)
    import base64
    assert base64.b64decode(p.auth or "").decode() == "us@er:p:ss"
    assert not p.applies("v1.l1.backup.vaultlink.internal") and not p.applies("10.1.2.3")
    assert not p.applies("direct.example") and p.applies("other.example") and p.applies("10.2.0.1")
    assert not parse_proxy("http://h:1", "*").applies("anything")
    for bad in ("https://h:1", "socks5://h:1", "h:1", "http://h:notaport"):
        with pytest.raises(InvalidInput):
            parse_proxy(bad)


def test_configured_proxy_wins_and_environment_is_the_default() -> None:
    env = {"HTTPS_PROXY": "http://envproxy:3128", "NO_PROXY": ".internal"}
    assert proxy_for("", "", {}) is None
    p = proxy_for("", "", env)
    assert p is not None and p.host == "envproxy" and not p.applies("x.internal")
    q = proxy_for("http://mine:1", "", env)
    assert q is not None and q.host == "mine" and q.applies("x.internal"), "NO_PROXY goes with HTTPS_PROXY only"


def _peer(reply: bytes) -> tuple[socket.socket, list[bytes]]:
    a, b = socket.socketpair()
    got: list[bytes] = []

    def serve() -> None:
        got.append(b.recv(4096))
        b.sendall(reply)
        b.close()

    threading.Thread(target=serve, daemon=True).start()
    return a, got


def test_tunnel_sends_connect_with_credentials_and_accepts_200() -> None:
    p = parse_proxy("http://u:pw@proxy:3128")
    sock, got = _peer(b"HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n")
    tunnel(sock, p, "v.l1.backup.vaultlink.internal", 8470)
    sock.close()
    assert got[0].startswith(b"CONNECT v.l1.backup.vaultlink.internal:8470 HTTP/1.1\r\n")
    assert b"Proxy-Authorization: Basic dTpwdw==" in got[0]


@pytest.mark.parametrize("reply,says,status", [
    (b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", "refused its credentials", 407),
    (b"HTTP/1.0 401 Unauthorized\r\n\r\n", "refused its credentials", 401),
    (b"HTTP/1.1 403 Forbidden\r\n\r\n", "refused to connect", 403),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "not HTTP", 0),
    (b"", "closed the connection", 0),
    (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 4000, "over 16384 bytes", 0),
])
def test_tunnel_refusals(reply: bytes, says: str, status: int) -> None:
    sock, _ = _peer(reply)
    with pytest.raises(ProxyError, match=says) as err:
        tunnel(sock, parse_proxy("http://proxy:3128"), "v.internal", 8470)
    sock.close()
    assert err.value.status == status
