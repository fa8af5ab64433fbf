"""The packs a writer holds: the uploading ones and the open one, whatever the number of writer threads."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from data_helpers import PASS, rand_bytes

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import Repository
from vaultlink.data import repository as repository_mod
from vaultlink.data.pack_buffer import PackBuffer
from vaultlink.errors import StoreError


class SlowStore(MemoryBlobStore):
    """Uploads of packs take a while: the writers outrun them."""

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        if name.startswith("packs/"):
            time.sleep(0.03)
        super().put(name, data)


def test_full_packs_wait_as_the_open_one_instead_of_queueing(monkeypatch: pytest.MonkeyPatch) -> None:
    builders: list[repository_mod._PackBuilder] = []
    lock = threading.Lock()

    class Counted(repository_mod._PackBuilder):
        def __init__(self, buf: PackBuffer) -> None:
            super().__init__(buf)
            with lock:
                builders.append(self)

    monkeypatch.setattr(repository_mod, "_PackBuilder", Counted)
    store = SlowStore()
    repo = Repository.init(store, PASS, log_n=10, pack_size=64 * 1024, upload_workers=2)
    most = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with lock:
                held = sum(1 for b in builders if b.size > len(repository_mod.PACK_MAGIC))
            most[0] = max(most[0], held)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(6) as pool:  # more writers than upload slots
            list(pool.map(lambda i: repo.store_chunk(rand_bytes(16 * 1024, i)), range(240)))
        repo.flush()
    finally:
        stop.set()
        sampler.join()
    assert 2 <= most[0] <= 3  # two uploading and the open one (six writers could have queued six full ones)
    assert len(list(store.list("packs/"))) >= 50
    r2 = Repository.open(store, PASS)
    assert all(r2.read_chunk(r2.keys.chunk_id(rand_bytes(16 * 1024, i))) == rand_bytes(16 * 1024, i)
               for i in range(0, 240, 37))


def test_a_writer_waiting_with_a_full_pack_gets_the_failed_upload_error() -> None:
    class Fails(MemoryBlobStore):
        def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
            if name.startswith("packs/"):
                time.sleep(0.05)
                raise StoreError("the store went away")
            super().put(name, data)

    repo = Repository.init(Fails(), PASS, log_n=10, pack_size=16 * 1024, upload_workers=1)
    with pytest.raises(StoreError, match="went away"), ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda i: repo.store_chunk(rand_bytes(16 * 1024, i)), range(100)))
