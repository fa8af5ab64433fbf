"""HTTP/1.1 on the standard library for the agent: kept-alive connections per address, bound to the
machine's source IP, shared by the backup's and the restore's worker threads.

The agent's start is part of every backup a user times (a no-change backup is mostly start-up), so it
does not import an HTTP library with its own command line and event-loop layers (httpx: 0.12 s at each
start); ``http.client`` is already loaded by the standard library's other modules.

A connection taken from the idle list may have been closed by the server meanwhile (an idle keep-alive
times out): a request that fails on such a connection before any answer is sent again once on a new one.
"""

from __future__ import annotations

import http.client
import ipaddress
import json as jsonlib
import socket
import ssl
import threading
from collections.abc import Iterable
from typing import Any

from vaultlink.agent.proxy import Proxy, ProxyError, tunnel

MAX_CONNECTIONS = 32  # open connections per address at once
MAX_IDLE = 16  # kept alive per address between requests


class TransportError(Exception):
    """The request did not get an answer: connection refused, reset or timed out."""


class NotRetried(TransportError):
    """No answer, and trying again will not help (a certificate, a proxy's refusal): not retried."""


class TlsError(NotRetried):
    """The service's certificate did not verify."""


class Response:
    """A whole answer: status, headers (lower-case names) and body."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def tls_context(ca_pem: str) -> ssl.SSLContext:
    """A client context that trusts the deployment's CA only (from the vault credentials file)."""
    ctx = ssl.create_default_context(cadata=ca_pem)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class _Conn(http.client.HTTPConnection):
    """A connection from ``source`` with a short connect timeout and a long read timeout; over TLS with
    ``tls``, verifying the certificate for ``server_name`` (the name the request is for)."""

    def __init__(self, ip: str, port: int, source: str | None, connect_timeout: float, timeout: float,
                 tls: ssl.SSLContext | None = None, server_name: str = "", proxy: Proxy | None = None) -> None:
        super().__init__(ip, port, timeout=timeout)
        self.connect_timeout = connect_timeout
        self.source = (source, 0) if source else None
        self.tls, self.server_name = tls, server_name or ip
        self.proxy = proxy  # set: ``ip`` is the name, and the proxy resolves it (CONNECT)

    def connect(self) -> None:
        if self.proxy is not None:
            sock = socket.create_connection((self.proxy.host, self.proxy.port), self.connect_timeout, self.source)
            try:
                sock.settimeout(self.connect_timeout * 4)
                tunnel(sock, self.proxy, self.host, self.port)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection((self.host, self.port), self.connect_timeout, self.source)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_hostname=self.server_name)
            except BaseException:
                sock.close()
                raise
        sock.settimeout(self.timeout)
        self.sock = sock


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Pool:
    def __init__(self, source: str | None, connect_timeout: float = 5.0, timeout: float = 120.0,
                 tls: ssl.SSLContext | None = None, proxy: Proxy | None = None) -> None:
        self.source = source
        self.tls = tls
        self.proxy = proxy
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._idle: dict[tuple[str, int, str], list[_Conn]] = {}
        self._slots: dict[tuple[str, int, str], threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _slot(self, key: tuple[str, int, str]) -> threading.BoundedSemaphore:
        with self._lock:
            return self._slots.setdefault(key, threading.BoundedSemaphore(MAX_CONNECTIONS))

    def _take(self, key: tuple[str, int, str]) -> tuple[_Conn, bool]:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        via = self.proxy if self.proxy is not None and not _is_address(key[0]) else None  # a name: the proxy's
        return _Conn(key[0], key[1], self.source, self.connect_timeout, self.timeout, self.tls, key[2], via), False

    def _give(self, key: tuple[str, int, str], conn: _Conn) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if not self._closed and len(idle) < MAX_IDLE:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for c in conns:
            c.close()

    def send(self, ip: str, port: int, method: str, path: str, headers: dict[str, str],
             body: bytes | Iterable[bytes | memoryview] | None, sink: memoryview | None = None,
             server_name: str = "") -> Response:
        """One request; the body is read whole, or with ``sink`` straight into it (then ``content`` is empty
        and the answer must fill ``sink`` exactly: ``ValueError`` otherwise; an answer cut short by the connection
        closing is a ``TransportError``, retried by the caller). Over TLS the certificate is
        verified for ``server_name`` (default: ``ip``)."""
        key = (ip, port, server_name if self.tls is not None else "")
        slot = self._slot(key)
        slot.acquire()
        try:
            for _ in range(2):
                conn, reused = self._take(key)
                try:
                    return self._exchange(key, conn, method, path, headers, body, sink)
                except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine) as exc:
                    conn.close()
                    if not reused:  # a new connection failed: the service is not there
                        raise TransportError(f"{exc.__class__.__name__}: {exc}") from None
                except ProxyError as exc:
                    conn.close()
                    if exc.status in (401, 403, 407):  # credentials or a rule of the proxy: not transient
                        raise NotRetried(str(exc)) from None
                    raise TransportError(str(exc)) from None
                except ssl.SSLCertVerificationError as exc:
                    conn.close()
                    raise TlsError(f"the service's certificate for {server_name or ip} does not verify against "
                                   f"the vault credentials' CA ({exc.verify_message}); get a new credentials file "
                                   "(`vaultlink vault credentials`) and register again.") from None
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    raise TransportError(f"{exc.__class__.__name__}: {exc}") from None
            raise TransportError("the connection closed before an answer")  # pragma: no cover - loop returns
        finally:
            slot.release()

    def _exchange(self, key: tuple[str, int, str], conn: _Conn, method: str, path: str, headers: dict[str, str],
                  body: bytes | Iterable[bytes | memoryview] | None, sink: memoryview | None) -> Response:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        declared = False
        for k, v in headers.items():
            if k.lower() == "content-length":
                declared = True
            conn.putheader(k, v)
        if body is None:
            if method in ("POST", "PUT", "PATCH") and not declared:
                conn.putheader("content-length", "0")
            conn.endheaders()
        elif isinstance(body, bytes):
            if not declared:
                conn.putheader("content-length", str(len(body)))
            conn.endheaders(body)
        else:  # parts of a body whose length the caller declared
            conn.endheaders()
            for part in body:
                conn.send(part)
        resp = conn.getresponse()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        if sink is not None and resp.status < 400:
            n = 0
            while n < len(sink):
                got = resp.readinto(sink[n:])
                if not got:
                    break
                n += got
            if n != len(sink) and resp.length:  # the connection closed mid-answer (a server failing): retried
                conn.close()
                raise http.client.IncompleteRead(b"", resp.length)
            extra = resp.read(1) if n == len(sink) else b""
            if n != len(sink) or extra:
                conn.close()
                raise ValueError(f"answered {'more than' if extra else n} of the {len(sink)} bytes asked")
            content = b""
        else:
            content = resp.read()
        if resp.will_close:
            conn.close()
        else:
            self._give(key, conn)
        return Response(resp.status, hdrs, content)
