"""The cyclic garbage collector in a server that holds large views.

What a control-plane change builds (the decoded records, the network and DNS views, the zones' indexes)
lives until a later change replaces it. Left to itself, Python's collector walks all of it in each full
collection with every thread stopped: 115 ms at 2,000 endpoints on a 2-core machine, felt by every request
of that moment (the control-plane benchmark's "worst small request"). So after each change, once the views
are rebuilt, the process freezes what exists (``gc.freeze``: kept out of collections; reference counting
still frees it when the next change drops it). Cyclic garbage that was caught frozen is freed by one full
collection every :data:`COLLECT_SECONDS` when a change happened meanwhile; the start's freeze is in
``bootstrap.serve``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from typing import Any

from vaultlink.service.events import DnsChanged, EndpointsChanged, VaultsChanged

log = logging.getLogger("vaultlink.heap")
COLLECT_SECONDS = 600.0


class Heap:
    def __init__(self, runtime: Any, collect_seconds: float = COLLECT_SECONDS) -> None:
        self.runtime = runtime
        self.collect_seconds = collect_seconds
        self.frozen_since_collect = 0  # changes whose views were frozen since the last full collection
        self.task: asyncio.Task[None] | None = None

    def changed(self, _event: object = None) -> None:
        """After the rebuilds of a change (subscribed after them): keep what they built out of collections."""
        gc.freeze()
        self.frozen_since_collect += 1

    def collect(self) -> int:
        """One full collection over everything, frozen or not (then frozen again); returns what it freed."""
        started = time.perf_counter()
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self.frozen_since_collect = 0
        log.debug("heap: a full collection freed %d objects in %.0f ms", freed, (time.perf_counter() - started) * 1e3)
        return freed

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.collect_seconds)
            if self.frozen_since_collect:
                self.collect()

    async def start(self, _runtime: Any) -> None:
        svc = self.runtime.svc
        for kind in (EndpointsChanged, VaultsChanged, DnsChanged):  # after the fabric's and the DNS's handlers
            svc.on(kind, self.changed)
        self.task = asyncio.create_task(self._loop(), name="heap")

    async def stop(self, _runtime: Any) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def attach(runtime: Any) -> Heap:
    """Freeze the views each change builds (attach after the fabric and the DNS responder: handlers run in
    the order they subscribe, and theirs subscribe in their start hooks)."""
    heap = Heap(runtime)
    runtime.start_hooks.append(heap.start)
    runtime.stop_hooks.append(heap.stop)
    return heap
