"""Reaching the vault through an HTTP proxy (the Azure seed: back up through the proxy server, or bypass it).

``--proxy http://[user:password@]host:port`` at registration (kept in the agent's state), else the
``HTTPS_PROXY`` / ``https_proxy`` environment variable; ``--no-proxy`` (else ``NO_PROXY`` / ``no_proxy``
with an environment proxy) lists names, suffixes (``.vaultlink.internal``), addresses or ``*`` to reach
directly.

- **Bypass** (the name matches the no-proxy list): the agent resolves the vault's names itself, through its
  own DNS server, and connects to the private endpoint directly.
- **Through the proxy**: the agent asks the proxy to ``CONNECT`` to the *name*, so the proxy resolves it
  (it must sit in the vnet and use a DNS server that answers the private zones) and the endpoint sees
  the proxy's address, and enforces on it; TLS runs end to end inside the tunnel, verified for the name.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from vaultlink.errors import InvalidInput

MAX_REPLY = 16 * 1024  # the proxy's answer to CONNECT, headers included


class ProxyError(OSError):
    """The proxy refused the tunnel (``status``) or answered something that is not HTTP."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Proxy:
    host: str
    port: int
    auth: str | None  # base64 of "user:password"
    no_proxy: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def applies(self, name: str) -> bool:
        """Does a request to ``name`` go through the proxy (not bypassed)?"""
        name = name.lower().rstrip(".")
        for entry in self.no_proxy:
            if entry == "*":
                return False
            if "/" in entry:
                try:
                    if ipaddress.ip_address(name) in ipaddress.ip_network(entry, strict=False):
                        return False
                except ValueError:
                    pass
                continue
            bare = entry.lstrip(".")
            if name == bare or name.endswith("." + bare):
                return False
        return True


def parse_proxy(url: str, no_proxy: str = "") -> Proxy:
    parts = urlsplit(url.strip())
    if parts.scheme != "http" or not parts.hostname:
        raise InvalidInput(f"proxy {url.split('@')[-1]!r} must be http://[USER:PASSWORD@]HOST:PORT (the agent "
                           "tunnels TLS through it with CONNECT).", field="proxy")
    try:
        port = parts.port or 3128
    except ValueError:
        raise InvalidInput("the proxy's port is not a number.", field="proxy") from None
    auth = None
    if parts.username is not None:
        raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = base64.b64encode(raw.encode()).decode()
    entries = tuple(e.strip().lower() for e in no_proxy.split(",") if e.strip())
    return Proxy(parts.hostname, port, auth, entries)


def proxy_for(configured: str, no_proxy: str, environ: dict[str, str]) -> Proxy | None:
    """The agent's proxy: the configured one (with its own no-proxy list), else the environment's."""
    if configured:
        return parse_proxy(configured, no_proxy)
    env = environ.get("HTTPS_PROXY") or environ.get("https_proxy") or ""
    if not env:
        return None
    return parse_proxy(env, no_proxy or environ.get("NO_PROXY") or environ.get("no_proxy") or "")


def tunnel(sock: socket.socket, proxy: Proxy, host: str, port: int) -> None:
    """``CONNECT host:port`` over ``sock`` (connected to the proxy); returns once the tunnel is open."""
    lines = [f"CONNECT {host}:{port} HTTP/1.1", f"Host: {host}:{port}"]
    if proxy.auth:
        lines.append(f"Proxy-Authorization: Basic {proxy.auth}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
    reply = b""
    while b"\r\n\r\n" not in reply:
        got = sock.recv(4096)
        if not got:
            raise ProxyError(f"the proxy {proxy.where} closed the connection instead of answering CONNECT")
        reply += got
        if len(reply) > MAX_REPLY:
            raise ProxyError(f"the proxy {proxy.where} answered CONNECT with over {MAX_REPLY} bytes of headers")
    head, _, rest = reply.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ProxyError(f"the proxy {proxy.where} answered CONNECT with {status_line[:80]!r}, not HTTP")
    status = int(fields[1])
    if status in (401, 407):  # 407 by the standard; some proxies (tinyproxy) answer 401
        raise ProxyError(f"the proxy {proxy.where} refused its credentials ({status_line[:60]}): register again "
                         "with --proxy http://USER:PASSWORD@HOST:PORT", status)
    if not 200 <= status < 300:
        raise ProxyError(f"the proxy {proxy.where} refused to connect to {host}:{port} ({status_line[:80]}); "
                         "does it resolve the vault's private names (it must sit in the vnet)?", status)
    if rest:
        raise ProxyError(f"the proxy {proxy.where} sent data before the tunnel opened")
