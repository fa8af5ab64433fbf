"""The server-side chunk index: SQL and memory implementations behave the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vaultlink.adapters.sqlstore import SqlStore
from vaultlink.service.dataplane.chunkindex import (
    MemoryVaultChunkIndex,
    ScopedChunkIndex,
    SqlVaultChunkIndex,
    VaultChunkIndex,
)


@pytest.fixture(params=["memory", "sqlite"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VaultChunkIndex]:
    if request.param == "memory":
        yield MemoryVaultChunkIndex()
        return
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.migrate()
    yield SqlVaultChunkIndex(store)
    store.close()


def cid(i: int) -> bytes:
    return i.to_bytes(32, "big")


def test_add_is_idempotent_and_counts_new(index: VaultChunkIndex) -> None:
    assert index.add("v1", "c1", "s1", "packs/aa", [(cid(1), 5, 10), (cid(2), 15, 10)]) == 2
    assert index.add("v1", "c1", "s1", "packs/aa", [(cid(1), 5, 10), (cid(2), 15, 10)]) == 0
    assert index.add("v1", "c1", "s2", "packs/bb", [(cid(2), 5, 10), (cid(3), 15, 7)]) == 1
    assert index.have("v1", "c1", [cid(1), cid(3), cid(9)]) == {cid(1), cid(3)}
    rows = sorted(index.rows("v1", "c1"))
    assert rows == [(cid(1), "s1", "packs/aa", 5, 10), (cid(2), "s1", "packs/aa", 15, 10),
                    (cid(3), "s2", "packs/bb", 15, 7)]


def test_scoped_by_vault_and_container(index: VaultChunkIndex) -> None:
    index.add("v1", "c1", "s1", "packs/aa", [(cid(1), 5, 10)])
    index.add("v1", "c2", "s1", "packs/cc", [(cid(7), 5, 10)])
    index.add("v2", "c3", "s9", "packs/dd", [(cid(1), 5, 10)])
    assert index.have("v1", "c2", [cid(1), cid(7)]) == {cid(7)}
    assert index.have("v2", "c3", [cid(1)]) == {cid(1)}
    assert [r[0] for r in index.rows("v1", "c2")] == [cid(7)]
    index.drop_vault("v1")
    assert index.have("v1", "c1", [cid(1)]) == set() and index.have("v2", "c3", [cid(1)]) == {cid(1)}


def test_scoped_view_is_an_engine_chunk_index(index: VaultChunkIndex) -> None:
    from vaultlink.data.formats import PackEntry

    s = ScopedChunkIndex(index, "v1", "c1")
    s.add("s1/packs/aa", [PackEntry(cid(1), 5, 10)])
    assert s.have([cid(1), cid(2)]) == {cid(1)}
    loc = s.lookup(cid(1))
    assert loc is not None and (loc.pack, loc.offset, loc.length) == ("s1/packs/aa", 5, 10)
    assert s.packs() == {"s1/packs/aa"} and s.lookup(cid(2)) is None


def test_many_ids_in_one_query(index: VaultChunkIndex) -> None:
    index.add("v1", "c1", "s1", "packs/aa", [(cid(i), i * 10, 10) for i in range(1200)])
    assert len(index.have("v1", "c1", [cid(i) for i in range(0, 2400)])) == 1200
