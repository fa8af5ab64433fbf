"""The cyclic garbage collector in a server that holds large views.

What a control-plane change builds (the decoded records, the network and DNS views, the zones' indexes)
lives until a later change replaces it. Left to itself, Python's collector walks all of it in each full
collection with every thread stopped: 115 ms at 2,000 endpoints on a 2-core machine, felt by every request
of that moment (the control-plane benchmark's "worst small request"). So the process freezes what exists
(``gc.freeze``: kept out of collections; reference counting still frees it when a later change drops it): at
the start (``bootstrap.serve``), and within :data:`FREEZE_SECONDS` of each change, after one collection of
what is not frozen yet (what was made since the last freeze: cheap, and it frees the cyclic garbage of that
time, such as the connections closed meanwhile, instead of freezing it). Freezing in the change's own handler,
as it was first done, froze every connection open at that moment, the change's own request among them: kept
until the next full collection, 0.5 MB a change (2 GB at 2,000 endpoints, every request slower for it).
What was frozen while alive and dropped since (a connection open at a freeze) is freed by one full collection
every :data:`COLLECT_SECONDS` when a freeze happened meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from typing import Any

from vaultlink.service.events import DnsChanged, EndpointsChanged, VaultsChanged

log = logging.getLogger("vaultlink.heap")
FREEZE_SECONDS = 1.0
COLLECT_SECONDS = 600.0


class Heap:
    def __init__(self, runtime: Any, collect_seconds: float = COLLECT_SECONDS,
                 freeze_seconds: float = FREEZE_SECONDS) -> None:
        self.runtime = runtime
        self.collect_seconds = collect_seconds
        self.freeze_seconds = freeze_seconds
        self.changes = 0  # changes since the last freeze (their handlers bump it from any thread)
        self.frozen_since_collect = 0  # freezes since the last full collection
        self.task: asyncio.Task[None] | None = None

    def changed(self, _event: object = None) -> None:
        """After the rebuilds of a change (subscribed after them): what they built is frozen by the next freeze."""
        self.changes += 1

    def freeze(self) -> int:
        """Collect what is not frozen yet, then freeze what survives; returns what the collection freed."""
        self.changes = 0
        started = time.perf_counter()
        freed = gc.collect()  # (frozen objects are not walked: only what was made since the last freeze)
        gc.freeze()
        self.frozen_since_collect += 1
        log.debug("heap: froze after freeing %d objects in %.1f ms", freed, (time.perf_counter() - started) * 1e3)
        return freed

    def collect(self) -> int:
        """One full collection over everything, frozen or not (then frozen again); returns what it freed."""
        started = time.perf_counter()
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self.frozen_since_collect = self.changes = 0
        log.debug("heap: a full collection freed %d objects in %.0f ms", freed, (time.perf_counter() - started) * 1e3)
        return freed

    async def _loop(self) -> None:
        due = time.monotonic() + self.collect_seconds
        while True:
            await asyncio.sleep(min(self.freeze_seconds, self.collect_seconds))
            if self.changes:
                self.freeze()
            if time.monotonic() >= due:
                due = time.monotonic() + self.collect_seconds
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
