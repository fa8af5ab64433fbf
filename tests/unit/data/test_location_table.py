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
