"""Metadata store over SQL (SQLite by default, PostgreSQL for scale-out).

Translates SQLAlchemy/driver errors into ``vaultlink.errors`` here, and nowhere else.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Select,
    bindparam,
    case,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy import delete as sql_delete
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from vaultlink.adapters.audit_sql import SqlAuditLog
from vaultlink.adapters.full import is_full, metadata_full, store_failure
from vaultlink.adapters.record_cache import CACHED_KINDS, RecordCache, digest
from vaultlink.adapters.schema import READS, records
from vaultlink.errors import AlreadyExists, NotFound, ServiceUnavailable, StoreError
from vaultlink.ports import check_field, record_status

_INDEXED = ("account_id", "parent_id", "name", "status")


def _key(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "account_id": record.get("account_id") or "",
        "parent_id": record.get("parent_id") or "",
        "name": record.get("name"),
        "status": record_status(record),
    }


# Statements built once: building one per call (SQLAlchemy's expression objects and cache key) cost four times
# what running it does, and a control-plane change makes dozens of reads.
_GET = select(records.c.body).where(records.c.kind == bindparam("p_kind"), records.c.id == bindparam("p_id"))
_INSERT = insert(records)
_UPDATE = (
    sql_update(records)
    .where(records.c.kind == bindparam("p_kind"), records.c.id == bindparam("p_id"))
    .values(body=bindparam("p_body"), account_id=bindparam("p_account_id"), parent_id=bindparam("p_parent_id"),
            name=bindparam("p_name"), status=bindparam("p_status"))
)
_DELETE = sql_delete(records).where(records.c.kind == bindparam("p_kind"), records.c.id == bindparam("p_id"))


@functools.lru_cache(maxsize=64)
def _filtered(counted: bool, filters: tuple[tuple[str, bool], ...]) -> Select[Any]:
    """The records of a kind with indexed fields equal to parameters (``p_<field>``) or NULL."""
    q = select(func.count()).select_from(records) if counted else select(records.c.body)
    q = q.where(records.c.kind == bindparam("p_kind"))
    for field, null in filters:
        col = getattr(records.c, field)
        q = q.where(col.is_(None) if null else col == bindparam(f"p_{field}"))
    return q if counted else q.order_by(records.c.seq)


def _filters(kind: str, eq: Mapping[str, Any]) -> tuple[tuple[tuple[str, bool], ...], dict[str, Any]]:
    filters, params = [], {"p_kind": kind}
    for k, v in eq.items():
        if k not in _INDEXED:
            raise ValueError(f"cannot filter on {k}")
        v = "" if v is None and k != "name" else v
        filters.append((k, v is None))
        if v is not None:
            params[f"p_{k}"] = v
    return tuple(filters), params


class SqlTxn:
    def __init__(self, conn: Connection, cache: RecordCache | None = None) -> None:
        self._conn = conn
        self._cache = cache
        self._sqlite = conn.dialect.name == "sqlite"
        self.wrote: set[tuple[str, str]] = set()  # (kind, id) of cached kinds, told to the cache on commit

    def insert(self, kind: str, id: str, record: Mapping[str, Any]) -> None:
        try:
            with self._conn.begin_nested():
                self._conn.execute(_INSERT, {"kind": kind, "id": id, "body": json.dumps(record, sort_keys=True),
                                             **_key(record)})
            if kind in CACHED_KINDS:
                self.wrote.add((kind, id))
        except IntegrityError:
            name = record.get("name")
            raise AlreadyExists(
                f"a {kind} named {name!r} already exists here; pick another name."
                if name
                else f"{kind} {id!r} already exists.",
                field="name",
            ) from None

    def update(self, kind: str, id: str, record: Mapping[str, Any]) -> None:
        key = _key(record)
        try:
            with self._conn.begin_nested():
                res = self._conn.execute(_UPDATE, {
                    "p_kind": kind, "p_id": id, "p_body": json.dumps(record, sort_keys=True),
                    "p_account_id": key["account_id"], "p_parent_id": key["parent_id"], "p_name": key["name"],
                    "p_status": key["status"]})
        except IntegrityError:
            raise AlreadyExists(
                f"a {kind} named {record.get('name')!r} already exists here.", field="name"
            ) from None
        if res.rowcount == 0:
            raise NotFound(f"{kind} {id!r} does not exist.")
        if kind in CACHED_KINDS:
            self.wrote.add((kind, id))

    def get(self, kind: str, id: str) -> dict[str, Any] | None:
        row = self._conn.execute(_GET, {"p_kind": kind, "p_id": id}).first()
        return None if row is None else cast(dict[str, Any], json.loads(row[0]))

    def unchanged(self, kind: str, id: str, record: Mapping[str, Any]) -> bool:
        """Is the stored record ``id`` still ``record`` (a scanned one: its text's digest is compared, nothing
        decoded; any other record is compared decoded)?"""
        row = self._conn.execute(_GET, {"p_kind": kind, "p_id": id}).first()
        if row is None:
            return False
        known = self._cache.digest_of(kind, id, record) if self._cache is not None else None
        if known is not None:
            return digest(row[0]) == known
        return bool(json.loads(row[0]) == record)

    def require(self, kind: str, id: str) -> dict[str, Any]:
        rec = self.get(kind, id)
        if rec is None:
            raise NotFound(f"{kind} {id!r} does not exist; list them to see what exists.", field=kind)
        return rec

    def _field(self, name: str) -> Any:
        """A body field as SQL: JSON1's json_extract on SQLite, ``body::jsonb -> name`` on PostgreSQL."""
        check_field(name)
        body = type_coerce(records.c.body, JSON) if self._sqlite else sql_cast(records.c.body, JSONB)
        return body[name]

    def find(self, kind: str, **eq: Any) -> list[dict[str, Any]]:
        filters, params = _filters(kind, eq)
        rows = self._conn.execute(_filtered(False, filters), params).scalars().all()
        return [json.loads(body) for body in rows]  # each a new dict

    def count(self, kind: str, **eq: Any) -> int:
        """How many records ``find`` would return (nothing decoded)."""
        filters, params = _filters(kind, eq)
        return int(self._conn.execute(_filtered(True, filters), params).scalar_one())

    def newest(self, kind: str, by: str, limit: int, offset: int = 0, match: Mapping[str, str] | None = None,
               at_least: float | None = None, **eq: Any) -> list[dict[str, Any]]:
        key = self._field(by).as_float()
        filters, params = _filters(kind, eq)
        q = _filtered(False, filters).order_by(None).order_by(key.desc().nulls_last(), records.c.seq.desc())
        for field, value in (match or {}).items():
            q = q.where(self._field(field).as_string() == str(value))
        if at_least is not None:
            q = q.where(key >= float(at_least))
        rows = self._conn.execute(q.limit(max(0, limit)).offset(max(0, offset)), params).scalars().all()
        return [json.loads(body) for body in rows]

    def listing(self, kind: str, field: str, **eq: Any) -> list[dict[str, Any]]:
        check_field(field)
        length: Any
        if self._sqlite:  # NULL when missing or not an array
            length = func.json_array_length(records.c.body, f"$.{field}")
        else:
            value = sql_cast(records.c.body, JSONB)[field]
            length = case((func.jsonb_typeof(value) == "array", func.jsonb_array_length(value)), else_=0)
        filters, params = _filters(kind, eq)
        rows = self._conn.execute(_filtered(False, filters).where(length > 0), params).scalars().all()
        return [json.loads(body) for body in rows]

    def lacking(self, kind: str, field: str, **eq: Any) -> list[dict[str, Any]]:
        check_field(field)
        kind_of = func.json_type(records.c.body, f"$.{field}") if self._sqlite else \
            func.jsonb_typeof(sql_cast(records.c.body, JSONB)[field])  # NULL when missing, 'null' for null
        filters, params = _filters(kind, eq)
        q = _filtered(False, filters).where(or_(kind_of.is_(None), kind_of == "null"))
        return [json.loads(body) for body in self._conn.execute(q, params).scalars().all()]

    def tally(self, kind: str, by: str, **eq: Any) -> dict[Any, int]:
        key = self._field(by).as_string()
        filters, params = _filters(kind, eq)
        q = _filtered(True, filters).add_columns(key).group_by(key)
        return {value: int(n) for n, value in self._conn.execute(q, params)}

    def delete(self, kind: str, id: str) -> None:
        res = self._conn.execute(_DELETE, {"p_kind": kind, "p_id": id})
        if res.rowcount == 0:
            raise NotFound(f"{kind} {id!r} does not exist.")
        if kind in CACHED_KINDS:
            self.wrote.add((kind, id))


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
