"""The DNS responder inside ``vaultlink serve``: ``attach(runtime)`` before ``runtime.run``.

- start hook: build the view from the store, start :class:`DnsServer` (UDP + TCP) on
  ``config.dns_address:config.dns_port`` (port 0: any free port) in the runtime's loop, and put
  ``dns_address`` and ``dns_port`` into ``runtime.extra_info`` (merged into ``server.json``);
  a taken port is a ``ServiceUnavailable`` that says what to do;
- on every ``dns`` event (fired after zone changes, and after the automatic records have been
  brought in line on ``endpoints``/``vaults`` events) the view is rebuilt in the thread that fired
  it and handed to ``Responder.update`` on the loop thread (``call_soon_threadsafe``); builds are
  serialized and numbered so an older view never replaces a newer one;
- UDP is answered by a worker process of its own (``dns_worker.py``; ``dns_udp_worker = false``
  keeps it on the loop); TCP by the loop; the worker takes each new view before the change returns;
- stop hook: stop the worker, close the listeners.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
from typing import Any

from vaultlink.dns.model import DnsView
from vaultlink.dns.resolve import CompiledView
from vaultlink.dns.responder import Responder
from vaultlink.dns.server import DnsServer
from vaultlink.errors import ServiceUnavailable
from vaultlink.runtime.dns_worker import UdpWorker
from vaultlink.service.dns_view import DnsMemo, build_dns_view
from vaultlink.service.events import DnsChanged

log = logging.getLogger(__name__)


class DnsRuntime:
    """The responder's life inside the service's runtime."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.svc = runtime.svc
        self.responder: Responder | None = None
        self.server: DnsServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._built = 0
        self._memo = DnsMemo()  # the engine zone of each unchanged zone record
        self._compiled: CompiledView | None = None  # the last one built (its zone indexes are reused)
        self._applied = 0
        self.worker: UdpWorker | None = None

    def build(self) -> DnsView:
        with self._lock:
            return self.build_locked()

    async def start(self, runtime: Any) -> None:
        cfg = self.svc.config
        self.loop = asyncio.get_running_loop()
        view = self.build()
        self._applied = view.generation
        self.responder = Responder(view)
        server = DnsServer(self.responder, cfg.dns_address, cfg.dns_port, serve_udp=not cfg.dns_udp_worker,
                           shared=cfg.shared_ports)
        try:
            await server.start()
        except OSError as exc:
            why = "it is taken" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise ServiceUnavailable(
                f"the DNS responder cannot listen on {cfg.dns_address}:{cfg.dns_port} ({why}); stop what "
                "uses that port, or choose another with --dns-port (0 picks a free one) or dns_port in "
                "the config file.",
                field="dns_port",
            ) from None
        self.server = server
        if server.udp_socket is not None:  # UDP answered by a process of its own (dns_worker.py)
            try:
                self.worker = await asyncio.to_thread(UdpWorker, server.udp_socket, view)
            except OSError as exc:
                await server.stop()
                raise ServiceUnavailable(
                    f"the DNS responder's UDP worker could not start ({exc}); set dns_udp_worker = false in the "
                    "config file to answer DNS on the service's event loop instead.",
                    field="dns_udp_worker",
                ) from None
            server.udp_socket.close()  # the worker holds its own copy
            server.udp_socket = None
        info = getattr(runtime, "extra_info", None)
        if info is None:
            info = {}
            setattr(runtime, "extra_info", info)  # noqa: B010 - Runtime may not declare it
        info["dns_address"] = cfg.dns_address
        info["dns_port"] = server.port
        self.svc.on(DnsChanged, self.changed)

    async def stop(self, runtime: Any) -> None:
        if self.worker is not None:
            await asyncio.to_thread(self.worker.stop)
            self.worker = None
        if self.server is not None:
            await self.server.stop()
            self.server = None

    def changed(self, _event: object = None) -> None:
        """A ``DnsChanged`` event: rebuild now (in the caller's thread) and swap it in on the loop."""
        loop = self.loop
        if loop is None or self.server is None or loop.is_closed():
            return
        try:
            with self._lock:
                view = self.build_locked()

                def compile_and_swap() -> None:
                    # compiled here, in the thread that made the change: the loop only swaps it in
                    compiled = self._compiled = CompiledView(view, self._compiled)
                    loop.call_soon_threadsafe(self._apply, compiled)

                if self.worker is not None:  # answered from this view once the change returns; the worker takes
                    self.worker.update(view, meanwhile=compile_and_swap)  # it while this process compiles its own
                else:
                    compile_and_swap()
        except Exception:  # keep serving the last good view
            log.exception("dns: rebuilding the view failed; still serving the previous one")

    def build_locked(self) -> DnsView:
        self._built += 1
        return build_dns_view(self.svc, generation=self._built, memo=self._memo)

    def _apply(self, compiled: CompiledView) -> None:
        if self.responder is None or compiled.generation <= self._applied:
            return
        self.responder.update(compiled)
        self._applied = compiled.generation


def attach(runtime: Any) -> DnsRuntime:
    """Run the DNS responder with ``runtime`` (adds a start and a stop hook)."""
    state = DnsRuntime(runtime)
    runtime.start_hooks.append(state.start)
    runtime.stop_hooks.append(state.stop)
    runtime.dns = state
    return state
