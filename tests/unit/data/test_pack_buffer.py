"""Packs are built in buffers reused from pack to pack (data/pack_buffer.py), never in one still in use."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from data_helpers import PASS, rand_bytes

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import Repository
from vaultlink.data.pack_buffer import PackBuffer, PackBuffers
from vaultlink.errors import StoreError


def test_bytes_go_in_one_after_another_and_a_full_buffer_grows() -> None:
    buf = PackBuffer(8192)
    assert buf.append(b"VLPK") == 0
    first = rand_bytes(5000, 1)
    assert buf.append(first) == 4
    second = rand_bytes(20000, 2)  # past the capacity: a larger map, what was written kept
    assert buf.append(memoryview(bytearray(second))) == 5004
    assert bytes(buf.view()) == b"VLPK" + first + second
    assert len(buf.map) >= 25004


def test_pages_given_back_read_as_zeros_and_the_rest_stays() -> None:
    buf = PackBuffer(1 << 20)
    data = rand_bytes(900_000, 3)
    buf.append(data)
    buf.release_above(100_000)
    kept = buf.map[:98_304]  # whole pages below 100,000 stay as written
    assert kept == data[:98_304]
    assert buf.map[102_400:900_000] == bytes(900_000 - 102_400)


def test_the_pool_hands_a_given_buffer_out_again_and_keeps_at_most_keep() -> None:
    pool = PackBuffers(64 * 1024, 16 * 1024, keep=2)
    a, b, c = pool.take(), pool.take(), pool.take()
    assert pool.made == 3
    a.append(b"x" * 1000)
    for buf in (a, b, c):
        pool.give(buf)
    again = pool.take()
    assert again in (a, b) and again.used == 0
    assert pool.take() in (a, b)
    pool.take()
    assert pool.made == 4  # the third given back was not kept


def test_a_repository_makes_no_more_buffers_than_packs_it_holds_at_once() -> None:
    store = MemoryBlobStore()
    repo = Repository.init(store, PASS, log_n=10, pack_size=64 * 1024, upload_workers=2)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: repo.store_chunk(rand_bytes(16 * 1024, i)), range(400)))
    repo.flush()
    assert len(list(store.list("packs/"))) >= 90
    assert repo._buffers.made <= 3  # the open pack and one per upload slot, for about a hundred packs
    r2 = Repository.open(store, PASS)
    assert all(r2.read_chunk(r2.keys.chunk_id(rand_bytes(16 * 1024, i))) == rand_bytes(16 * 1024, i)
               for i in range(0, 400, 23))


def test_the_buffer_of_a_pack_that_failed_to_upload_is_never_written_again() -> None:
    """A store may still hold the bytes it was given when it fails (a retry, a send in flight): the next
    packs must not be built over them."""

    class KeepsAndFails(MemoryBlobStore):
        def __init__(self) -> None:
            super().__init__()
            self.held: list[tuple[memoryview, bytes]] = []

        def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
            if name.startswith("packs/") and not self.held:
                view = memoryview(data)
                self.held.append((view, bytes(view)))
                raise StoreError("the store went away")
            super().put(name, data)

    store = KeepsAndFails()
    repo = Repository.init(store, PASS, log_n=10, pack_size=16 * 1024, upload_workers=1)
    with pytest.raises(StoreError):
        for i in range(20):
            repo.store_chunk(rand_bytes(16 * 1024, i))
        repo.flush()
    repo.abort()
    for i in range(100, 140):
        repo.store_chunk(rand_bytes(16 * 1024, i))
    repo.flush()
    view, then = store.held[0]
    assert bytes(view) == then
