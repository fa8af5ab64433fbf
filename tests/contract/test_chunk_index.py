"""One contract suite for every VaultChunkIndex adapter (``ports.VaultChunkIndex``): memory, SQLite,
PostgreSQL (which must run in CI: ``./scripts/test`` starts it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.contract.conftest import fresh_sql_store

from vaultlink.adapters.chunkindex_memory import MemoryVaultChunkIndex
from vaultlink.adapters.chunkindex_sql import SqlVaultChunkIndex
from vaultlink.adapters.open import open_chunk_index
from vaultlink.ports import VaultChunkIndex


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VaultChunkIndex]:
    if request.param == "memory":
        yield MemoryVaultChunkIndex()
        return
    store = fresh_sql_store(request.param, tmp_path)
    idx = open_chunk_index(store)
    assert isinstance(idx, SqlVaultChunkIndex)  # the composition root opens the SQL index for a SQL store
    yield idx
    store.close()


def cid(i: int) -> bytes:
    return i.to_bytes(32, "big")


def test_add_is_idempotent_and_counts_new(index: VaultChunkIndex) -> None:
    assert index.add("v1", "c1", "s1", "packs/aa", [(cid(1), 5, 10), (cid(2), 15, 10)]) == 2
    assert index.add("v1", "c1", "s1", "packs/aa", [(cid(1), 5, 10), (cid(2), 15, 10)]) == 0
    assert index.add("v1", "c1", "s2", "packs/bb", [(cid(2), 5, 10), (cid(3), 15, 7)]) == 1
    assert index.add("v1", "c1", "s2", "packs/bb", []) == 0
    assert index.have("v1", "c1", [cid(1), cid(3), cid(9)]) == {cid(1), cid(3)}
    rows = sorted(index.rows("v1", "c1"))
    assert rows == [(cid(1), "s1", "packs/aa", 5, 10), (cid(2), "s1", "packs/aa", 15, 10),
                    (cid(3), "s2", "packs/bb", 15, 7)]


def test_scoped_by_vault_and_container(index: VaultChunkIndex) -> None:
    index.add("v1", "c1", "s1", "packs/aa", [(cid(1), 5, 10)])
    index.add("v1", "c2", "s1", "packs/cc", [(cid(7), 5, 10)])
    index.add("v2", "c3", "s9", "packs/dd", [(cid(1), 5, 10)])
    assert index.have("v1", "c2", [cid(1), cid(7)]) == {cid(7)}, "a container never sees another's ids"
    assert index.have("v2", "c3", [cid(1)]) == {cid(1)}
    assert [r[0] for r in index.rows("v1", "c2")] == [cid(7)]
    index.drop_vault("v1")
    assert index.have("v1", "c1", [cid(1)]) == set() and index.have("v2", "c3", [cid(1)]) == {cid(1)}
    assert list(index.rows("v1", "c1")) == []


def test_many_ids_in_one_call(index: VaultChunkIndex) -> None:
    index.add("v1", "c1", "s1", "packs/aa", [(cid(i), i * 10, 10) for i in range(1200)])
    assert len(index.have("v1", "c1", [cid(i) for i in range(0, 2400)])) == 1200
    assert index.have("v1", "c1", [cid(5), cid(5)]) == {cid(5)}


def test_an_id_twice_in_one_add_counts_once(index: VaultChunkIndex) -> None:
    """The first entry of an id wins, within one call as across calls (the count is of rows stored)."""
    assert index.add("v1", "c1", "s1", "packs/aa", [(cid(1), 0, 10), (cid(1), 10, 10), (cid(2), 20, 5)]) == 2
    assert sorted(index.rows("v1", "c1")) == [(cid(1), "s1", "packs/aa", 0, 10), (cid(2), "s1", "packs/aa", 20, 5)]


def test_pack_names_with_slashes_round_trip(index: VaultChunkIndex) -> None:
    index.add("v1", "c1", "acct", "packs/ab/cdef", [(cid(1), 0, 3)])
    assert list(index.rows("v1", "c1")) == [(cid(1), "acct", "packs/ab/cdef", 0, 3)]


def test_drop_packs_forgets_only_those_packs_of_that_container(index: VaultChunkIndex) -> None:
    index.add("v1", "c1", "s1", "packs/aa", [(cid(1), 0, 10), (cid(2), 10, 10)])
    index.add("v1", "c1", "s1", "packs/bb", [(cid(3), 0, 10)])
    index.add("v1", "c2", "s1", "packs/aa", [(cid(4), 0, 10)])
    assert index.drop_packs("v1", "c1", [("s1", "packs/aa"), ("s2", "packs/bb")]) == 2
    assert index.have("v1", "c1", [cid(1), cid(2), cid(3)]) == {cid(3)}
    assert index.have("v1", "c2", [cid(4)]) == {cid(4)}  # another container's pack of the same name stays
    # a chunk whose pack was pruned can be stored again, at its new location
    assert index.add("v1", "c1", "s1", "packs/cc", [(cid(1), 0, 10)]) == 1
    assert ("s1", "packs/cc") in {(a, p) for c, a, p, _o, _n in index.rows("v1", "c1") if c == cid(1)}
    assert index.drop_packs("v1", "c1", []) == 0
