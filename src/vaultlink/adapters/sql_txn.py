"""The metadata store's transaction over SQL (``SqlStore.transaction`` hands one out): records by kind and id, the
indexed lookups (``account_id``, ``parent_id``, ``name``, ``status``) and the queries on body fields that the
database answers (``newest``, ``oldest``, ``listing``, ``lacking``, ``tally``)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Connection,
    Select,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    type_coerce,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy import delete as sql_delete
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError

from vaultlink.adapters.record_cache import CACHED_KINDS, RecordCache, digest
from vaultlink.adapters.schema import records
from vaultlink.errors import NotFound
from vaultlink.ports import check_field, name_taken, record_status

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
            raise name_taken(kind, id, record) from None

    def update(self, kind: str, id: str, record: Mapping[str, Any]) -> None:
        key = _key(record)
        try:
            with self._conn.begin_nested():
                res = self._conn.execute(_UPDATE, {
                    "p_kind": kind, "p_id": id, "p_body": json.dumps(record, sort_keys=True),
                    "p_account_id": key["account_id"], "p_parent_id": key["parent_id"], "p_name": key["name"],
                    "p_status": key["status"]})
        except IntegrityError:
            raise name_taken(kind, id, record) from None
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

    def oldest(self, kind: str, by: str, limit: int, after: tuple[float, str] | None = None,
               match: Mapping[str, str] | None = None, **eq: Any) -> list[dict[str, Any]]:
        key = self._field(by).as_float()
        ident = records.c.id if self._sqlite else records.c.id.collate("C")  # ids compared byte by byte everywhere
        filters, params = _filters(kind, eq)
        q = _filtered(False, filters).order_by(None).order_by(key.asc(), ident.asc()).where(key.is_not(None))
        for field, value in (match or {}).items():
            q = q.where(self._field(field).as_string() == str(value))
        if after is not None:
            at, last = float(after[0]), str(after[1])
            q = q.where(or_(key > at, and_(key == at, ident > last)))
        rows = self._conn.execute(q.limit(max(0, limit)), params).scalars().all()
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
