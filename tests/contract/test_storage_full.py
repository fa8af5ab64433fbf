"""A store that runs out of room: a real SQLite file at its page limit (``PRAGMA max_page_count``: SQLite answers
``SQLITE_FULL``, "database or disk is full", exactly as on a full disk) and a blob directory whose writes the disk
refuses. Each refusal is ``StorageFull`` (HTTP 507, exit code 5), naming what is full and how to make room;
nothing is changed, and once there is room again the same write goes through."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from vaultlink.adapters.blob_local import LocalBlobStore
from vaultlink.adapters.chunkindex_sql import SqlVaultChunkIndex
from vaultlink.adapters.sqlstore import SqlStore
from vaultlink.errors import ServiceUnavailable, StorageFull, StoreError

BIG = "x" * (1 << 20)  # a record larger than any page the file has free


class PageLimit:
    """Every new connection of ``store`` may grow the file to ``pages`` pages at most (None: no limit)."""

    def __init__(self, store: SqlStore) -> None:
        self.store, self.pages = store, None
        event.listen(store.engine, "connect", self._limit)

    def _limit(self, dbapi_conn: Any, _rec: Any) -> None:
        if self.pages is not None:
            dbapi_conn.execute(f"PRAGMA max_page_count = {int(self.pages)}")

    def set(self, pages: int | None) -> None:
        self.pages = pages
        self.store.engine.dispose()  # the pooled connections go; the next ones get the limit

    def full(self) -> None:
        with self.store.engine.connect() as conn:
            self.set(int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0))


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[tuple[SqlStore, PageLimit]]:
    store = SqlStore(f"sqlite:///{tmp_path / 'meta.db'}")
    store.migrate()
    yield store, PageLimit(store)
    store.close()


def test_a_full_sqlite_file_refuses_a_write_with_storage_full_and_changes_nothing(
        sqlite: tuple[SqlStore, PageLimit], tmp_path: Path) -> None:
    store, limit = sqlite
    with store.transaction() as t:
        t.insert("vault", "v1", {"account_id": "1", "parent_id": "", "name": "kept"})
    limit.full()
    with pytest.raises(StorageFull) as err, store.transaction() as t:
        t.insert("vault", "v2", {"account_id": "1", "parent_id": "", "name": "big", "note": BIG})
    e = err.value
    assert isinstance(e, StoreError) and e.code == "StorageFull" and e.http_status == 507 and e.exit_code == 5
    assert str(tmp_path / "meta.db") in e.message and "Free space" in e.message and "nothing was changed" in e.message
    with store.transaction() as t:
        assert t.get("vault", "v1") is not None and t.get("vault", "v2") is None
    limit.set(None)
    with store.transaction() as t:
        t.insert("vault", "v2", {"account_id": "1", "parent_id": "", "name": "big", "note": BIG})
    with store.transaction() as t:
        assert t.get("vault", "v2")["note"] == BIG


def test_a_full_sqlite_file_refuses_audit_events_and_chunk_entries_with_storage_full(
        sqlite: tuple[SqlStore, PageLimit]) -> None:
    store, limit = sqlite
    index = SqlVaultChunkIndex(store.engine, store.writer_lock)
    entries = [(os.urandom(32), i * 100, 100) for i in range(20_000)]
    event_ = {"time": 1.0, "action": "backup:PutBlob", "decision": "denied", "code": "StorageFull", "note": BIG}
    limit.full()
    with pytest.raises(StorageFull):
        store.append_audit([event_])
    with pytest.raises(StorageFull, match="chunk index"):
        index.add("v1", "c1", "acct", "p" * 64, entries)
    assert store.query_audit({}) == [] and index.have("v1", "c1", [entries[0][0]]) == set()
    limit.set(None)
    store.append_audit([event_])
    assert index.add("v1", "c1", "acct", "p" * 64, entries) == len(entries)
    assert len(store.query_audit({})) == 1 and index.have("v1", "c1", [entries[0][0]]) == {entries[0][0]}
    # the names the failed batch had interned were rolled back with it: the writer must not have kept their ids
    # (another process reads them: the service, while the audit writer process writes)
    reader = SqlStore(store.url)
    try:
        [found] = reader.query_audit({"code": "StorageFull"})
    finally:
        reader.close()
    assert found["action"] == "backup:PutBlob" and found["decision"] == "denied" and found["note"] == BIG


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_blob_directory_on_a_full_disk_refuses_with_storage_full(
        code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalBlobStore(tmp_path / "b")
    w = store.create_writer("packs/full")

    def full(fd: int, b: Any) -> int:
        raise OSError(code, os.strerror(code))

    w.write(b"a" * 1000)
    with monkeypatch.context() as m:
        m.setattr(os, "write", full)
        with pytest.raises(StorageFull) as err:
            w.write(b"b" * (5 << 20))
            w.commit()
    w.close()
    assert "packs/full" in err.value.message and str(tmp_path / "b") in err.value.message
    assert "keeps what it uploaded" in err.value.message
    assert [p for p in (tmp_path / "b").rglob("*") if p.is_file()] == [] and not store.exists("packs/full")
    store.put("packs/full", b"room again")
    assert store.get("packs/full") == b"room again"


def test_an_s3_quota_is_storage_full_and_other_errors_are_not() -> None:
    """The S3 adapter's mapping of a server's answers (botocore's own ``ClientError``, as botocore raises it)."""
    pytest.importorskip("botocore", reason="the s3 extra")
    from botocore.exceptions import ClientError

    from vaultlink.adapters.blob_s3 import S3BlobStore

    s3 = S3BlobStore.__new__(S3BlobStore)  # the mapping alone: no server to talk to
    s3.bucket, s3.endpoint = "vaults", "http://127.0.0.1:9"

    def answer(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": code}}, "PutObject")

    for code in ("QuotaExceeded", "XMinioStorageFull"):
        err = s3._fail(answer(code), "packs/p")
        assert isinstance(err, StorageFull) and "bucket vaults" in err.message and code in err.message
    assert type(s3._fail(answer("AccessDenied"), "packs/p")) is StoreError
    # SeaweedFS 4.48 answers a write over its enforced bucket quota with a plain 500 InternalError (tried on a real
    # one: `s3.bucket.quota` then `s3.bucket.quota.enforce -apply`): no way to tell it from a failing server, so
    # it is ServiceUnavailable, with a hint at the quota
    away = s3._fail(answer("InternalError"), "packs/p")
    assert isinstance(away, ServiceUnavailable) and "enforced bucket quota" in away.message
    assert "quota" not in s3._fail(answer("SlowDown"), "packs/p").message


def test_postgresql_s_disk_full_is_recognised_and_other_operational_errors_are_not() -> None:
    """What the PostgreSQL store's error hook (``sqlstore``) asks before it answers ``StorageFull`` (SQLSTATE 53100)
    rather than ``ServiceUnavailable``, on psycopg's own exception classes. Only the test of the question: a full
    PostgreSQL tablespace is made in ``tests/e2e/test_full_disk.py``."""
    errors = pytest.importorskip("psycopg.errors", reason="the postgres extra")
    from vaultlink.adapters.full import full_cause, is_full

    assert is_full(errors.DiskFull("could not extend file: No space left on device"))
    assert not is_full(errors.AdminShutdown("terminating connection due to administrator command"))
    try:
        try:
            raise errors.DiskFull("could not extend file")
        except errors.DiskFull:
            raise RuntimeError("a clean-up that failed in turn") from None
    except RuntimeError as exc:
        assert isinstance(full_cause(exc), errors.DiskFull)  # found in the chain, as after SQLite's rollback
