"""Decoded records of the kinds the views are built from, kept current by this process's own commits.

The network view, the automatic DNS records and the DNS view are rebuilt on every change; reading and
decoding every vault, vnet, endpoint and zone for each rebuild made one change cost O(N) in JSON
alone. :class:`RecordCache` holds each cached kind decoded, in creation order. The store tells it
which records every committed transaction wrote (:meth:`note`); the next :meth:`scan` re-reads only
those. Records another process wrote are not seen until :meth:`forget` (the change feed calls it for
every change another server announces), after which the next scan reads the kind again in full.

Scanned records are **shared and read-only**: callers must not mutate them (copy first). An
unchanged record keeps its identity from one scan to the next, so callers may memoize what they
derive from it by ``id()`` and an ``is`` check. The cache also keeps a digest of the text each current
record was decoded from (:meth:`digest_of`): whether a stored record is still the one scanned is then a
comparison of digests, not a decoding and a deep comparison (the automatic DNS records ask it of the
zone they rewrite on every endpoint create, 31 KB at 200 vaults).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

CACHED_KINDS = frozenset({"vault", "vnet", "endpoint", "dns_zone"})
MAX_DIRTY = 500  # more changed records than this since the last scan: read the kind in full (one query)
def digest(body: str) -> bytes:
    """The digest of a stored record's text (the store writes ``json.dumps(record, sort_keys=True)``)."""
    return hashlib.blake2b(body.encode(), digest_size=16).digest()


Rows = Callable[[str, list[str] | None], Iterator[tuple[str, str]]]  # (kind, ids or None) -> (id, body)


class RecordCache:
    def __init__(self, rows: Rows) -> None:
        self._rows = rows
        self._lock = threading.Lock()
        self._kinds: dict[str, dict[str, Mapping[str, Any]]] = {}
        self._scans: dict[str, tuple[Mapping[str, Any], ...]] = {}
        self._dirty: dict[str, set[str]] = {}
        self._digests: dict[str, dict[str, bytes]] = {}  # kind -> id -> digest of the current record's text

    def note(self, keys: Iterable[tuple[str, str]]) -> None:
        """These (kind, id) were written by a transaction that has just committed."""
        with self._lock:
            for kind, id in keys:
                if kind in self._kinds:
                    self._dirty.setdefault(kind, set()).add(id)

    def forget(self) -> None:
        """Another process may have written anything: every kind is read again in full at its next scan."""
        with self._lock:
            self._kinds.clear()
            self._digests.clear()
            self._scans.clear()
            self._dirty.clear()

    def scan(self, kind: str) -> tuple[Mapping[str, Any], ...]:
        """Every committed record of ``kind``, oldest first (shared: do not mutate)."""
        if kind not in CACHED_KINDS:
            raise ValueError(f"records of kind {kind!r} are not cached")
        with self._lock:
            have = self._kinds.get(kind)
            dirty = self._dirty.pop(kind, None)
            if have is None or (dirty is not None and len(dirty) > MAX_DIRTY):
                whole: dict[str, Mapping[str, Any]] = {}
                sums: dict[str, bytes] = {}
                for id, body in self._rows(kind, None):
                    whole[id], sums[id] = json.loads(body), digest(body)
                have = self._kinds[kind] = whole
                self._digests[kind] = sums
            elif dirty:
                try:
                    fresh = dict(self._rows(kind, sorted(dirty)))  # oldest first
                except Exception:  # the store is unavailable: read them at the next scan
                    self._dirty.setdefault(kind, set()).update(dirty)
                    raise
                sums = self._digests[kind]
                for id in dirty - fresh.keys():
                    have.pop(id, None)
                    sums.pop(id, None)
                for id, body in fresh.items():
                    have[id], sums[id] = json.loads(body), digest(body)  # in place; a new id goes last
            elif kind in self._scans:
                return self._scans[kind]
            out = tuple(have.values())
            self._scans[kind] = out
            return out

    def digest_of(self, kind: str, id: str, record: Mapping[str, Any]) -> bytes | None:
        """The digest of the text ``record`` was decoded from, when it is the cache's current record ``id`` (the
        very object a scan returned); None otherwise."""
        with self._lock:
            have = self._kinds.get(kind)
            if have is None or have.get(id) is not record:
                return None
            return self._digests[kind].get(id)
