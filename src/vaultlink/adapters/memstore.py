"""In-memory metadata store: for unit tests only. Passes the same contract suite."""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from vaultlink.adapters.record_cache import CACHED_KINDS
from vaultlink.errors import NotFound
from vaultlink.ports import check_field, name_taken, record_status


class MemTxn:
    def __init__(self, rows: dict[tuple[str, str], tuple[int, dict[str, Any]]], seq: list[int]) -> None:
        self._rows = rows
        self._seq = seq

    def _unique_clash(self, kind: str, id: str, record: Mapping[str, Any]) -> bool:
        if record.get("name") is None:
            return False
        key = (record.get("account_id") or "", record.get("parent_id") or "", record["name"])
        for (k, i), (_, r) in self._rows.items():
            if (
                k == kind
                and i != id
                and r.get("name") is not None
                and (r.get("account_id") or "", r.get("parent_id") or "", r["name"]) == key
            ):
                return True
        return False

    def insert(self, kind: str, id: str, record: Mapping[str, Any]) -> None:
        if (kind, id) in self._rows or self._unique_clash(kind, id, record):
            raise name_taken(kind, id, record)
        self._seq[0] += 1
        self._rows[(kind, id)] = (self._seq[0], copy.deepcopy(dict(record)))

    def update(self, kind: str, id: str, record: Mapping[str, Any]) -> None:
        if (kind, id) not in self._rows:
            raise NotFound(f"{kind} {id!r} does not exist.")
        if self._unique_clash(kind, id, record):
            raise name_taken(kind, id, record)
        self._rows[(kind, id)] = (self._rows[(kind, id)][0], copy.deepcopy(dict(record)))

    def get(self, kind: str, id: str) -> dict[str, Any] | None:
        row = self._rows.get((kind, id))
        return None if row is None else copy.deepcopy(row[1])

    def unchanged(self, kind: str, id: str, record: Mapping[str, Any]) -> bool:
        row = self._rows.get((kind, id))
        return row is not None and row[1] == dict(record)

    def require(self, kind: str, id: str) -> dict[str, Any]:
        rec = self.get(kind, id)
        if rec is None:
            raise NotFound(f"{kind} {id!r} does not exist; list them to see what exists.", field=kind)
        return rec

    def _found(self, kind: str, eq: Mapping[str, Any]) -> list[tuple[int, str, dict[str, Any]]]:
        """(creation order, id, record) of the records ``find`` returns, in creation order (not copied)."""
        for k in eq:
            if k not in ("account_id", "parent_id", "name", "status"):
                raise ValueError(f"cannot filter on {k}")
        out = []
        for (k, id), (seq, r) in self._rows.items():
            if k != kind:
                continue
            if all(
                (record_status(r) if f == "status" else r.get(f) or ("" if f != "name" else None))
                == (v if v is not None or f == "name" else "")
                for f, v in eq.items()
            ):
                out.append((seq, id, r))
        return sorted(out, key=lambda x: x[0])

    def find(self, kind: str, **eq: Any) -> list[dict[str, Any]]:
        return [copy.deepcopy(r) for _, _, r in self._found(kind, eq)]

    def count(self, kind: str, **eq: Any) -> int:
        return len(self.find(kind, **eq))

    def newest(self, kind: str, by: str, limit: int, offset: int = 0, match: Mapping[str, str] | None = None,
               at_least: float | None = None, **eq: Any) -> list[dict[str, Any]]:
        for field in (by, *(match or {})):
            check_field(field)

        def key(r: dict[str, Any]) -> tuple[bool, float]:
            v = r.get(by)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return True, float(v)
            return False, 0.0

        found = [r for r in self.find(kind, **eq)[::-1]  # the last created first among equals (a stable sort)
                 if all(isinstance(r.get(f), str) and r[f] == str(v) for f, v in (match or {}).items())
                 and (at_least is None or (key(r)[0] and key(r)[1] >= at_least))]
        return sorted(found, key=key, reverse=True)[max(0, offset):max(0, offset) + max(0, limit)]

    def oldest(self, kind: str, by: str, limit: int, after: tuple[float, str] | None = None,
               match: Mapping[str, str] | None = None, **eq: Any) -> list[dict[str, Any]]:
        for field in (by, *(match or {})):
            check_field(field)
        found = sorted((float(r[by]), id, r) for _, id, r in self._found(kind, eq)
                       if isinstance(r.get(by), (int, float)) and not isinstance(r.get(by), bool)
                       and all(isinstance(r.get(f), str) and r[f] == str(v) for f, v in (match or {}).items()))
        at = (float(after[0]), str(after[1])) if after is not None else None
        return [copy.deepcopy(r) for v, id, r in found if at is None or (v, id) > at][:max(0, limit)]

    def listing(self, kind: str, field: str, **eq: Any) -> list[dict[str, Any]]:
        check_field(field)
        return [r for r in self.find(kind, **eq) if isinstance(r.get(field), list) and r[field]]

    def lacking(self, kind: str, field: str, **eq: Any) -> list[dict[str, Any]]:
        check_field(field)
        return [r for r in self.find(kind, **eq) if r.get(field) is None]

    def tally(self, kind: str, by: str, **eq: Any) -> dict[Any, int]:
        check_field(by)
        return dict(Counter(r.get(by) for r in self.find(kind, **eq)))

    def delete(self, kind: str, id: str) -> None:
        if self._rows.pop((kind, id), None) is None:
            raise NotFound(f"{kind} {id!r} does not exist.")


