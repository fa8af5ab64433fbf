"""The chunk index's compact table answers as a dict of ``Location``s would (the first pack to hold a chunk
wins, as with ``setdefault``), and refuses an entry it could not hold exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultlink.data.chunk_index import Location, LocationTable, MemoryChunkIndex
from vaultlink.data.formats import PackEntry
from vaultlink.errors import CorruptData

entry = st.builds(PackEntry, st.binary(min_size=32, max_size=32), st.integers(0, 2**28 - 1),
                  st.integers(0, 2**28 - 1))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([f"packs/{i:064x}" for i in range(5)]), st.lists(entry, max_size=8)),
                max_size=12))
def test_the_table_answers_as_a_dict_of_locations(adds: list[tuple[str, list[PackEntry]]]) -> None:
    table, want = LocationTable(), {}
    index = MemoryChunkIndex()
    for pack, entries in adds:
        table.add(pack, entries)
        index.add(pack, entries)
        for e in entries:
            want.setdefault(e.chunk_id, Location(pack, e.offset, e.length))
    assert len(table) == len(want) == len(index)
    for cid, loc in want.items():
        assert table.get(cid) == loc == index.lookup(cid) and cid in table
        assert table.pack_of(cid) == loc.pack == index.pack_of(cid)
    assert table.get(b"\0" * 31 + b"\1") == want.get(b"\0" * 31 + b"\1")
    if b"\0" * 31 + b"\1" not in want:
        assert table.pack_of(b"\0" * 31 + b"\1") is None is index.pack_of(b"\0" * 31 + b"\1")
    for pack, entries in adds:
        assert index.entries(pack) == entries or pack in [p for p, _ in adds[adds.index((pack, entries)) + 1:]]


def test_an_entry_beyond_what_a_pack_holds_is_refused() -> None:
    table = LocationTable()
    with pytest.raises(CorruptData):
        table.add("packs/x", [PackEntry(b"\1" * 32, 2**28, 5)])
    with pytest.raises(CorruptData):
        table.add("packs/x", [PackEntry(b"\1" * 32, 0, 2**28)])


@settings(max_examples=40, deadline=None)
@given(st.lists(entry, max_size=20))
def test_packed_entries_index_as_the_entries_do(entries: list[PackEntry]) -> None:
    """An index file's entries are added as they are stored (``ENTRY``-packed: no object per entry)."""
    from vaultlink.data.formats import ENTRY

    raw = b"".join(ENTRY.pack(e.chunk_id, e.offset, e.length) for e in entries)
    a, b = MemoryChunkIndex(), MemoryChunkIndex()
    a.add("packs/p", entries)
    b.add("packs/p", raw)
    assert [a.lookup(e.chunk_id) for e in entries] == [b.lookup(e.chunk_id) for e in entries]
    assert a.entries("packs/p") == b.entries("packs/p") == entries
    with pytest.raises(CorruptData):
        LocationTable().add("packs/p", raw + b"\0")


def _same_bucket(table: LocationTable, like: bytes, tail: bytes) -> bytes:
    """An id ending in ``tail`` that the table keeps in ``like``'s bucket (found by trying prefixes)."""
    mask = len(table._buckets) - 1
    for i in range(1 << 20):
        cid = i.to_bytes(32 - len(tail), "big") + tail
        if hash(cid) & mask == hash(like) & mask:
            return cid
    raise AssertionError("no id in that bucket")


def test_an_id_inside_two_records_of_a_bucket_is_not_held() -> None:
    """A bucket is one run of records: the bytes of an id the table does not hold can occur there across a
    record's end (here: the tail of one id, then its pack number, offset and length). Only a whole record
    counts, and that id is then added and found where it really is."""
    table = LocationTable()
    probe = bytes(range(1, 21)) + b"\0\0\0\0" + (100).to_bytes(4, "little") + (7).to_bytes(4, "little")
    carrier = _same_bucket(table, probe, probe[:20])  # its record: carrier's 32 bytes, then 0, 100, 7
    table.add("packs/a", [PackEntry(carrier, 100, 7)])
    assert bytes(table._buckets[hash(probe) & (len(table._buckets) - 1)]).find(probe) == 12
    assert probe not in table and table.get(probe) is None and table.pack_of(probe) is None
    assert table.having([probe, carrier]) == {carrier}
    table.add("packs/b", [PackEntry(probe, 5, 9)])
    assert table.get(probe) == Location("packs/b", 5, 9) and table.pack_of(probe) == "packs/b"
    assert table.get(carrier) == Location("packs/a", 100, 7) and len(table) == 2


def test_ids_of_another_length_are_never_held() -> None:
    table = LocationTable()
    cid = bytes(range(32))
    table.add("packs/a", [PackEntry(cid, 0, 1)])
    for other in (cid[:16], cid[:31], cid + b"\0", b""):
        assert other not in table and table.get(other) is None and table.pack_of(other) is None
        assert table.having([other]) == set()
    with pytest.raises(CorruptData):
        table.add("packs/a", [PackEntry(cid[:31], 0, 1)])


def test_a_growing_table_keeps_every_location_and_the_first_of_each_id() -> None:
    """Past ``FILL`` records a bucket on average the buckets double (and ``reserve`` makes them ahead):
    every id keeps its first location through each doubling."""
    ids = [i.to_bytes(4, "big") * 8 for i in range(5000)]
    for reserve in (0, 5000):
        table = LocationTable()
        table.reserve(reserve)
        for k in range(0, 5000, 500):
            table.add(f"packs/{k}", [PackEntry(c, j, 1 + j) for j, c in enumerate(ids[k:k + 500])])
        table.add("packs/late", [PackEntry(c, 1, 1) for c in ids[::7]])  # already held: first location stays
        assert len(table) == 5000 and len(table._buckets) >= 5000 // LocationTable.FILL
        assert all(table.get(c) == Location(f"packs/{i // 500 * 500}", i % 500, 1 + i % 500)
                   for i, c in enumerate(ids))
        assert table.having([*ids[:100], b"\xff" * 32]) == set(ids[:100])


def test_the_table_holds_a_chunk_in_under_70_bytes() -> None:
    """About 55 bytes a chunk (a dict of ids and integers took about 150: 150 MB at a million chunks)."""
    import os
    import tracemalloc

    from vaultlink.data.formats import ENTRY

    packs = [b"".join(ENTRY.pack(os.urandom(32), i * 100, 100) for i in range(1000)) for _ in range(50)]
    tracemalloc.start()
    try:
        table = LocationTable()
        for n, raw in enumerate(packs):
            table.add(f"packs/{n}", raw)
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(table) == 50_000
    assert used / 50_000 < 70, f"{used / 50_000:.0f} bytes a chunk"
