"""runtime/heap.py: what a change builds is frozen by the next freeze, after a collection of what is not frozen
yet; the periodic full collection frees cyclic garbage that was caught frozen."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.bootstrap import build_service
from vaultlink.config import load_config
from vaultlink.runtime.heap import attach
from vaultlink.service.events import DnsChanged, EndpointsChanged, VaultsChanged


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # leave this test process's collector as it found it


def test_a_change_is_frozen_by_the_next_freeze_which_first_frees_the_garbage_of_its_time(
        tmp_path: Path, unfrozen: None) -> None:
    """What a change built is frozen by the next freeze, not in the change's own handler: cyclic garbage made
    since the last freeze (a connection closed meanwhile) is collected first, not frozen with it; what was alive
    at a freeze and dropped later waits for the full collection."""
    svc = build_service(load_config(None, data_dir=str(tmp_path), blob_url="memory://"), store=MemoryStore())
    runtime: Any = SimpleNamespace(svc=svc, start_hooks=[], stop_hooks=[])
    built: list[Cycle] = []
    svc.on(EndpointsChanged, lambda _ev: built.append(Cycle()))  # as the fabric's handler builds a view
    heap = attach(runtime)
    heap.freeze_seconds = 3600.0  # (the test freezes by hand)

    async def run() -> None:
        for hook in runtime.start_hooks:
            await hook(runtime)
        try:
            gc.unfreeze()
            gc.freeze()  # as the start does
            svc.fire(EndpointsChanged())  # the automatic records fire DnsChanged meanwhile
            assert heap.changes == 2
            rebuilt = built.pop()  # what the change built: alive when the change ends
            closed = Cycle()  # a connection that closed since: garbage, in a cycle
            gone = weakref.ref(closed)
            del closed
            assert any(o is rebuilt for o in gc.get_objects()), "frozen in the change's own handler"
            assert heap.freeze() >= 1 and gone() is None, "the garbage of the moment was frozen"
            assert all(o is not rebuilt for o in gc.get_objects()), "what the change built was not frozen"
            assert heap.changes == 0 and heap.frozen_since_collect == 1 and gc.get_freeze_count() > 0
            dropped = weakref.ref(rebuilt)
            del rebuilt  # the next change dropped it: a cycle, so only a collection frees it
            for event in (VaultsChanged(), DnsChanged()):
                svc.fire(event)
            heap.freeze()
            assert dropped() is not None, "a frozen cycle was collected without unfreezing"
            assert heap.collect() >= 1 and dropped() is None
            assert heap.frozen_since_collect == 0 and gc.get_freeze_count() > 0
        finally:
            for hook in runtime.stop_hooks:
                await hook(runtime)

    asyncio.run(run())
    assert heap.task is not None and heap.task.cancelled()


def test_the_periodic_collection_runs_only_after_changes(tmp_path: Path, unfrozen: None) -> None:
    """The loop freezes within ``freeze_seconds`` of a change, and runs a full collection every
    ``collect_seconds`` only when something was frozen since the last one."""
    svc = build_service(load_config(None, data_dir=str(tmp_path), blob_url="memory://"), store=MemoryStore())
    runtime: Any = SimpleNamespace(svc=svc, start_hooks=[], stop_hooks=[])
    heap = attach(runtime)
    heap.collect_seconds, heap.freeze_seconds = 0.05, 0.01
    collected: list[int] = []
    real = heap.collect

    def counted() -> int:
        collected.append(1)
        return real()

    heap.collect = counted  # type: ignore[method-assign]

    async def run() -> None:
        await runtime.start_hooks[0](runtime)
        await asyncio.sleep(0.2)
        assert collected == []  # nothing changed: no full collection
        svc.fire(EndpointsChanged())
        for _ in range(200):
            if collected:
                break
            await asyncio.sleep(0.01)
        assert heap.changes == 0  # frozen by the loop
        await runtime.stop_hooks[0](runtime)

    asyncio.run(run())
    assert collected == [1] and heap.frozen_since_collect == 0
