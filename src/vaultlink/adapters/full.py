"""Storage that ran out of room, as the adapters meet it: a disk or its quota (``ENOSPC``, ``EDQUOT``), SQLite
(``SQLITE_FULL``), PostgreSQL (SQLSTATE 53100, ``disk_full``) and an S3 server's quota or disk (``QuotaExceeded``,
``XMinioStorageFull``).
Each adapter turns it into ``StorageFull`` (HTTP 507), naming what is full and how to make room, instead of
the general ``StoreError``: the agent does not retry it, the CLI says what to do, the audit holds the events
of the time until they can be written."""

from __future__ import annotations

import errno

from vaultlink.errors import StorageFull, StoreError

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
SQLITE_FULL = 13
PG_DISK_FULL = "53100"
S3_FULL_CODES = ("QuotaExceeded", "XMinioStorageFull")


def is_full(exc: BaseException | None) -> bool:
    """``exc`` (an ``OSError``, a DB-API error, a SQLAlchemy error's ``orig``) says the storage is full."""
    if exc is None:
        return False
    if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
        return True
    if getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL:
        return True
    return getattr(exc, "sqlstate", None) == PG_DISK_FULL


def full_cause(exc: BaseException | None) -> BaseException | None:
    """The error in ``exc``'s chain (its own driver error, or one it was raised while handling) that says the
    storage is full, or None. SQLite rolls a whole transaction back on ``SQLITE_FULL``, so the savepoint of the
    statement that failed is gone and its release fails in turn ("no such savepoint"): the cause is then the
    context of the error that reaches the adapter."""
    for _ in range(8):  # a short chain: the driver's error, SQLAlchemy's wrapping, a failed clean-up or two
        if exc is None:
            return None
        for candidate in (getattr(exc, "orig", None), exc):
            if is_full(candidate):
                return candidate
        exc = exc.__cause__ or exc.__context__
    return None


def metadata_full(where: str, exc: BaseException) -> StorageFull:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StorageFull(
        f"the metadata store ({where}) is full: {first}. Free space on the disk that holds it (or move it to a "
        "larger one), then retry; nothing was changed.")


def blobs_full(name: str, where: str, reason: str) -> StorageFull:
    what, fix = ("over its quota", "Raise the quota (or free space there") if reason == "QuotaExceeded" else (
        "full", "Free space there (or move blob_url to a larger store")
    return StorageFull(
        f"the blob store ({where}) is {what}, writing {name!r}: {reason}. {fix}), then retry; nothing was changed, "
        "and a backup run again keeps what it uploaded before.")


def store_failure(exc: BaseException, where: str, otherwise: str) -> StoreError:
    """A SQL store's error for ``exc``: ``StorageFull`` naming ``where`` when its chain says the storage is full,
    else the general ``StoreError(otherwise)``."""
    full = full_cause(exc)
    return metadata_full(where, full) if full is not None else StoreError(otherwise)
