"""The DNS server: asyncio UDP + TCP in front of a :class:`Responder`.

Inside the service: ``server = DnsServer(responder, host, port); await server.start()`` in the
service's own loop, ``responder.update(view)`` whenever the view changes, ``await server.stop()``
at shutdown. Standalone (tests, benchmarks): :func:`serve_forever` runs it on asyncio, as the product does
(no undeclared accelerator).

UDP: one ``datagram_received`` per query → ``responder.answer`` (a dict lookup when cached) →
``sendto``. TCP: RFC 7766 2-byte length framing, several queries per connection, an idle timeout, a
lifetime bound per connection (a client trickling a query every few seconds cannot hold one), a bound
on connections per client address (extra ones are closed at once) and in all (when full, the oldest
connection of the client holding the most is closed to make room: one client cannot lock others
out), and a bound on queries per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from typing import Any

from vaultlink.dns.responder import Responder

UDP_BUFFER = 4 * 1024 * 1024
TCP_IDLE_TIMEOUT = 10.0
TCP_MAX_LIFETIME = 30.0
MAX_TCP_CONNECTIONS = 256
MAX_TCP_PER_CLIENT = 16
MAX_QUERIES_PER_CONNECTION = 10_000


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, answer: Callable[[bytes, str, Any], bytes | None]) -> None:
        self._answer = answer
        self._sendto: Callable[[bytes, Any], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._sendto = transport.sendto  # type: ignore[attr-defined]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        reply = self._answer(data, addr[0], "udp")
        if reply is not None and self._sendto is not None:
            self._sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP errors for vanished clients
        pass


class DnsServer:
    """UDP and TCP listeners on one address and port (port 0 picks a free one; see :attr:`port`)."""

    def __init__(
        self,
        responder: Responder,
        host: str = "127.0.0.1",
        port: int = 53,
        *,
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
        max_tcp_connections: int = MAX_TCP_CONNECTIONS,
        max_tcp_per_client: int = MAX_TCP_PER_CLIENT,
        tcp_max_lifetime: float = TCP_MAX_LIFETIME,
        serve_udp: bool = True,
        domain: str = "",
        sockets: tuple[socket.socket, socket.socket] | None = None,
        shared: bool = False,
    ) -> None:
        """``serve_udp=False``: bind the UDP socket but leave it in :attr:`udp_socket` for another
        server (the service's UDP worker process) to serve. ``domain``: the routing domain queries arrive
        in; ``sockets``: (UDP, TCP) sockets already bound (in a vnet's namespace, by the fabric)."""
        self.responder = responder
        self._answer = responder.in_domain(domain) if domain else responder.answer
        self._sockets = sockets
        self.shared = shared  # SO_REUSEPORT: servers of one deployment on one machine share the DNS port
        self.serve_udp = serve_udp
        self.udp_socket: socket.socket | None = None
        self.host = host
        self.port = port
        self.tcp_idle_timeout = tcp_idle_timeout
        self.max_tcp_connections = max_tcp_connections
        self.max_tcp_per_client = max_tcp_per_client
        self.tcp_max_lifetime = tcp_max_lifetime
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._writers: dict[asyncio.StreamWriter, tuple[str, float]] = {}  # -> (client address, opened at)
        self._per_client: dict[str, int] = {}

    @property
    def tcp_connections(self) -> int:
        return len(self._writers)

    def _udp_socket(self, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, opt, UDP_BUFFER)
            if self.shared:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self.host, port))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    async def start(self) -> None:
        """Bind UDP then TCP on the same port (retrying a few free ports when ``port`` is 0)."""
        loop = asyncio.get_running_loop()
        if self._sockets is not None:
            udp, tcp_sock = self._sockets
            tcp_sock.listen(128)
            tcp_sock.setblocking(False)
            udp.setblocking(False)
            self._tcp = await asyncio.start_server(self._handle_tcp, sock=tcp_sock)
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self._answer), sock=udp)
            self.port = udp.getsockname()[1]
            return
        attempts = 20 if self.port == 0 else 1
        for attempt in range(attempts):
            sock = self._udp_socket(self.port)
            port = sock.getsockname()[1]
            try:
                tcp = await asyncio.start_server(self._handle_tcp, self.host, port, reuse_address=True,
                                                 reuse_port=self.shared or None)
            except OSError:
                sock.close()
                if attempt == attempts - 1:
                    raise
                continue
            if self.serve_udp:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpProtocol(self._answer), sock=sock
                )
                self._udp = transport
            else:
                self.udp_socket = sock
            self._tcp = tcp
            self.port = port
            return

    async def stop(self) -> None:
        """Close both listeners and every open TCP connection."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self.udp_socket is not None:
            self.udp_socket.close()
            self.udp_socket = None
        if self._tcp is not None:
            self._tcp.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 2.0)
            self._tcp = None

    def _admit(self, writer: asyncio.StreamWriter, source: str) -> bool:
        if self._per_client.get(source, 0) >= self.max_tcp_per_client:
            return False
        if len(self._writers) >= self.max_tcp_connections:
            # full: close the oldest connection of the client that holds the most, to make room
            heavy = max(self._per_client, key=lambda k: self._per_client[k])
            if heavy == source or self._per_client[heavy] <= 1:
                return False
            oldest = min((w for w, (src, _t) in self._writers.items() if src == heavy),
                         key=lambda w: self._writers[w][1])
            self._forget(oldest)
            oldest.close()
        self._writers[writer] = (source, time.monotonic())
        self._per_client[source] = self._per_client.get(source, 0) + 1
        return True

    def _forget(self, writer: asyncio.StreamWriter) -> None:
        got = self._writers.pop(writer, None)
        if got is not None:
            n = self._per_client.get(got[0], 1) - 1
            if n <= 0:
                self._per_client.pop(got[0], None)
            else:
                self._per_client[got[0]] = n

    async def _handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source = str(peer[0]) if peer else ""
        if not self._admit(writer, source):
            writer.close()
            return
        deadline = time.monotonic() + self.tcp_max_lifetime
        try:
            for _ in range(MAX_QUERIES_PER_CONNECTION):
                timeout = min(self.tcp_idle_timeout, deadline - time.monotonic())
                if timeout <= 0:
                    break
                head = await asyncio.wait_for(reader.readexactly(2), timeout)
                length = int.from_bytes(head, "big")
                if length < 12:
                    break
                packet = await asyncio.wait_for(reader.readexactly(length), max(deadline - time.monotonic(), 0.01))
                reply = self._answer(packet, source, "tcp")
                if reply is None:
                    break
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await asyncio.wait_for(writer.drain(), self.tcp_idle_timeout)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, OSError):
            pass
        finally:
            self._forget(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


def serve_forever(
    responder: Responder,
    host: str = "127.0.0.1",
    port: int = 53,
    *,
    ready: Callable[[int], None] | None = None,
    stop_after: float | None = None,
) -> None:
    """Run a DnsServer standalone (on asyncio, the loop the product runs) until interrupted or ``stop_after`` s."""

    async def main() -> None:
        server = DnsServer(responder, host, port)
        await server.start()
        if ready is not None:
            ready(server.port)
        try:
            if stop_after is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(stop_after)
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
