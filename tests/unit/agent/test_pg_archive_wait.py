"""The agent's own wait for a base backup's last WAL segment (agent/postgres.py, agent/pg_stream.py): it
returns as soon as the segment is in the vault (not on PostgreSQL's one-second polls), fails with an error
that says what to look at when it never comes, and names the segment PostgreSQL itself would wait for."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.agent.pg_stream import BaseBackupStream, _size
from vaultlink.agent.postgres import Postgres
from vaultlink.errors import ServiceUnavailable


def db() -> Postgres:
    return Postgres(None, "main")  # type: ignore[arg-type]  # the wait needs no agent


def test_returns_within_a_poll_of_the_segment_arriving() -> None:
    store = MemoryBlobStore()
    store.put("wal/main/000000010000000000000041-c0", b"older")
    threading.Timer(0.35, lambda: store.put("wal/main/000000010000000000000042-c1700000000000", b"x")).start()
    t = time.monotonic()
    db().await_archived(store, "000000010000000000000042", limit=10)
    assert 0.3 < time.monotonic() - t < 0.8  # PostgreSQL's own wait ends on its next whole second


def test_a_segment_that_never_comes_fails_naming_it_and_the_archive_command() -> None:
    store = MemoryBlobStore()
    store.put("wal/other/000000010000000000000042-c0", b"another database's")
    with pytest.raises(ServiceUnavailable, match=r"000000010000000000000042.*archive_command"):
        db().await_archived(store, "000000010000000000000042", limit=0.3)


class _Ended:
    """What ``BaseBackupStream.end_segment`` reads: the end position, its timeline, the segment size."""

    def __init__(self, lsn: str, tli: int, size: int) -> None:
        self.end_lsn, self.end_tli, self.segment_size = lsn, tli, size


@pytest.mark.parametrize(("lsn", "tli", "size", "name"), [
    ("0/35000100", 1, 16 << 20, "000000010000000000000035"),   # pg_walfile_name('0/35000100') on timeline 1
    ("1/FF123456", 3, 16 << 20, "0000000300000001000000FF"),
    ("2/80000000", 1, 1 << 30, "000000010000000200000002"),  # 1 GiB segments: four per 4 GiB
    ("0/7FFFFF", 2, 1 << 20, "000000020000000000000007"),
])
def test_the_end_segment_is_the_one_postgresql_names(lsn: str, tli: int, size: int, name: str) -> None:
    ended: Any = _Ended(lsn, tli, size)
    assert BaseBackupStream.end_segment(ended) == name


def test_segment_sizes_as_postgresql_shows_them() -> None:
    assert _size("16MB") == 16 << 20 and _size("1GB") == 1 << 30 and _size("1024kB") == 1 << 20
    with pytest.raises(ServiceUnavailable, match="wal_segment_size"):
        _size("sixteen")
