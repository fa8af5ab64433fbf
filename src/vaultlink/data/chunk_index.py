"""The chunk index: chunk id -> where it lives (``Location``), shared by every backup of a vault; the
``ChunkIndex`` port, its compact table, and the in-memory index built from a repository's index files."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from vaultlink.data.crypto import ID_SIZE
from vaultlink.data.formats import ENTRY, PackEntry
from vaultlink.errors import CorruptData


@dataclass(frozen=True)
class Location:
    """Where a chunk lives: ``length`` bytes at ``offset`` in blob ``pack``."""

    pack: str
    offset: int
    length: int


class ChunkIndex(Protocol):
    """Chunk id -> location, shared by every backup of a vault.

    Contract: ``have(ids)`` returns the subset of ``ids`` already stored (called
    from worker threads, often with one id: remote implementations cache);
    ``add(pack, entries)`` records a pack once it is durably stored (idempotent);
    ``lookup(id)`` returns the location or ``None`` (``pack_of(id)`` its pack alone); ``packs()`` lists the packs
    it knows. Implementations are thread-safe.
    """

    def have(self, ids: Iterable[bytes]) -> set[bytes]: ...

    def add(self, pack: str, entries: Sequence[PackEntry] | bytes) -> None: ...

    def lookup(self, chunk_id: bytes) -> Location | None: ...

    def pack_of(self, chunk_id: bytes) -> str | None: ...

    def packs(self) -> set[str]: ...


_REC = struct.Struct("<32sIII")  # a table's record: chunk id, pack number, offset, length
_PLACE = struct.Struct("<III").unpack_from  # a record's pack number, offset and length
_PACK = struct.Struct("<I").unpack_from  # a record's pack number
_SIZE = _REC.size


def _find(bucket: bytearray, chunk_id: bytes, i: int) -> int:
    """Where ``chunk_id``'s record starts in ``bucket``, given ``i = bucket.find(chunk_id)``; -1 when it holds
    none (a match across two records, or of an id of another length, is none). The lookups call it only when
    ``i`` is not at once an aligned answer for a 32-byte id."""
    while i > 0 and i % _SIZE:
        i = bucket.find(chunk_id, i + 1)
    return i if len(chunk_id) == ID_SIZE else -1


class LocationTable:
    """Chunk id -> location, compact: no object per chunk. Ids are kept in buckets by their hash, a bucket
    being one ``bytearray`` of 44-byte records (the id, the pack's number, the offset, the length; a
    ``Location`` is made when asked for): a lookup is one search of a bucket of about ``FILL`` records, in
    C. About 55 bytes a chunk, where a dict of ids took about 150 (the agent's table at a million chunks:
    55 MB, not 150).

    Buckets are picked by ``hash()``, keyed per process: ids sent by a server cannot be chosen to crowd one
    bucket. Not locked: the indexes hold one lock around ``add``. Readers need none: a record is appended
    whole, and a resize swaps in a whole new table."""

    _LIMIT = 1 << 28  # offsets and lengths under 256 MiB (a pack is 8 MiB; a chunk at most 16 MiB)
    FILL = 12  # records per bucket, on average, before the buckets double

    def __init__(self) -> None:
        self._names: list[str] = []
        self._numbers: dict[str, int] = {}
        self._n = 0
        self._buckets = [bytearray() for _ in range(64)]

    def reserve(self, more: int) -> None:
        """Make the buckets for about ``more`` chunks to come now (cheap while the table is small), so that
        adding them does not move the records again and again."""
        while self._n + more > self.FILL * len(self._buckets):
            self._grow()

    def add(self, pack: str, entries: Iterable[PackEntry] | bytes) -> None:
        """A pack's entries (``PackEntry``s, or ``ENTRY``-packed bytes: no object per entry); an id already
        held keeps its first location."""
        if isinstance(entries, bytes):
            if len(entries) % ENTRY.size:
                raise CorruptData(f"{pack}: entries of a wrong length", object=pack)
            triples: Iterable[tuple[bytes, int, int]] = ENTRY.iter_unpack(entries)
        else:
            triples = ((e.chunk_id, e.offset, e.length) for e in entries)
        n = self._numbers.get(pack)
        if n is None:
            n = self._numbers[pack] = len(self._names)
            self._names.append(pack)
        limit, rec = self._LIMIT, _REC.pack
        buckets = self._buckets
        mask, grow_at = len(buckets) - 1, self.FILL * len(buckets)
        for cid, offset, length in triples:
            if offset >= limit or length >= limit or len(cid) != ID_SIZE:
                raise CorruptData(f"{pack}: an entry of a {len(cid)}-byte id at {offset} of {length} bytes: "
                                  "implausible", object=pack)
            b = buckets[hash(cid) & mask]
            if _find(b, cid, b.find(cid)) >= 0:
                continue
            b += rec(cid, n, offset, length)
            self._n += 1
            if self._n > grow_at:
                buckets = self._grow()
                mask, grow_at = len(buckets) - 1, self.FILL * len(buckets)

    def _grow(self) -> list[bytearray]:
        new = [bytearray() for _ in range(2 * len(self._buckets))]
        mask, rec = len(new) - 1, _REC.pack
        for b in self._buckets:
            for cid, n, offset, length in _REC.iter_unpack(b):
                new[hash(cid) & mask] += rec(cid, n, offset, length)
        self._buckets = new
        return new

    def get(self, chunk_id: bytes) -> Location | None:
        buckets = self._buckets
        b = buckets[hash(chunk_id) & (len(buckets) - 1)]
        i = _find(b, chunk_id, b.find(chunk_id))
        if i < 0:
            return None
        n, offset, length = _PLACE(b, i + ID_SIZE)
        return Location(self._names[n], offset, length)

    def pack_of(self, chunk_id: bytes) -> str | None:
        """``get(chunk_id).pack`` without the ``Location`` (a snapshot's packs are found a chunk at a time)."""
        buckets = self._buckets
        b = buckets[hash(chunk_id) & (len(buckets) - 1)]
        i = b.find(chunk_id)
        if i % _SIZE or len(chunk_id) != ID_SIZE:  # not found (-1), or not at once
            i = _find(b, chunk_id, i)
        return None if i < 0 else self._names[_PACK(b, i + ID_SIZE)[0]]

    def having(self, ids: Iterable[bytes]) -> set[bytes]:
        """Those of ``ids`` the table holds."""
        buckets = self._buckets
        mask, out = len(buckets) - 1, set()
        for cid in ids:
            b = buckets[hash(cid) & mask]
            i = b.find(cid)
            if i % _SIZE or len(cid) != ID_SIZE:  # not found (-1), or not at once
                i = _find(b, cid, i)
            if i >= 0:
                out.add(cid)
        return out

    def __contains__(self, chunk_id: bytes) -> bool:
        return bool(self.having((chunk_id,)))

    def __len__(self) -> int:
        return self._n


class MemoryChunkIndex:
    """In-memory ``ChunkIndex`` (each pack's entries kept in their stored form)."""

    def __init__(self) -> None:
        self._loc = LocationTable()
        self._packs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def have(self, ids: Iterable[bytes]) -> set[bytes]:
        return self._loc.having(ids)

    def add(self, pack: str, entries: Sequence[PackEntry] | bytes) -> None:
        raw = entries if isinstance(entries, bytes) else b"".join(
            ENTRY.pack(e.chunk_id, e.offset, e.length) for e in entries)
        with self._lock:
            self._packs[pack] = raw
            self._loc.add(pack, raw)

    def lookup(self, chunk_id: bytes) -> Location | None:
        return self._loc.get(chunk_id)

    def pack_of(self, chunk_id: bytes) -> str | None:
        return self._loc.pack_of(chunk_id)

    def packs(self) -> set[str]:
        with self._lock:
            return set(self._packs)

    def entries(self, pack: str) -> list[PackEntry]:
        return [PackEntry(*t) for t in ENTRY.iter_unpack(self._packs.get(pack, b""))]

    def __len__(self) -> int:
        return len(self._loc)

