"""Small ports: the contracts that adapters implement.

Every adapter, the in-memory ones included, passes the shared contract suite
in ``tests/contract``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from vaultlink.errors import AlreadyExists, InvalidInput

# --- blob names: the rules every BlobStore adapter enforces -------------------------------------
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


def check_name(name: str) -> str:
    """Return ``name`` if valid: ``/``-separated ``[A-Za-z0-9._-]`` segments, none empty, ``.`` or ``..``."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("blob name must be a non-empty string", field="name")
    for seg in name.split("/"):
        if seg in ("", ".", "..") or not _SEGMENT.fullmatch(seg):
            raise InvalidInput(
                f"invalid blob name {name!r}: segments are [A-Za-z0-9._-], no '..'", field="name"
            )
    return name


def check_range(name: str, size: int, offset: int, length: int) -> None:
    if offset < 0 or length < 0 or offset + length > size:
        raise InvalidInput(f"range {offset}+{length} is outside blob {name!r} of {size} bytes", field="range")


_FIELD = re.compile(r"[a-z_][a-z0-9_]{0,63}")


def check_field(name: str) -> str:
    """Return ``name`` if it may name a record's body field in a ``Txn`` query (``newest``, ``tally``,
    ``listing``, ``lacking``): a programming error otherwise, never a caller's input."""
    if not isinstance(name, str) or not _FIELD.fullmatch(name):
        raise ValueError(f"cannot query on the field {name!r}")
    return name


class Clock(Protocol):
    """Wall-clock time in seconds since the epoch (float). Tests inject fakes."""

    def now(self) -> float: ...


class BlobStore(Protocol):
    """Immutable named objects (packs, index files, manifests, key files).

    Contract:
    - ``put(name, data)`` stores ``data`` atomically: a reader sees either the
      whole object or nothing, even if the process dies mid-write. Putting an
      existing name with the same bytes is a no-op. With other bytes, a mutable
      store (``write_once`` False: the server's own stores) replaces it; a
      write-once store (``write_once`` True: the agent's store over a vault's blob
      service) raises ``BlobExists`` and keeps the stored bytes, refuses
      ``delete`` with ``InvalidInput``, and accepts names under ``packs/``,
      ``index/`` and ``snapshots/`` only when they are the BLAKE3 hash of the
      bytes (``ContentMismatch``).
    - ``get(name)`` returns the whole object; ``get_range(name, offset, length)``
      returns exactly ``length`` bytes starting at ``offset``. Both raise
      ``vaultlink.errors.NotFound`` for a missing name and ``InvalidInput`` for a
      range outside the object.
    - ``exists(name)``, ``size(name)`` (NotFound if missing), ``delete(name)``
      (missing is not an error), ``list(prefix)`` yields names that start with
      ``prefix`` in lexicographic order.
    - Names are ``/``-separated, made of ``[A-Za-z0-9._-]`` segments; anything
      else (``..``, empty segments, leading ``/``) raises ``InvalidInput``.
    """

    write_once: bool

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None: ...

    def get(self, name: str) -> bytes: ...

    def get_range(self, name: str, offset: int, length: int) -> bytes: ...

    def exists(self, name: str) -> bool: ...

    def size(self, name: str) -> int: ...

    def delete(self, name: str) -> None: ...

    def list(self, prefix: str = "") -> Iterator[str]: ...


class RangePieces(Protocol):
    """A blob range read a piece at a time, each piece when asked (``read_pieces``, which the local and the S3
    stores offer: a store without it is read whole). ``close`` releases it early; it is released after the
    last piece too. One reader at a time."""

    def __iter__(self) -> Iterator[bytes]: ...

    def __next__(self) -> bytes: ...

    def close(self) -> None: ...


class CreateOnly(Protocol):
    """A blob store that can create a name atomically only if it is absent (the server's own stores: the
    local directory with ``link``, memory, S3 with ``If-None-Match: *``). Several writers, in several
    processes or servers, racing on one name: exactly one creates it, and nobody replaces it."""

    def create(self, name: str, data: bytes | bytearray | memoryview) -> bool:
        """Store ``data`` under ``name`` unless the name exists; False (stored bytes untouched) if it does."""
        ...


class BlobWriter(Protocol):
    """One blob being created from bytes given a part at a time (``StreamCreate.create_writer``)."""

    size: int  # bytes written so far

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def commit(self) -> bool:
        """Create the name from the bytes written, unless it exists: False then (stored bytes untouched). Either
        way the writer is closed."""
        ...

    def close(self) -> None:
        """Discard what was written unless committed; nothing of it stays. Safe to call twice."""
        ...