class MemoryStore:
    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self._seq = [0]
        self._audit: list[dict[str, Any]] = []
        self._audit_seq = 0
        self._lock = threading.RLock()

    def migrate(self) -> None:
        return None

    @contextmanager
    def _txn(self) -> Iterator[MemTxn]:
        with self._lock:
            work = dict(self._rows)
            seq = [self._seq[0]]
            txn = MemTxn(work, seq)
            yield txn
            self._rows = work
            self._seq = seq

    def transaction(self) -> AbstractContextManager[MemTxn]:
        return self._txn()

    def scan(self, kind: str) -> tuple[Mapping[str, Any], ...]:
        """Every committed record of ``kind``, oldest first, shared (never mutate): as ``SqlStore.scan``."""
        if kind not in CACHED_KINDS:
            raise ValueError(f"records of kind {kind!r} are not cached")
        with self._lock:
            rows = sorted(((seq, r) for (k, _), (seq, r) in self._rows.items() if k == kind), key=lambda x: x[0])
        return tuple(r for _, r in rows)

    def forget_cached(self) -> None:
        return None

    def append_audit(self, events: list[dict[str, Any]]) -> None:
        with self._lock:
            for ev in events:
                ev = dict(ev)
                ev["plane"] = ev.get("plane") or "management"
                self._audit_seq += 1
                ev["seq"] = self._audit_seq
                self._audit.append(ev)

    def query_audit(
        self,
        filters: dict[str, Any],
        after_seq: int = 0,
        limit: int = 1000,
        before_seq: int | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        out = []
        for ev in reversed(self._audit) if newest_first else self._audit:
            if ev["seq"] <= after_seq or (before_seq is not None and ev["seq"] >= before_seq):
                continue
            ok = True
            for k, v in filters.items():
                if v is None:
                    continue
                if k == "since":
                    ok = ok and ev["time"] >= float(v)
                elif k == "until":
                    ok = ok and ev["time"] <= float(v)
                else:
                    ok = ok and ev.get(k) == v
            if ok:
                out.append(dict(ev))
            if len(out) >= limit:
                break
        return out

    def trim_audit(self, before_time: float, max_events: int) -> int:
        with self._lock:
            keep = [e for e in self._audit if float(e.get("time") or 0) >= before_time]
            if len(keep) > max_events:
                keep = keep[len(keep) - max_events :]
            dropped = len(self._audit) - len(keep)
            self._audit = keep
            return dropped

    def close(self) -> None:
        return None
