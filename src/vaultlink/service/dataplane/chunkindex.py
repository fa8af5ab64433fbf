"""The server-side chunk index (chunk id -> pack range) answering agents' dedup queries.

Rows live in the ``chunk_index`` table (SQL stores) or in memory (the ``memory://`` store). The
``pack`` column holds ``<container>/<storage account>/<pack name>``: each container has its own
repository (its own keys, so its chunk ids never collide with another container's) and the storage
account tells the agent where the pack lives. The service sees only keyed chunk ids, offsets and
lengths, never contents.

``ScopedChunkIndex`` adapts one container's rows to the backup engine's ``ChunkIndex`` protocol
(pack names ``<storage account>/<pack name>``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from vaultlink.data import Location
from vaultlink.errors import StoreError
from vaultlink.service.core import Service

Entry = tuple[bytes, int, int]  # chunk id, offset, length
Row = tuple[bytes, str, str, int, int]  # chunk id, storage account, pack, offset, length
_BATCH = 500


class VaultChunkIndex(Protocol):
    def add(self, vault_id: str, container_id: str, account: str, pack: str, entries: Sequence[Entry]) -> int:
        """Record a stored pack's entries (idempotent); returns how many ids were new."""
        ...

    def have(self, vault_id: str, container_id: str, ids: Iterable[bytes]) -> set[bytes]: ...

    def rows(self, vault_id: str, container_id: str) -> Iterator[Row]: ...

    def drop_vault(self, vault_id: str) -> None: ...


def _pack_key(container_id: str, account: str, pack: str) -> str:
    return f"{container_id}/{account}/{pack}"


def _split(key: str) -> tuple[str, str, str]:
    c, a, p = key.split("/", 2)
    return c, a, p


class MemoryVaultChunkIndex:
    def __init__(self) -> None:
        self._rows: dict[tuple[str, bytes], tuple[str, int, int]] = {}
        self._lock = threading.Lock()

    def add(self, vault_id: str, container_id: str, account: str, pack: str, entries: Sequence[Entry]) -> int:
        key = _pack_key(container_id, account, pack)
        new = 0
        with self._lock:
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

    def rows(self, vault_id: str, container_id: str) -> Iterator[Row]:
        with self._lock:
            items = [(k[1], v) for k, v in self._rows.items() if k[0] == vault_id]
        for cid, (key, off, ln) in items:
            c, a, p = _split(key)
            if c == container_id:
                yield cid, a, p, off, ln

    def drop_vault(self, vault_id: str) -> None:
        with self._lock:
            for k in [k for k in self._rows if k[0] == vault_id]:
                del self._rows[k]


class SqlVaultChunkIndex:
    """Over the metadata store's SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, store: Any) -> None:
        from sqlalchemy import Engine

        self.engine: Engine = store.engine
        # SQLite has one writer: share the store's in-process writer lock when it has one.
        self._lock: Any = getattr(store, "_lock", None) or threading.RLock()
        self._dialect = self.engine.dialect.name

    def _insert(self) -> Any:
        from vaultlink.adapters.schema import chunk_index

        if self._dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(chunk_index).on_conflict_do_nothing()
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(chunk_index).on_conflict_do_nothing()

    def add(self, vault_id: str, container_id: str, account: str, pack: str, entries: Sequence[Entry]) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        if not entries:
            return 0
        key = _pack_key(container_id, account, pack)
        rows = [
            {"vault_id": vault_id, "chunk_id": cid, "pack": key, "offset": off, "length": ln, "raw_length": 0}
            for cid, off, ln in entries
        ]
        try:
            with self._lock, self.engine.begin() as conn:
                res = conn.execute(self._insert(), rows)
                return max(int(res.rowcount or 0), 0)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot update the chunk index: {exc.__class__.__name__}") from None

    def have(self, vault_id: str, container_id: str, ids: Iterable[bytes]) -> set[bytes]:
        from sqlalchemy import select

        from vaultlink.adapters.schema import chunk_index as t

        want = list(dict.fromkeys(ids))
        out: set[bytes] = set()
        prefix = container_id + "/"
        with self.engine.connect() as conn:
            for i in range(0, len(want), _BATCH):
                q = select(t.c.chunk_id, t.c.pack).where(
                    t.c.vault_id == vault_id, t.c.chunk_id.in_(want[i : i + _BATCH])
                )
                out.update(bytes(r[0]) for r in conn.execute(q) if str(r[1]).startswith(prefix))
        return out

    def rows(self, vault_id: str, container_id: str) -> Iterator[Row]:
        from sqlalchemy import select

        from vaultlink.adapters.schema import chunk_index as t

        q = select(t.c.chunk_id, t.c.pack, t.c.offset, t.c.length).where(
            t.c.vault_id == vault_id, t.c.pack.like(container_id + "/%")
        )
        with self.engine.connect() as conn:
            result = [(bytes(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in conn.execute(q)]
        for cid, key, off, ln in result:
            _c, a, p = _split(key)
            yield cid, a, p, off, ln

    def drop_vault(self, vault_id: str) -> None:
        from sqlalchemy import delete

        from vaultlink.adapters.schema import chunk_index as t

        with self._lock, self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.vault_id == vault_id))


def chunk_index_of(svc: Service) -> VaultChunkIndex:
    """The service's chunk index (created on first use: SQL when the store is SQL, else memory)."""
    idx: VaultChunkIndex | None = getattr(svc, "_dp_chunk_index", None)
    if idx is None:
        idx = SqlVaultChunkIndex(svc.store) if hasattr(svc.store, "engine") else MemoryVaultChunkIndex()
        svc._dp_chunk_index = idx  # type: ignore[attr-defined]
    return idx


class ScopedChunkIndex:
    """One container's rows as the engine's ``ChunkIndex`` (pack names ``<account>/<pack>``)."""

    def __init__(self, index: VaultChunkIndex, vault_id: str, container_id: str) -> None:
        self.index, self.vault_id, self.container_id = index, vault_id, container_id

    def have(self, ids: Iterable[bytes]) -> set[bytes]:
        return self.index.have(self.vault_id, self.container_id, ids)

    def add(self, pack: str, entries: Sequence[Any]) -> None:
        account, _, name = pack.partition("/")
        self.index.add(
            self.vault_id, self.container_id, account, name, [(e.chunk_id, e.offset, e.length) for e in entries]
        )

    def lookup(self, chunk_id: bytes) -> Location | None:
        for cid, a, p, off, ln in self.index.rows(self.vault_id, self.container_id):
            if cid == chunk_id:
                return Location(f"{a}/{p}", off, ln)
        return None

    def packs(self) -> set[str]:
        return {f"{a}/{p}" for _c, a, p, _o, _l in self.index.rows(self.vault_id, self.container_id)}