class SizedList(Protocol):
    """A blob store that lists names with their sizes in the listing itself (a directory's entries, an S3 listing's
    ``Size``): prune's pass over every pack of every machine, every few minutes, asks no ``size`` per blob (an S3
    HEAD each: 12,800 of them per 100 GiB machine per pass). Same names, same order as ``list``."""

    def sized(self, prefix: str = "") -> Iterator[tuple[str, int]]: ...


class StreamCreate(Protocol):
    """A blob store that can create a name from bytes given a part at a time (the local directory, memory): the
    server stores a large upload as it arrives, instead of holding it whole first. Same rules as ``create``."""

    def create_writer(self, name: str) -> BlobWriter: ...


class ObjectLock(Protocol):
    """A blob store that can put a stored object under a compliance retention (S3 Object Lock): until then
    nobody, the store's owner included, deletes or overwrites it, whatever the service does. ``object_lock``
    is False where the store (a bucket made without it) cannot."""

    object_lock: bool

    def retain(self, name: str, until: float) -> None:
        """Keep ``name`` until ``until`` (epoch seconds) at least; never shortens a retention."""
        ...


def record_status(record: Mapping[str, Any]) -> str:
    """A record's indexed ``status`` (what ``Txn.find(kind, status=…)`` matches): its body's ``status`` when that is
    a string of at most 32 characters, else ""."""
    status = record.get("status")
    return status if isinstance(status, str) and len(status) <= 32 else ""


def name_taken(kind: str, id: str, record: Mapping[str, Any]) -> AlreadyExists:
    """What a store raises for a record whose id, or ``(kind, account_id, parent_id, name)``, is taken."""
    name = record.get("name")
    return AlreadyExists(f"a {kind} named {name!r} already exists here; pick another name." if name
                         else f"{kind} {id!r} already exists.", field="name")


class Txn(Protocol):
    """One metadata transaction over typed records.

    Records are JSON-able dicts stored under a ``kind`` (``vault``, ``vnet`` …)
    and an ``id``. Every record has the indexed fields ``account_id``,
    ``parent_id`` and ``name`` (any may be ``None``), and ``status`` (``record_status``: a job's open ones
    are found among millions); ``(kind, account_id, parent_id, name)`` is unique when ``name`` is not ``None``.

    - ``insert`` raises ``AlreadyExists`` on a duplicate id or unique key.
    - ``update`` replaces the record; ``NotFound`` if it does not exist.
    - ``get`` returns ``None`` when missing; ``require`` raises ``NotFound``.
    - ``find(kind, **eq)`` filters on the indexed fields (exact match) and
      returns records ordered by creation.
    - ``count(kind, **eq)``: how many ``find`` would return, without reading them.
    - ``newest(kind, by, limit, offset, match, **eq)``: a page of what ``find`` would return (and, with
      ``match``, whose body fields equal those strings), by the numeric body field ``by``, greatest first
      (records without it last; ties: the last created first); with ``at_least``, only those whose ``by`` is at
      least that. The database filters and sorts; only the page is read.
    - ``oldest(kind, by, limit, after, match, **eq)``: the first ``limit`` of those records with a numeric
      ``by``, in the order of ``(by, id)`` ascending; with ``after=(value, id)``, only those that come after that
      pair (a cursor: the last one a page gave, so the next page neither repeats nor skips one, whatever was
      added or removed meanwhile).
    - ``listing(kind, field, **eq)``: what ``find`` would return whose body field ``field`` is a non-empty
      list (the database picks them: a few among many records are read, not all).
    - ``lacking(kind, field, **eq)``: what ``find`` would return whose body field ``field`` is missing or
      null (picked by the database, as ``listing``).
    - ``tally(kind, by, **eq)``: how many of what ``find`` would return have each value of the body field
      ``by`` (``None`` for records without it), counted by the database.
    - ``unchanged(kind, id, record)``: is the stored record ``id`` equal to ``record`` (False when it is
      gone)? For a record ``MetadataStore.scan`` returned, cheap whatever its size (nothing is decoded):
      a rewrite checks that nobody changed the record since it was scanned.
    - ``delete`` removes; ``NotFound`` if missing.
    - Changes become visible to other transactions only on commit; an
      exception inside the ``transaction()`` block rolls everything back.
    """

    def insert(self, kind: str, id: str, record: Mapping[str, Any]) -> None: ...

    def update(self, kind: str, id: str, record: Mapping[str, Any]) -> None: ...

    def get(self, kind: str, id: str) -> dict[str, Any] | None: ...

    def unchanged(self, kind: str, id: str, record: Mapping[str, Any]) -> bool: ...

    def require(self, kind: str, id: str) -> dict[str, Any]: ...

    def find(self, kind: str, **eq: Any) -> list[dict[str, Any]]: ...

    def count(self, kind: str, **eq: Any) -> int: ...

    def newest(self, kind: str, by: str, limit: int, offset: int = 0, match: Mapping[str, str] | None = None,
               at_least: float | None = None, **eq: Any) -> list[dict[str, Any]]: ...

    def oldest(self, kind: str, by: str, limit: int, after: tuple[float, str] | None = None,
               match: Mapping[str, str] | None = None, **eq: Any) -> list[dict[str, Any]]: ...

    def tally(self, kind: str, by: str, **eq: Any) -> dict[Any, int]: ...

    def listing(self, kind: str, field: str, **eq: Any) -> list[dict[str, Any]]: ...

    def lacking(self, kind: str, field: str, **eq: Any) -> list[dict[str, Any]]: ...

    def delete(self, kind: str, id: str) -> None: ...


