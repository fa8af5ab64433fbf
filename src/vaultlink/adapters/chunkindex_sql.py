"""The chunk index in the ``chunk_index`` table of the SQL metadata store (SQLite or PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from vaultlink.adapters.chunkindex_memory import pack_key, pack_records, split_key
from vaultlink.adapters.full import store_failure
from vaultlink.adapters.schema import READS
from vaultlink.adapters.schema import chunk_index as t
from vaultlink.adapters.schema import chunk_packs as tp
from vaultlink.errors import StoreError
from vaultlink.ports import ChunkEntry, ChunkRow, PackRecords

_BATCH = 500


def _failed(exc: SQLAlchemyError, doing: str) -> StoreError:
    """``StorageFull`` when the database's disk (or SQLite's page limit) is full; ``StoreError`` otherwise."""
    return store_failure(exc, "the chunk index's database", f"cannot {doing} the chunk index: {exc.__class__.__name__}")


class SqlVaultChunkIndex:
    """Over the metadata store's engine; ``lock`` is the store's writer lock (SQLite has one writer)."""

    def __init__(self, engine: Engine, lock: Any = None) -> None:
        self.engine = engine
        self._lock: Any = lock or threading.RLock()
        self._dialect = engine.dialect.name
        # An INSERT that skips known ids and returns the ids it stored (a driver's rowcount for executemany
        # is not reliable: psycopg reports 0). Executed with the rows as parameters (SQLAlchemy's
        # "insertmanyvalues" batches them), so it is compiled once and cached, not once per pack: compiling
        # a multi-row VALUES per call was 15% of the server's CPU during a backup.
        ins = pg_insert(t) if self._dialect == "postgresql" else sqlite_insert(t)
        self._insert = ins.on_conflict_do_nothing().returning(t.c.chunk_id)
        self._insert_pack = (pg_insert(tp) if self._dialect == "postgresql" else sqlite_insert(tp)
                             ).on_conflict_do_nothing()
        # SQLite: the same statement as the driver's own executemany (a loop in C; the sum of its rows inserted
        # is the count of new ones: sqlite3's rowcount is exact). Through SQLAlchemy's per-row parameter
        # handling it cost 33 us a row, and a backup of 100k small files spent most of the server's worker
        # time there, holding the interpreter lock the event loop needs; the driver's loop takes about 6 us
        # (bench/README-backup.md, 2026-12-03).
        self._sqlite_insert = (
            f'INSERT INTO {t.name} (vault_id, chunk_id, pack, "offset", length, raw_length) '
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING"
        )

    def add(self, vault_id: str, container_id: str, account: str, pack: str, entries: Sequence[ChunkEntry]) -> int:
        if not entries:
            return 0
        key = pack_key(container_id, account, pack)
        packed = {"vault_id": vault_id, "pack": key, "entries": pack_records(entries)}
        if self._dialect == "sqlite":
            try:
                with self._lock, self.engine.begin() as conn:
                    res = conn.exec_driver_sql(self._sqlite_insert,
                                               [(vault_id, cid, key, off, ln) for cid, off, ln in entries])
                    conn.execute(self._insert_pack, packed)
                    return int(res.rowcount)
            except SQLAlchemyError as exc:
                raise _failed(exc, "update") from None
        rows = [
            {"vault_id": vault_id, "chunk_id": cid, "pack": key, "offset": off, "length": ln, "raw_length": 0}
            for cid, off, ln in entries
        ]
        new = 0
        try:
            with self._lock, self.engine.begin() as conn:
                for i in range(0, len(rows), _BATCH):
                    new += len(conn.execute(self._insert, rows[i : i + _BATCH]).all())
                conn.execute(self._insert_pack, packed)
        except SQLAlchemyError as exc:
            raise _failed(exc, "update") from None
        return new

    def have(self, vault_id: str, container_id: str, ids: Iterable[bytes]) -> set[bytes]:
        want = list(dict.fromkeys(ids))
        prefix = container_id + "/"
        if self._dialect == "sqlite":  # the driver's own statement: no per-call compile of 500 bound ids
            return self._have_sqlite(vault_id, prefix, want)
        out: set[bytes] = set()
        try:
            with self.engine.connect().execution_options(**{READS: True}) as conn:
                for i in range(0, len(want), _BATCH):
                    q = select(t.c.chunk_id, t.c.pack).where(
                        t.c.vault_id == vault_id, t.c.chunk_id.in_(want[i : i + _BATCH])
                    )
                    out.update(bytes(r[0]) for r in conn.execute(q) if str(r[1]).startswith(prefix))
        except SQLAlchemyError as exc:
            raise _failed(exc, "read") from None
        return out

    def _have_sqlite(self, vault_id: str, prefix: str, want: list[bytes]) -> set[bytes]:
        """``have`` on SQLite: the ids of ``want`` stored under the container's ``prefix``."""
        out: set[bytes] = set()
        try:
            with self.engine.connect().execution_options(**{READS: True}) as conn:
                for i in range(0, len(want), _BATCH):
                    part = want[i : i + _BATCH]
                    sql = (f"SELECT chunk_id, pack FROM {t.name} WHERE vault_id = ? AND chunk_id IN "
                           f"({', '.join('?' * len(part))})")
                    rows = conn.exec_driver_sql(sql, (vault_id, *part))
                    out.update(bytes(c) for c, p in rows if p.startswith(prefix))
        except SQLAlchemyError as exc:
            raise _failed(exc, "read") from None
        return out

    def rows(self, vault_id: str, container_id: str) -> Iterator[ChunkRow]:
        prefix = container_id + "/"
        try:
            with self.engine.connect().execution_options(**{READS: True}) as conn:
                if self._dialect == "sqlite":
                    # the driver's own rows through ``ix_chunk_index_pack``: a key range (SQLite compares bytes; a
                    # LIKE is case-insensitive there and cannot use the index), about 4 x faster than SQLAlchemy's
                    # rows over the vault's whole primary key (an agent loads its index at every backup and restore)
                    result = conn.exec_driver_sql(
                        f'SELECT chunk_id, pack, "offset", length FROM {t.name} WHERE vault_id = ? AND pack >= ? '
                        f'AND pack < ? ORDER BY pack, "offset"',
                        (vault_id, prefix, container_id + chr(ord("/") + 1)),
                    ).fetchall()
                else:
                    q = select(t.c.chunk_id, t.c.pack, t.c.offset, t.c.length).where(
                        t.c.vault_id == vault_id, t.c.pack.like(container_id + "/%")
                    ).order_by(t.c.pack, t.c.offset)
                    result = conn.execute(q).all()
        except SQLAlchemyError as exc:
            raise _failed(exc, "read") from None
        key, a, p = "", "", ""
        for cid, k, off, ln in result:
            if k != key:  # a pack's rows come together: its key is split once
                if not k.startswith(prefix):
                    continue
                key = k
                _c, a, p = split_key(k)
            yield bytes(cid), a, p, int(off), int(ln)

    def packs(self, vault_id: str, container_id: str) -> Iterator[PackRecords]:
        prefix = container_id + "/"
        try:
            with self.engine.connect().execution_options(**{READS: True}) as conn:
                # a key range, as ``rows`` (SQLite compares bytes; ``chr(ord("/") + 1)`` ends the container's keys)
                found = conn.execute(select(tp.c.pack, tp.c.entries).where(
                    tp.c.vault_id == vault_id, tp.c.pack >= prefix, tp.c.pack < container_id + chr(ord("/") + 1),
                ).order_by(tp.c.pack)).all()
        except SQLAlchemyError as exc:
            raise _failed(exc, "read") from None
        for key, entries in found:
            _c, a, p = split_key(key)
            yield a, p, bytes(entries)

    def drop_packs(self, vault_id: str, container_id: str, packs: Sequence[tuple[str, str]]) -> int:
        keys = [pack_key(container_id, a, p) for a, p in packs]
        gone = 0
        try:
            with self._lock, self.engine.begin() as conn:
                for i in range(0, len(keys), _BATCH):
                    part = keys[i : i + _BATCH]
                    res = conn.execute(delete(t).where(t.c.vault_id == vault_id, t.c.pack.in_(part)))
                    gone += int(res.rowcount or 0)
                    conn.execute(delete(tp).where(tp.c.vault_id == vault_id, tp.c.pack.in_(part)))
        except SQLAlchemyError as exc:
            raise _failed(exc, "update") from None
        return gone

    def drop_vault(self, vault_id: str) -> None:
        with self._lock, self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.vault_id == vault_id))
            conn.execute(delete(tp).where(tp.c.vault_id == vault_id))
