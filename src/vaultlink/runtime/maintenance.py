"""The periodic tasks of the process, each in a worker thread so requests never wait on them: every
``schedule_interval`` seconds the scheduler (``service/scheduler.py``: backup plans into queued jobs, missed
windows into EXPIRED jobs) and the copy pass (``service/dataplane/copies.py``: queued copies; run at once too
when a request queues one, ``WorkQueued("copies")``); every ``maintenance_interval`` seconds one pass that
expires, purges and prunes (``service/maintenance.py``; the prune in its worker process); every
``replication_interval`` seconds one pass that copies new backup data to the paired regions
(``service/replication.py``). A pass that fails is logged and the next one runs as planned; a pass in progress
at shutdown is waited for (a sweep interrupted anyway resumes at the next start)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from vaultlink.errors import ServiceUnavailable
from vaultlink.runtime.prune_worker import PruneWorker
from vaultlink.service.dataplane.copies import run_copies
from vaultlink.service.events import WorkQueued
from vaultlink.service.maintenance import maintain_all
from vaultlink.service.replication import replicate_all
from vaultlink.service.scheduler import SERVICE_PRINCIPAL, schedule

log = logging.getLogger("vaultlink.maintenance")
COPY_INTERVAL = 30.0  # seconds between copy passes when the scheduler's interval is 0 (copies still run)


class Maintenance:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.tasks: list[asyncio.Task[None]] = []
        self.passes = 0

    async def _loop(self, interval: float, work: Callable[[Any], Any], what: str,
                    wake: asyncio.Event | None = None) -> None:
        svc = self.runtime.svc
        while True:
            if wake is None:
                await asyncio.sleep(interval)
            else:  # the interval, or sooner when work is queued
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), interval)
                wake.clear()
            try:
                await asyncio.to_thread(self._once, svc, work, what)
            except ServiceUnavailable as exc:  # a store away: one line, and the next pass tries again
                log.warning("%s pass skipped: %s", what, exc)
            except Exception:  # one failed pass must not end the next ones
                log.exception("%s pass failed", what)
            self.passes += 1

    @staticmethod
    def _once(svc: Any, work: Callable[[Any], Any], what: str) -> None:
        """One pass, run by one server at a time (several servers on one PostgreSQL: an advisory lock)."""
        exclusive = getattr(svc.store, "exclusive", None)
        if exclusive is None:
            work(svc)
            return
        with exclusive(f"vaultlink-pass-{what}") as mine:
            if mine:
                work(svc)

    async def start(self, _runtime: Any) -> None:
        cfg = self.runtime.svc.config
        if cfg.maintenance_interval > 0:
            self.tasks.append(asyncio.create_task(
                self._loop(cfg.maintenance_interval, maintain_all, "maintenance"), name="maintenance"))
        if cfg.replication_interval > 0:
            self.tasks.append(asyncio.create_task(
                self._loop(cfg.replication_interval, replicate_all, "replication"), name="replication"))
        if cfg.schedule_interval > 0:
            self.tasks.append(asyncio.create_task(
                self._loop(cfg.schedule_interval, lambda svc: schedule(svc, svc.clock.now()), "scheduler"),
                name="scheduler"))
        wake, loop = asyncio.Event(), asyncio.get_running_loop()
        self.runtime.svc.on(WorkQueued, lambda e: loop.call_soon_threadsafe(wake.set) if e.what == "copies" else None)
        self.tasks.append(asyncio.create_task(self._loop(
            cfg.schedule_interval or COPY_INTERVAL, lambda svc: run_copies(svc, SERVICE_PRINCIPAL), "copies", wake),
            name="copies"))

    async def stop(self, _runtime: Any) -> None:
        self.runtime.svc.stopping.set()  # a pass running in its thread stops between two blobs (copies, replication)
        if isinstance(self.runtime.svc.prune_runner, PruneWorker):
            self.runtime.svc.prune_runner.stop()
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def attach(runtime: Any) -> Maintenance:
    """Run the maintenance pass with ``runtime`` (a start and a stop hook)."""
    m = Maintenance(runtime)
    runtime.start_hooks.append(m.start)
    runtime.stop_hooks.append(m.stop)
    return m
