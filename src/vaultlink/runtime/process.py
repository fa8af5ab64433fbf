"""The process: one event loop, every listener (the composition root, ``bootstrap.build_process``, builds it).

The public endpoint (management API + public data plane) listens on
``public_address:api_port``. Other components (private endpoint listeners, the
DNS responder) attach through ``Runtime.add_listener`` and start hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import uvicorn

from vaultlink.config import Config
from vaultlink.errors import ServiceUnavailable
from vaultlink.runtime.tls import Tls
from vaultlink.service.core import Service


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: the runtime owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_socket(host: str, port: int, shared: bool = False) -> socket.socket:
    """``shared``: SO_REUSEPORT, so several servers of one deployment on this machine share the port and the
    kernel spreads connections over them (off by default: a second server by mistake is refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServiceUnavailable(
            f"cannot listen on {host}:{port} ({exc.strerror}); stop what uses it or choose another api_port."
        ) from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class Runtime:
    def __init__(self, svc: Service, app: Any) -> None:
        self.svc = svc
        self.config: Config = svc.config
        self.app = app
        self.uv_config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            http="httptools",
            loop="asyncio",
            timeout_keep_alive=30,
            h11_max_incomplete_event_size=64 * 1024,
            access_log=False,
            proxy_headers=False,  # never trust X-Forwarded-For: the source IP decides the network
            server_header=False,
        )
        self.uv_config.load()
        self.server = _Server(self.uv_config)
        self.server.lifespan = self.uv_config.lifespan_class(self.uv_config)
        # (routing domain, address, port): "" is this process's own namespace; netns mode adds the vnets'
        self.listeners: dict[tuple[str, str, int], asyncio.base_events.Server] = {}
        self.port = self.config.api_port
        self.start_hooks: list[Callable[[Runtime], Awaitable[None]]] = []
        self.stop_hooks: list[Callable[[Runtime], Awaitable[None]]] = []
        self.stopping = asyncio.Event()
        self.extra_info: dict[str, Any] = {}
        self.fabric: Any = None
        self.tls: Tls | None = None  # set by the composition root when the config asks for TLS

    def set_app(self, app: Any) -> None:
        """Put another ASGI app (the fabric) in front of every listener."""
        self.app = app
        self.uv_config.app = app
        self.uv_config.loaded_app = app

    def _protocol_factory(self, domain: str = "") -> Callable[[], asyncio.Protocol]:
        cfg = self.uv_config
        srv = self.server

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            proto = cfg.http_protocol_class(  # type: ignore[call-arg]
                config=cfg, server_state=srv.server_state, app_state=srv.lifespan.state, _loop=_loop
            )
            if domain:
                proto.routing_domain = domain  # type: ignore[attr-defined]  # fabric.protocol.GuardedProtocol
            return proto

        return create_protocol

    async def add_listener(
        self, host: str, port: int | None = None, domain: str = "", sock: socket.socket | None = None
    ) -> int:
        """Open a listener on ``host`` (same HTTP app); returns the port. ``sock``: a socket already bound
        (in another network namespace, by the fabric), ``domain`` the routing domain it lives in."""
        port = self.port if port is None else port
        if (domain, host, port) in self.listeners:
            if sock is not None:
                sock.close()
            return port
        if sock is None:
            sock = bind_socket(host, port, self.config.shared_ports)
        else:
            sock.listen(1024)
            sock.setblocking(False)
        loop = asyncio.get_running_loop()
        if self.tls is not None:
            ctx = await asyncio.to_thread(self.tls.context, host)  # a key and a signature: off the loop
            server = await loop.create_server(self._protocol_factory(domain), sock=sock, backlog=1024, ssl=ctx,
                                              ssl_handshake_timeout=self.config.header_timeout)
        else:
            server = await loop.create_server(self._protocol_factory(domain), sock=sock, backlog=1024)
        actual = sock.getsockname()[1]
        self.listeners[(domain, host, actual)] = server
        return int(actual)

    async def remove_listener(self, host: str, port: int | None = None, domain: str = "") -> None:
        server = self.listeners.pop((domain, host, self.port if port is None else port), None)
        if server is not None:
            server.close()
            # Existing keep-alive connections on this address are closed too.
            for conn in list(self.server.server_state.connections):
                transport = getattr(conn, "transport", None)
                if transport is not None and getattr(conn, "routing_domain", "") == domain:
                    local = transport.get_extra_info("sockname")
                    if local and local[0] == host:
                        conn.shutdown()

    async def run(self, ready: Callable[[Runtime], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stopping.set)
        self.svc.audit.start()
        # bound first (a taken port is refused now, and port 0 gets its number for the hooks), listening
        # only once every start hook ran: no request meets a fabric that has not built its view yet
        public = bind_socket(self.config.public_address, self.config.api_port, self.config.shared_ports)
        self.port = int(public.getsockname()[1])
        self.server.servers = []
        self.server.started = True
        try:
            for hook in self.start_hooks:
                await hook(self)
        except BaseException:
            public.close()
            raise
        await self.add_listener(self.config.public_address, self.port, sock=public)
        if ready:
            ready(self)
        await self.stopping.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        for hook in reversed(self.stop_hooks):
            with contextlib.suppress(Exception):
                await hook(self)
        for key in list(self.listeners):
            srv = self.listeners.pop(key)
            srv.close()
        for conn in list(self.server.server_state.connections):
            conn.shutdown()
        deadline = time.monotonic() + 5
        while self.server.server_state.tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.svc.audit.close()
        self.svc.store.close()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls is not None else 'http'}://{self.config.public_address}:{self.port}"




