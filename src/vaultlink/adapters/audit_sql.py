"""The audit log in SQL, compact: under 300 bytes on disk per audited request (``bench/audit_bench.py``),
every documented filter indexed (``MetadataStore.append_audit`` / ``query_audit`` / ``trim_audit``).

An event's low-cardinality fields (account, vault, endpoint, principal, action, code, decision, plane,
vnet, source address, host, target, method, container) are stored as small integers that point into
``audit_names`` (one row per distinct text, interned once and cached in the process); what is left
(path, status, latency, messages…) is one short JSON text under one-letter keys, where an event's own key
that could be mistaken for a stored one is kept as ``~key``. The filters ``account_id``, ``vault``, ``endpoint``,
``principal``, ``action``, ``code``, ``decision`` and ``plane`` each have an index on (field, seq), so
a listing of any account, newest first, reads only its own rows; ``since``/``until`` use the time index.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any, cast

from sqlalchemy import Connection, Engine, and_, func, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from vaultlink.adapters.schema import AUDIT_NAMED, READS, audit_log, audit_names

_MAX_CACHE = 200_000
# the other fields of almost every event, under one-letter keys in the stored JSON (expanded on read)
_SHORT = {"path": "p", "status": "s", "latency_ms": "l", "resource": "r", "message": "m", "summary": "y",
          "count": "n"}
_LONG = {v: k for k, v in _SHORT.items()}
_HASH_KEY = "h"  # a path ending in a content hash, stored compactly (below)
_TAKEN = set(_LONG) | {_HASH_KEY}  # stored keys an event's own key must not be mistaken for
# a path ending in a content hash (packs/…, index/…, snapshots/…: 64 hex digits) keeps its hash as 43 base64 characters
_HASHED = re.compile(r"(.*/)([0-9a-f]{64})")
_MAX_NAME = 1024
# an event's named fields when it has none (by position in AUDIT_NAMED), and the keys that are not "rest"
_DEFAULTS = tuple((AUDIT_NAMED.index(c), d) for c, d in
                  (("plane", "management"), ("action", "unknown"), ("decision", "unknown")))
_TARGET = AUDIT_NAMED.index("target")
_NOT_REST = frozenset(AUDIT_NAMED) | {"time", "seq"}
_REST_JSON = json.JSONEncoder(separators=(",", ":"), default=str)  # one encoder for every event's rest


class SqlAuditLog:
    def __init__(self, engine: Engine, lock: threading.RLock | None) -> None:
        self.engine = engine
        self._lock = lock
        self._ids: dict[str, int] = {}
        self._names: dict[int, str] = {}
        self._cache_lock = threading.Lock()
        self._pg = engine.dialect.name == "postgresql"
        mark = "%s" if self._pg else "?"
        cols = ("time_ms", *AUDIT_NAMED, "rest")
        self._insert_sql = f"INSERT INTO audit_log ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"

    def _writing(self) -> AbstractContextManager[Any]:
        return self._lock if self._lock is not None else nullcontext()

    # --- names --------------------------------------------------------------------------------------
    def _intern(self, conn: Connection, texts: set[str]) -> tuple[dict[str, int], dict[str, int]]:
        """(every text's id, the ids new to the cache): the new ones are learned (``_learn``) only once the
        transaction that inserted them commits. A batch that fails (a full disk, an outage) rolls its names back
        with it; kept in the cache, their ids would name nothing, and the events written later with them could
        never be found by those names."""
        with self._cache_lock:
            known = {t: self._ids[t] for t in texts if t in self._ids}
        missing = [t for t in texts if t not in known]
        found: dict[str, int] = {}
        if missing:
            ins = (pg_insert(audit_names) if self._pg else sqlite_insert(audit_names)).on_conflict_do_nothing()
            conn.execute(ins, [{"text": t} for t in missing])
            rows = conn.execute(select(audit_names.c.id, audit_names.c.text).where(audit_names.c.text.in_(missing)))
            found = {str(text): int(i) for i, text in rows}
            known.update(found)
        return known, found

    def _learn(self, found: dict[str, int]) -> None:
        if not found:
            return
        with self._cache_lock:
            if len(self._ids) > _MAX_CACHE:
                self._ids.clear()
                self._names.clear()
            self._ids.update(found)
            self._names.update({i: t for t, i in found.items()})

    def _id_of(self, conn: Connection, text: str) -> int | None:
        with self._cache_lock:
            hit = self._ids.get(text)
        if hit is not None:
            return hit
        row = conn.execute(select(audit_names.c.id).where(audit_names.c.text == text)).first()
        return int(row[0]) if row else None

    def _texts(self, conn: Connection, ids: set[int]) -> dict[int, str]:
        with self._cache_lock:
            out = {i: self._names[i] for i in ids if i in self._names}
        missing = [i for i in ids if i not in out]
        if missing:
            for i, text in conn.execute(select(audit_names.c.id, audit_names.c.text)
                                        .where(audit_names.c.id.in_(missing))):
                out[int(i)] = str(text)
        return out

    # --- the port -----------------------------------------------------------------------------------
    def append(self, events: list[dict[str, Any]]) -> None:
        """Store ``events`` in one transaction. Written for speed (the audit writer shares the GIL with the
        request path): one pass per event, rows as tuples through the driver's ``executemany``."""
        if not events:
            return
        prepared: list[tuple[int, Any, str | None]] = []
        texts: set[str | None] = set()
        # an event's named fields -> their stored texts, once per distinct combination in the batch (the
        # requests of one client through one endpoint share all of them)
        distinct: dict[tuple[Any, ...], list[Any]] = {}
        now = time.time()
        encode = _REST_JSON.encode
        stored_as = _SHORT.get
        for ev in events:
            raw = tuple(map(ev.get, AUDIT_NAMED))
            try:
                named = distinct.get(raw)
                hashable = True
            except TypeError:  # a field that is not hashable (stored as its text)
                named, hashable = None, False
            if named is None:
                named = _stored_texts(raw)
                texts.update(named)
                if hashable:
                    distinct[raw] = named
            ref: Any = raw if hashable else named
            rest: dict[str, Any] = {stored_as(k) or _stored_key(k): v for k, v in ev.items()
                                    if v is not None and k not in _NOT_REST}
            if rest.get("r") is not None and rest["r"] == named[_TARGET]:
                rest["r"] = 1  # the resource is the target: stored once
            p = rest.get("p")
            m = _HASHED.fullmatch(p) if isinstance(p, str) else None
            if m is not None:
                del rest["p"]
                rest[_HASH_KEY] = m.group(1) + base64.urlsafe_b64encode(bytes.fromhex(m.group(2))).decode().rstrip("=")
            t = ev.get("time")
            ms = round((float(t) if isinstance(t, (int, float)) else now) * 1000)
            prepared.append((ms, ref, encode(rest) if rest else None))
        texts.discard(None)
        with self._writing(), self.engine.begin() as conn:
            ids: dict[str | None, int | None] = {None: None}
            known, found = self._intern(conn, cast(set[str], texts))
            ids.update(known)
            id_of = ids.__getitem__
            stored = {raw: tuple(map(id_of, named)) for raw, named in distinct.items()}
            rows = [(ms, *(stored[ref] if ref.__class__ is tuple else map(id_of, ref)), rest)
                    for ms, ref, rest in prepared]
            conn.exec_driver_sql(self._insert_sql, rows)
        self._learn(found)  # committed

    def query(self, filters: dict[str, Any], after_seq: int = 0, limit: int = 1000, before_seq: int | None = None,
              newest_first: bool = False) -> list[dict[str, Any]]:
        c = audit_log.c
        conds = [c.seq > after_seq]
        if before_seq is not None:
            conds.append(c.seq < before_seq)
        with self.engine.connect().execution_options(**{READS: True}) as conn:
            for k, v in filters.items():
                if v is None:
                    continue
                if k == "since":
                    conds.append(c.time_ms >= math.ceil(float(v) * 1000))
                elif k == "until":
                    conds.append(c.time_ms <= math.floor(float(v) * 1000))
                elif k in AUDIT_NAMED:
                    ident = self._id_of(conn, str(v))
                    if ident is None:
                        return []  # a value never seen matches nothing
                    conds.append(getattr(c, k) == ident)
                else:
                    raise ValueError(f"cannot filter audit events on {k}")
            q = select(audit_log).where(and_(*conds))
            q = q.order_by(c.seq.desc() if newest_first else c.seq).limit(limit)
            rows = [dict(r._mapping) for r in conn.execute(q)]
            ids = {int(r[k]) for r in rows for k in AUDIT_NAMED if r[k] is not None}
            names = self._texts(conn, ids)
        out = []
        for r in rows:
            stored = json.loads(r["rest"]) if r["rest"] else {}
            hashed = stored.pop(_HASH_KEY, None)
            ev: dict[str, Any] = {_long(k): v for k, v in stored.items()}
            if hashed is not None:
                head, _, tail = hashed.rpartition("/")
                ev["path"] = f"{head}/" + base64.urlsafe_b64decode(tail + "=").hex()
            ev.update({k: (names.get(int(r[k])) if r[k] is not None else None) for k in AUDIT_NAMED})
            if ev.get("resource") == 1:
                ev["resource"] = ev["target"]
            ev["time"] = r["time_ms"] / 1000
            ev["seq"] = r["seq"]
            out.append(ev)
        return out

    def trim(self, before_time: float, max_events: int) -> int:
        with self._writing(), self.engine.begin() as conn:
            cut_ms = math.floor(float(before_time) * 1000)
            n = conn.execute(sql_delete(audit_log).where(audit_log.c.time_ms < cut_ms)).rowcount or 0
            top = conn.execute(select(func.max(audit_log.c.seq))).scalar()
            if top is not None:
                cut = int(top) - int(max_events)
                if cut > 0:
                    n += conn.execute(sql_delete(audit_log).where(audit_log.c.seq <= cut)).rowcount or 0
            return int(n)


def _stored_texts(raw: tuple[Any, ...]) -> list[Any]:
    """An event's named fields (``AUDIT_NAMED`` order) as the texts stored, defaults filled in."""
    named = list(raw)
    for i, v in enumerate(named):  # almost always short text already: converted only when not
        if v is not None and (v.__class__ is not str or len(v) > _MAX_NAME):
            named[i] = _text(v)
    for i, default in _DEFAULTS:
        if named[i] is None:
            named[i] = default
    return named


def _stored_key(key: str) -> str:
    if key in _SHORT:
        return _SHORT[key]
    return "~" + key if key in _TAKEN or key.startswith("~") else key


def _long(key: str) -> str:
    return key[1:] if key.startswith("~") else _LONG.get(key, key)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:_MAX_NAME]
