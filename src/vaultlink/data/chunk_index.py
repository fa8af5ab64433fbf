"""The chunk index: chunk id -> where it lives (``Location``), shared by every backup of a vault; the
``ChunkIndex`` port, its compact table, and the in-memory index built from a repository's index files."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

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


class LocationTable:
    """Chunk id -> location, compact: a location is one integer (the pack's number, the offset, the length),
    a ``Location`` made when asked for. About 130 bytes a chunk (id, integer, the dict's slot) where a
    ``Location`` object and its two integers took about 260: a million chunks are 130 MB less. Not locked:
    the indexes that hold one lock around ``add``."""

    _SHIFT = 28  # offsets and lengths under 256 MiB (a pack is 8 MiB; a chunk at most 16 MiB)

    def __init__(self) -> None:
        self._loc: dict[bytes, int] = {}
        self._names: list[str] = []
        self._numbers: dict[str, int] = {}

    def add(self, pack: str, entries: Iterable[PackEntry] | bytes) -> None:
        """A pack's entries (``PackEntry``s, or ``ENTRY``-packed bytes: no object per entry)."""
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
        base, shift, loc = n << (2 * self._SHIFT), self._SHIFT, self._loc
        for cid, offset, length in triples:
            if offset >> shift or length >> shift:
                raise CorruptData(f"{pack}: an entry at {offset} of {length} bytes: implausible", object=pack)
            loc.setdefault(cid, base | offset << shift | length)

    def get(self, chunk_id: bytes) -> Location | None:
        v = self._loc.get(chunk_id)
        if v is None:
            return None
        mask = (1 << self._SHIFT) - 1
        return Location(self._names[v >> (2 * self._SHIFT)], (v >> self._SHIFT) & mask, v & mask)

    def pack_of(self, chunk_id: bytes) -> str | None:
        """``get(chunk_id).pack`` without the ``Location`` (a snapshot's packs are found a chunk at a time)."""
        v = self._loc.get(chunk_id)
        return None if v is None else self._names[v >> (2 * self._SHIFT)]

    def __contains__(self, chunk_id: bytes) -> bool:
        return chunk_id in self._loc

    def __len__(self) -> int:
        return len(self._loc)


class MemoryChunkIndex:
    """In-memory ``ChunkIndex`` (each pack's entries kept in their stored form)."""

    def __init__(self) -> None:
        self._loc = LocationTable()
        self._packs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def have(self, ids: Iterable[bytes]) -> set[bytes]:
        loc = self._loc
        return {i for i in ids if i in loc}

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

