"""The ``StreamCreate`` contract (``ports.BlobWriter``): a blob created from bytes given a part at a time, run
against every store that offers it (memory, local). The server stores a large upload this way as it arrives."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.contract.odirect import direct_on, refusing

from vaultlink.adapters import blob_local
from vaultlink.adapters.blob_local import LocalBlobStore
from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.errors import InvalidInput
from vaultlink.ports import BlobStore, StreamCreate


@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield MemoryBlobStore() if request.param == "memory" else LocalBlobStore(tmp_path / "blobs")


def _parts(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _write(store: StreamCreate, name: str, data: bytes, part: int) -> bool:
    w = store.create_writer(name)
    try:
        for p in _parts(data, part):
            w.write(p)
        assert w.size == len(data)
        return w.commit()
    finally:
        w.close()


@pytest.mark.parametrize(("size", "part"), [(0, 1), (10, 3), ((5 << 20) + 100, 777_777), ((8 << 20), 1 << 20)])
def test_written_in_parts_reads_back_whole(store: Any, size: int, part: int) -> None:
    data = random.Random(size).randbytes(size)
    assert _write(store, "packs/p", data, part) is True
    assert store.get("packs/p") == data and store.size("packs/p") == size


def test_an_existing_name_is_not_replaced(store: Any) -> None:
    store.put("packs/p", b"first")
    assert _write(store, "packs/p", b"second, longer", 4) is False
    assert store.get("packs/p") == b"first"
    assert list(store.list("packs/")) == ["packs/p"]


def test_closed_without_commit_leaves_nothing(store: Any, tmp_path: Path) -> None:
    w = store.create_writer("packs/gone")
    w.write(random.Random(3).randbytes((6 << 20) + 5))
    w.close()
    w.close()  # twice is fine
    assert not store.exists("packs/gone") and list(store.list("")) == []
    if isinstance(store, LocalBlobStore):
        assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []


def test_a_bad_name_is_refused_before_any_byte(store: BlobStore) -> None:
    with pytest.raises(InvalidInput):
        store.create_writer("packs/../x")  # type: ignore[attr-defined]


def test_local_writer_makes_the_writes_put_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole 4 MiB pieces with O_DIRECT as they fill, then the aligned tail with O_DIRECT and the rest buffered
    (what ``put`` does with the whole object); a small object buffered."""
    if not blob_local.O_DIRECT:
        pytest.skip("this platform has no O_DIRECT")  # Linux CI always has it
    seen: list[tuple[bool, int]] = []
    write = os.write
    monkeypatch.setattr(os, "write", lambda fd, b: seen.append((direct_on(fd), len(b))) or write(fd, b))
    store = LocalBlobStore(tmp_path / "b")
    data = random.Random(1).randbytes((5 << 20) + 100)
    assert _write(store, "packs/p", data, 300_001)
    assert seen == [(True, 4 << 20), (True, 1 << 20), (False, 100)]
    seen.clear()
    assert _write(store, "index/i", b"x" * 1000, 7)
    assert seen == [(False, 1000)] and store.direct
    assert store.get("packs/p") == data


def test_local_writer_where_o_direct_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not blob_local.O_DIRECT:
        pytest.skip("this platform has no O_DIRECT")
    data = random.Random(2).randbytes((9 << 20) + 7)
    for how in ("flag", "write"):
        store = LocalBlobStore(tmp_path / how)
        with refusing(monkeypatch, how):
            assert _write(store, "packs/p", data, 1 << 20)
            assert not store.direct
        assert store.get("packs/p") == data


def test_more_local_writers_at_once_than_the_pool_keeps(tmp_path: Path) -> None:
    """Writers beyond the pool's ``KEEP`` buffers unmap theirs when done: no view of it may be alive then (a
    ``BufferError`` in the commit of a create racing others, before)."""
    from vaultlink.adapters import direct_io

    store = LocalBlobStore(tmp_path / "b")
    data = random.Random(5).randbytes((1 << 20) + 4097)  # an aligned bulk with O_DIRECT, a buffered tail
    writers = [store.create_writer(f"packs/p{i}") for i in range(direct_io.KEEP + 4)]
    for w in writers:
        w.write(data)
    assert all(w.commit() for w in writers)
    assert all(store.get(f"packs/p{i}") == data for i in range(len(writers)))
