"""Listeners exist exactly while their endpoints exist: opened on creation, closed on deletion,
rebuilt from the store at start-up. Also refreshes the pipeline's view on every change.

The view is built in a worker thread, never on the event loop: a topology change does not pause other
requests. The request that made the change waits (at most 10 s) until its listeners are open, so
``endpoint create`` returns only once the endpoint answers. Changes that arrive while a rebuild runs
are covered by the next one (one rebuild per burst, not one per change)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from vaultlink.errors import VaultlinkError
from vaultlink.fabric.build import build_view
from vaultlink.fabric.pipeline import Fabric
from vaultlink.fabric.protocol import install as install_protocol
from vaultlink.service.events import EndpointsChanged, VaultsChanged

log = logging.getLogger("vaultlink.fabric")


class ListenerManager:
    def __init__(self, runtime: Any, fabric: Fabric) -> None:
        self.runtime = runtime
        self.fabric = fabric
        self.svc = fabric.svc
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._synced = -1  # the service generation the current view was built from

    async def start(self, runtime: Any) -> None:
        self.loop = asyncio.get_running_loop()
        # Vaults, vnets and endpoints make the view; keys and roles only bump svc.generation,
        # which the pipeline's caches already compare against.
        self.svc.on(EndpointsChanged, self._changed)
        self.svc.on(VaultsChanged, self._changed)
        await self.sync()

    async def stop(self, runtime: Any) -> None:
        return None

    def _changed(self, _event: object = None) -> None:
        """Called from whichever thread committed a change: rebuild the view and the listeners."""
        loop = self.loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(self.sync())
        else:
            fut = asyncio.run_coroutine_threadsafe(self.sync(), loop)
            # Wait so that an endpoint's listener is open when its creation call returns.
            with contextlib.suppress(Exception):
                fut.result(timeout=10)

    async def sync(self) -> None:
        asked = self.svc.generation  # read before the lock: a rebuild that starts later covers this change
        async with self._lock:
            if self._synced >= asked:
                return
            generation = self.svc.generation
            view = await asyncio.to_thread(build_view, self.svc, generation)
            self.fabric.view = view
            self._synced = generation
            wanted = set(view.by_ip)
            port = self.runtime.port
            have = {host for (host, p) in self.runtime.listeners if p == port} - {
                self.svc.config.public_address
            }
            for ip in sorted(wanted - have):
                try:
                    await self.runtime.add_listener(ip, port)
                except VaultlinkError as exc:
                    log.error("cannot open listener for %s: %s", ip, exc.message)
            for ip in sorted(have - wanted):
                await self.runtime.remove_listener(ip, port)


def attach(runtime: Any, data_apps: dict[str, Any]) -> Fabric:
    """Put the fabric in front of the runtime's app (the management app) and the data-plane apps, and
    manage endpoint listeners."""
    fabric = Fabric(runtime.svc, runtime.app, data_apps)
    runtime.set_app(fabric)
    install_protocol(runtime.uv_config)
    manager = ListenerManager(runtime, fabric)
    runtime.start_hooks.append(manager.start)
    runtime.stop_hooks.append(manager.stop)
    runtime.fabric = fabric
    return fabric
