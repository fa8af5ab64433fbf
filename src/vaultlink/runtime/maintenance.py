"""The periodic maintenance task of the process: every ``maintenance_interval`` seconds, one pass that
expires, purges and prunes (``service/maintenance.py``), in a worker thread so requests never wait on it.
A pass that fails is logged and the next one runs as planned; a pass in progress at shutdown is waited
for (a sweep interrupted anyway resumes at the next start)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from vaultlink.service.maintenance import maintain_all

log = logging.getLogger("vaultlink.maintenance")


class Maintenance:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.task: asyncio.Task[None] | None = None
        self.passes = 0

    async def _loop(self) -> None:
        svc = self.runtime.svc
        interval = float(svc.config.maintenance_interval)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(maintain_all, svc)
            except Exception:  # one failed pass must not end the next ones
                log.exception("maintenance pass failed")
            self.passes += 1

    async def start(self, _runtime: Any) -> None:
        if self.runtime.svc.config.maintenance_interval > 0:
            self.task = asyncio.create_task(self._loop(), name="maintenance")

    async def stop(self, _runtime: Any) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def attach(runtime: Any) -> Maintenance:
    """Run the maintenance pass with ``runtime`` (a start and a stop hook)."""
    m = Maintenance(runtime)
    runtime.start_hooks.append(m.start)
    runtime.stop_hooks.append(m.stop)
    return m
