"""runtime/heap.py: what a change builds is frozen after the change's other handlers ran; the periodic full
collection frees cyclic garbage that was caught frozen."""

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


def test_each_change_is_frozen_after_the_rebuilds_and_a_collection_frees_frozen_cycles(
        tmp_path: Path, unfrozen: None) -> None:
    svc = build_service(load_config(None, data_dir=str(tmp_path), blob_url="memory://"), store=MemoryStore())
    runtime: Any = SimpleNamespace(svc=svc, start_hooks=[], stop_hooks=[])
    built: list[Cycle] = []
    svc.on(EndpointsChanged, lambda _ev: built.append(Cycle()))  # as the fabric's handler builds a view
    heap = attach(runtime)

    async def run() -> None:
        for hook in runtime.start_hooks:
            await hook(runtime)
        try:
            gc.unfreeze()
            svc.fire(EndpointsChanged())  # the automatic records fire DnsChanged meanwhile: frozen twice
            rebuilt = built.pop()  # what the change built: still alive when the change ends
            assert all(o is not rebuilt for o in gc.get_objects()), "what the change built was not frozen"
            assert gc.get_freeze_count() > 0 and heap.frozen_since_collect == 2
            for event in (VaultsChanged(), DnsChanged()):
                svc.fire(event)
            assert heap.frozen_since_collect >= 4
            dropped = weakref.ref(rebuilt)
            del rebuilt  # the next change dropped it: a cycle, so only a collection frees it
            gc.collect()
            assert dropped() is not None, "a frozen cycle was collected without unfreezing"
            assert heap.collect() >= 1 and dropped() is None
            assert heap.frozen_since_collect == 0 and gc.get_freeze_count() > 0
        finally:
            for hook in runtime.stop_hooks:
                await hook(runtime)

    asyncio.run(run())
    assert heap.task is not None and heap.task.cancelled()


def test_the_periodic_collection_runs_only_after_changes(tmp_path: Path, unfrozen: None) -> None:
    svc = build_service(load_config(None, data_dir=str(tmp_path), blob_url="memory://"), store=MemoryStore())
    runtime: Any = SimpleNamespace(svc=svc, start_hooks=[], stop_hooks=[])
    heap = attach(runtime)
    heap.collect_seconds = 0.01
    collected: list[int] = []
    real = heap.collect

    def counted() -> int:
        collected.append(1)
        return real()

    heap.collect = counted  # type: ignore[method-assign]

    async def run() -> None:
        await runtime.start_hooks[0](runtime)
        await asyncio.sleep(0.1)
        assert collected == []  # nothing changed: no full collection
        svc.fire(EndpointsChanged())
        for _ in range(100):
            if collected:
                break
            await asyncio.sleep(0.01)
        await runtime.stop_hooks[0](runtime)

    asyncio.run(run())
    assert collected == [1] and heap.frozen_since_collect == 0