class MetadataStore(Protocol):
    """Transactions over records, plus the append-only audit log.

    - ``transaction()`` yields a ``Txn``; commit on normal exit, rollback on error.
    - ``append_audit(events)`` appends events (dicts) in one write, assigning
      increasing integer ``seq`` values; ``query_audit(filters, after_seq,
      limit, before_seq)`` returns events matching exact-match ``filters``
      on the event's keys plus ``since``/``until`` bounds on ``time``, with
      ``after_seq < seq`` (and ``seq < before_seq`` when given): in ascending
      ``seq`` order, or, with ``newest_first``, the newest ``limit`` of them,
      newest first. ``trim_audit(before_time, max_events)`` deletes events older
      than ``before_time`` and the oldest beyond the newest ``max_events``; it
      returns how many went (``seq`` values are never reused).
    """

    def migrate(self) -> None:
        """Bring the schema up to date (idempotent)."""
        ...

    def transaction(self) -> AbstractContextManager[Txn]: ...

    def scan(self, kind: str) -> tuple[Mapping[str, Any], ...]:
        """Every committed ``vault``, ``vnet``, ``endpoint`` or ``dns_zone`` record, oldest first, for the
        views rebuilt on every change: **shared, never mutate**; an unchanged record keeps its identity
        from one scan to the next. Kept current by this process's commits; :meth:`forget_cached` after
        another process wrote."""
        ...

    def forget_cached(self) -> None: ...

    def append_audit(self, events: list[dict[str, Any]]) -> None: ...

    def query_audit(
        self,
        filters: dict[str, Any],
        after_seq: int = 0,
        limit: int = 1000,
        before_seq: int | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]: ...

    def trim_audit(self, before_time: float, max_events: int) -> int: ...

    def close(self) -> None: ...


ChunkEntry = tuple[bytes, int, int]  # chunk id, offset, length
ChunkRow = tuple[bytes, str, str, int, int]  # chunk id, storage account, pack, offset, length
# one chunk-index entry as agents send it and as ``VaultChunkIndex.packs`` gives it: id, offset, length
CHUNK_RECORD = struct.Struct("<32sII")
PackRecords = tuple[str, str, bytes]  # storage account, pack, its entries as CHUNK_RECORDs by offset


class VaultChunkIndex(Protocol):
    """The server's chunk index (chunk id -> pack range), answering agents' dedup queries.

    Rows are keyed by (vault, chunk id) and belong to one container (each container has its own
    repository and keys, so its chunk ids never collide with another's): a container sees only its
    own rows. The service sees keyed chunk ids, offsets and lengths, never contents.
    """

    def add(self, vault_id: str, container_id: str, account: str, pack: str, entries: Sequence[ChunkEntry]) -> int:
        """Record a stored pack's entries; idempotent (a known id keeps its first location); returns how many
        ids were new."""
        ...

    def have(self, vault_id: str, container_id: str, ids: Iterable[bytes]) -> set[bytes]:
        """The subset of ``ids`` this container has stored (any number of ids: one call)."""
        ...

    def rows(self, vault_id: str, container_id: str) -> Iterator[ChunkRow]:
        """Every row of the container, a pack's rows together and in the order of their offsets."""
        ...

    def packs(self, vault_id: str, container_id: str) -> Iterator[PackRecords]:
        """Every pack of the container with the entries its first ``add`` recorded (``CHUNK_RECORD``s, by offset,
        an id at most once): a row a pack, so an agent's index load reads as many rows as there are packs, not
        chunks. An id stored in two packs is listed under both (both hold it); ``rows`` gives its first."""
        ...

    def drop_packs(self, vault_id: str, container_id: str, packs: Sequence[tuple[str, str]]) -> int:
        """Forget these ``(storage account, pack)`` of the container, their rows and their records (prune); returns
        how many rows."""
        ...

    def drop_vault(self, vault_id: str) -> None:
        """Forget every row and every pack of the vault."""
        ...
