"""Metadata store over SQL (SQLite by default, PostgreSQL for scale-out).

Translates SQLAlchemy/driver errors into ``vaultlink.errors`` here, and nowhere else.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from vaultlink.adapters.audit_sql import SqlAuditLog
from vaultlink.adapters.full import is_full, metadata_full, store_failure
from vaultlink.adapters.record_cache import RecordCache
from vaultlink.adapters.schema import READS, records
from vaultlink.adapters.sql_txn import SqlTxn
from vaultlink.errors import ServiceUnavailable, StoreError


def unavailable(where: str, exc: BaseException) -> ServiceUnavailable:
    """PostgreSQL unreachable, restarting or refusing for the moment (an operational error)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ServiceUnavailable(
        f"the metadata store (PostgreSQL at {where}) is unavailable: {first}. vaultlink reconnects by itself "
        "when it is back; retry the request then."
    )


class SqlStore:
    """The metadata store. ``url`` is a SQLAlchemy URL (sqlite:///path or postgresql+psycopg://…)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self._is_sqlite:
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_size"] = 10
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot open the metadata store {url!r}: {exc}") from None
        if self._is_sqlite:

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
                # Let SQLAlchemy, not pysqlite, decide where transactions begin, so that
                # SAVEPOINTs and rollbacks work (SQLAlchemy's documented pysqlite recipe).
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

            @event.listens_for(self.engine, "begin")
            def _begin(conn: Any) -> None:
                # IMMEDIATE: the write lock is taken at the start, so a transaction that reads and then
                # writes waits (``timeout``) for another process's writer instead of failing "database is
                # locked" (the prune worker writes the same file); in-process ones are serial anyway.
                # A connection that only reads (``READS``) begins a plain snapshot instead.
                conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READS) else "BEGIN IMMEDIATE")

        else:
            where = self.engine.url.render_as_string(hide_password=True).split("@")[-1]

            @event.listens_for(self.engine, "handle_error")
            def _unavailable(ctx: Any) -> None:
                # Every SQL path of the deployment (records, audit, chunk index, locks, the feed) meets a
                # PostgreSQL that is down or restarting as one stable, retryable error, not a traceback.
                if is_full(ctx.original_exception):
                    raise metadata_full(self.where, ctx.original_exception) from None
                if isinstance(ctx.sqlalchemy_exception, OperationalError) or ctx.is_disconnect:
                    raise unavailable(where, ctx.original_exception) from None

        # SQLite allows one writer: serialise our transactions in-process so they
        # never fail with "database is locked".
        self._lock = threading.RLock() if self._is_sqlite else None
        self._audit = SqlAuditLog(self.engine, self._lock)
        self._cache = RecordCache(self._cached_rows)

    def failed(self, exc: SQLAlchemyError) -> StoreError:
        """The store's error for a failed statement: ``StorageFull`` when the disk (or SQLite's page limit) is
        full, the general ``StoreError`` otherwise."""
        orig = getattr(exc, "orig", None)
        return store_failure(exc, self.where, f"the metadata store failed: {orig if orig is not None else exc}")

    @property
    def where(self) -> str:
        """The store as a message names it: SQLite's file, PostgreSQL's host (never its password)."""
        if self._is_sqlite:
            return "SQLite file " + (self.url.split("///", 1)[1] if "///" in self.url else self.url)
        return "PostgreSQL at " + self.engine.url.render_as_string(hide_password=True).split("@")[-1]

    def _cached_rows(self, kind: str, ids: list[str] | None) -> Iterator[tuple[str, str]]:
        """(id, body) of committed records, oldest first: a snapshot read that never waits for a writer."""
        q = select(records.c.id, records.c.body).where(records.c.kind == kind)
        if ids is not None:
            q = q.where(records.c.id.in_(ids))
        try:
            with self.engine.connect().execution_options(**{READS: True}) as conn:
                rows = [(str(r[0]), str(r[1])) for r in conn.execute(q.order_by(records.c.seq))]
        except OperationalError as exc:
            raise self.failed(exc) from None
        yield from rows

    def scan(self, kind: str) -> tuple[Mapping[str, Any], ...]:
        """Every committed record of ``kind`` (a cached kind: ``record_cache.py``), shared: never mutate."""
        return self._cache.scan(kind)

    def forget_cached(self) -> None:
        """Another process wrote records: read the cached kinds again in full."""
        self._cache.forget()

    @property
    def writer_lock(self) -> threading.RLock | None:
        """The in-process writer lock (SQLite: one writer), for adapters sharing this database."""
        return self._lock

    def migrate(self) -> None:
        """Apply every Alembic migration up to head."""
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except OperationalError as exc:
            raise StoreError(f"cannot migrate the metadata store {self.url!r}: {exc.orig}") from None

    @contextmanager
    def _txn(self) -> Iterator[SqlTxn]:
        lock = self._lock
        if lock is not None:
            lock.acquire()
        try:
            with self.engine.begin() as conn:
                txn = SqlTxn(conn, self._cache)
                yield txn
            if txn.wrote:
                self._cache.note(txn.wrote)
        except OperationalError as exc:
            raise self.failed(exc) from None
        finally:
            if lock is not None:
                lock.release()

    def transaction(self) -> AbstractContextManager[SqlTxn]:
        return self._txn()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """True for the one server (of several on this PostgreSQL) that holds ``name`` now: a session-level
        advisory lock, released at the end and by PostgreSQL when the holder dies. SQLite serves one server:
        always True."""
        if self._is_sqlite:
            yield True
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with self.engine.connect() as conn:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()

    def append_audit(self, events: list[dict[str, Any]]) -> None:
        try:
            self._audit.append(events)
        except OperationalError as exc:  # full: the sink holds the events until there is room
            raise self.failed(exc) from None

    def query_audit(
        self,
        filters: dict[str, Any],
        after_seq: int = 0,
        limit: int = 1000,
        before_seq: int | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        return self._audit.query(filters, after_seq, limit, before_seq, newest_first)

    def trim_audit(self, before_time: float, max_events: int) -> int:
        return self._audit.trim(before_time, max_events)

    def close(self) -> None:
        self.engine.dispose()
