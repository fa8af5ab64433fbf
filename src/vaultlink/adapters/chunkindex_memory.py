"""The chunk index in memory (for the ``memory://`` store and unit tests); passes the same contract suite."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence

from vaultlink.ports import CHUNK_RECORD, ChunkEntry, ChunkRow, PackRecords


def pack_key(container_id: str, account: str, pack: str) -> str:
    """The stored location of a pack: ``<container>/<storage account>/<pack name>``."""
    return f"{container_id}/{account}/{pack}"


def split_key(key: str) -> tuple[str, str, str]:
    c, a, p = key.split("/", 2)
    return c, a, p


def pack_records(entries: Sequence[ChunkEntry]) -> bytes:
    """A pack's entries as ``VaultChunkIndex.packs`` gives them: ``CHUNK_RECORD``s by offset, an id once (its
    first entry)."""
    first: dict[bytes, ChunkEntry] = {}
    for e in entries:
        first.setdefault(e[0], e)
    pack = CHUNK_RECORD.pack
    return b"".join(pack(cid, off, ln) for cid, off, ln in sorted(first.values(), key=lambda e: e[1]))


class MemoryVaultChunkIndex:
    def __init__(self) -> None:
        self._rows: dict[tuple[str, bytes], tuple[str, int, int]] = {}
        self._packs: dict[tuple[str, str], bytes] = {}  # (vault, pack key) -> its records
        self._lock = threading.Lock()

    def add(self, vault_id: str, container_id: str, account: str, pack: str, entries: Sequence[ChunkEntry]) -> int:
        key = pack_key(container_id, account, pack)
        new = 0
        records = pack_records(entries) if entries else b""
        with self._lock:
            if entries:
                self._packs.setdefault((vault_id, key), records)
            for cid, off, ln in entries:
                if (vault_id, cid) not in self._rows:
                    self._rows[(vault_id, cid)] = (key, off, ln)
                    new += 1
        return new

    def have(self, vault_id: str, container_id: str, ids: Iterable[bytes]) -> set[bytes]:
        prefix = container_id + "/"
        with self._lock:
            return {
                i for i in ids if (r := self._rows.get((vault_id, i))) is not None and r[0].startswith(prefix)
            }

    def rows(self, vault_id: str, container_id: str) -> Iterator[ChunkRow]:
        with self._lock:
            items = [(key, off, cid, ln) for (v, cid), (key, off, ln) in self._rows.items() if v == vault_id]
        items.sort()
        for key, off, cid, ln in items:
            c, a, p = split_key(key)
            if c == container_id:
                yield cid, a, p, off, ln

    def packs(self, vault_id: str, container_id: str) -> Iterator[PackRecords]:
        with self._lock:
            found = sorted((key, records) for (v, key), records in self._packs.items() if v == vault_id)
        for key, records in found:
            c, a, p = split_key(key)
            if c == container_id:
                yield a, p, records

    def drop_packs(self, vault_id: str, container_id: str, packs: Sequence[tuple[str, str]]) -> int:
        keys = {pack_key(container_id, a, p) for a, p in packs}
        with self._lock:
            gone = [k for k, v in self._rows.items() if k[0] == vault_id and v[0] in keys]
            for k in gone:
                del self._rows[k]
            for key in keys:
                self._packs.pop((vault_id, key), None)
        return len(gone)

    def drop_vault(self, vault_id: str) -> None:
        with self._lock:
            for k in [k for k in self._rows if k[0] == vault_id]:
                del self._rows[k]
            for pk in [pk for pk in self._packs if pk[0] == vault_id]:
                del self._packs[pk]
