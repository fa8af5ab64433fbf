"""Stopping the server tells a pass running in its thread (copies, replication) to stop between two blobs: the
pass's thread cannot be cancelled, and the process waited for it before it could exit."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

from vaultlink.runtime.maintenance import Maintenance


def test_stop_tells_a_running_pass_to_stop() -> None:
    svc = SimpleNamespace(stopping=threading.Event(), prune_runner=None)
    m = Maintenance(SimpleNamespace(svc=svc))
    ended: list[float] = []

    def long_pass() -> None:  # a copy of many blobs: it looks at ``stopping`` between two of them
        deadline = time.monotonic() + 30
        while not svc.stopping.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        ended.append(time.monotonic())

    async def main() -> float:
        m.tasks.append(asyncio.ensure_future(asyncio.to_thread(long_pass)))
        await asyncio.sleep(0.1)
        t = time.monotonic()
        await m.stop(None)
        return t

    t = asyncio.run(main())  # asyncio.run waits for the pass's thread (the default executor) before returning
    assert ended and ended[0] - t < 5, "the pass ended once the server stopped"
