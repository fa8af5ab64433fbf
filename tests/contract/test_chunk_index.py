"""One contract suite for every VaultChunkIndex adapter (``ports.VaultChunkIndex``): memory, SQLite,
PostgreSQL (which must run in CI: ``./scripts/test`` starts it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.contract.conftest import alembic_to, fresh_sql_store

from vaultlink.adapters.chunkindex_memory import MemoryVaultChunkIndex
from vaultlink.adapters.chunkindex_sql import SqlVaultChunkIndex
from vaultlink.adapters.open import open_chunk_index
from vaultlink.ports import CHUNK_RECORD, VaultChunkIndex


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


def test_rows_come_a_pack_at_a_time_by_offset_and_only_the_containers(index: VaultChunkIndex) -> None:
    """``rows`` gives a pack's rows together, by offset (the service sends each pack's entries as they come), and
    never a row of a container whose id starts like this one's or sorts next to it."""
    ids = iter(range(1, 10_000))
    for pack in ("packs/bb", "packs/aa", "packs/cc"):  # stored out of order, ids out of order within each pack
        index.add("v1", "c1", "s1", pack, [(cid(1000 - next(ids)), off, 7) for off in (900, 0, 300, 600)])
    for other in ("c10", "c1.x", "c", "c0", "c2"):
        index.add("v1", other, "s1", "packs/aa", [(cid(5000 + next(ids)), 0, 7)])
    got = [(a, p, off) for _c, a, p, off, _n in index.rows("v1", "c1")]
    assert len(got) == 12
    seen: list[tuple[str, str]] = []
    for a, p, _off in got:
        if not seen or seen[-1] != (a, p):
            assert (a, p) not in seen, f"{p} came in two runs: {got}"
            seen.append((a, p))
    for where in seen:
        assert [off for a, p, off in got if (a, p) == where] == [0, 300, 600, 900]
    assert len(list(index.rows("v1", "c10"))) == 1 and len(list(index.rows("v1", "c1.x"))) == 1


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_containers_rows_are_read_through_the_pack_index(kind: str, tmp_path: Path) -> None:
    """Migration 0006: ``(vault_id, pack)`` is indexed, and SQLite's ``rows`` query goes through it (not every row
    of the vault by chunk id: four times slower at 100k chunks, at every agent's index load)."""
    from sqlalchemy import inspect, text

    store = fresh_sql_store(kind, tmp_path)
    try:
        ix = {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("chunk_index")}
        assert ix.get("ix_chunk_index_pack") == ["vault_id", "pack"], ix
        if kind == "sqlite":
            with store.engine.connect() as conn:
                plan = str(conn.execute(text(
                    'EXPLAIN QUERY PLAN SELECT chunk_id, pack, "offset", length FROM chunk_index WHERE vault_id = '
                    "'v' AND pack >= 'c1/' AND pack < 'c10' ORDER BY pack, \"offset\"")).fetchall())
            assert "ix_chunk_index_pack" in plan, plan
    finally:
        store.close()


def records(*entries: tuple[int, int, int]) -> bytes:
    return b"".join(CHUNK_RECORD.pack(cid(i), off, ln) for i, off, ln in entries)


def test_packs_give_each_packs_entries_in_one_record_string(index: VaultChunkIndex) -> None:
    """``packs``: a row a pack (an agent's index load reads as many rows as the container has packs), the entries
    by offset, an id once, as the pack's first ``add`` gave them; an id already stored in another pack is listed
    under this one too (the pack holds it)."""
    index.add("v1", "c1", "s1", "packs/bb", [(cid(3), 20, 5), (cid(2), 0, 10), (cid(2), 10, 10)])
    index.add("v1", "c1", "s2", "packs/aa", [(cid(2), 0, 10), (cid(4), 10, 7)])
    index.add("v1", "c1", "s2", "packs/aa", [(cid(9), 0, 1)])  # a second add of the pack changes nothing
    index.add("v1", "c1", "s1", "packs/cc", [])  # no entries: no pack
    assert list(index.packs("v1", "c1")) == [("s1", "packs/bb", records((2, 0, 10), (3, 20, 5))),
                                             ("s2", "packs/aa", records((2, 0, 10), (4, 10, 7)))]
    # the rows still give each id its first location
    assert next((a, p) for c, a, p, _o, _n in index.rows("v1", "c1") if c == cid(2)) == ("s1", "packs/bb")


def test_packs_are_scoped_and_dropped_with_their_rows(index: VaultChunkIndex) -> None:
    index.add("v1", "c1", "s1", "packs/aa", [(cid(1), 0, 10)])
    index.add("v1", "c1", "s1", "packs/ab/cd", [(cid(2), 0, 10)])
    for other in ("c10", "c1.x", "c", "c0", "c2"):
        index.add("v1", other, "s1", "packs/aa", [(cid(50), 0, 7)])
    index.add("v2", "c1", "s1", "packs/zz", [(cid(60), 0, 7)])
    assert [(a, p) for a, p, _r in index.packs("v1", "c1")] == [("s1", "packs/aa"), ("s1", "packs/ab/cd")]
    assert [p for _a, p, _r in index.packs("v1", "c10")] == ["packs/aa"]
    assert index.drop_packs("v1", "c1", [("s1", "packs/aa")]) == 1
    assert [p for _a, p, _r in index.packs("v1", "c1")] == ["packs/ab/cd"]
    assert [p for _a, p, _r in index.packs("v1", "c10")] == ["packs/aa"], "another container's pack stays"
    index.drop_vault("v1")
    assert list(index.packs("v1", "c1")) == [] and list(index.packs("v1", "c10")) == []
    assert [p for _a, p, _r in index.packs("v2", "c1")] == ["packs/zz"]


def test_packs_stored_before_migration_0007_are_carried_over(tmp_path: Path) -> None:
    """A store migrated to 0006 with chunk rows: at 0007 every pack's rows become its records."""
    from sqlalchemy import text

    from vaultlink.adapters.sqlstore import SqlStore

    s = SqlStore(f"sqlite:///{tmp_path / 'old.db'}")
    alembic_to(s, "upgrade", "0006")
    rows = [("v1", cid(i), f"c1/s1/packs/p{i % 3}", 1000 - i, i) for i in range(1, 450)]
    rows += [("v1", cid(900), "c2/s1/packs/p0", 0, 9), ("v2", cid(901), "c1/s1/packs/p0", 0, 9)]
    with s.engine.begin() as conn:
        for r in rows:
            conn.execute(text('INSERT INTO chunk_index (vault_id, chunk_id, pack, "offset", length, raw_length) '
                              "VALUES (:v, :c, :p, :o, :n, 0)"), dict(zip("vcpon", r, strict=True)))
    s.migrate()
    idx = open_chunk_index(s)
    got = list(idx.packs("v1", "c1"))
    assert [(a, p) for a, p, _r in got] == [("s1", "packs/p0"), ("s1", "packs/p1"), ("s1", "packs/p2")]
    for _a, p, recs in got:
        want = sorted((1000 - i, i) for i in range(1, 450) if f"packs/p{i % 3}" == p)
        assert [(off, ln) for _c, off, ln in CHUNK_RECORD.iter_unpack(recs)] == want
    assert [p for _a, p, _r in idx.packs("v1", "c2")] == ["packs/p0"]
    assert [p for _a, p, _r in idx.packs("v2", "c1")] == ["packs/p0"]
    s.close()
