"""Shared BlobStore contract (vaultlink.ports.BlobStore), run against every adapter."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vaultlink.adapters.blob_local import LocalBlobStore
from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.errors import InvalidInput, NotFound
from vaultlink.ports import BlobStore

Factory = Callable[[], BlobStore]


@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "memory":
        yield MemoryBlobStore()
    else:
        yield LocalBlobStore(tmp_path / "blobs")


def test_put_get_roundtrip(store: BlobStore) -> None:
    store.put("packs/abc", b"hello world")
    assert store.get("packs/abc") == b"hello world"
    assert store.exists("packs/abc")
    assert store.size("packs/abc") == 11


def test_empty_object(store: BlobStore) -> None:
    store.put("x/empty", b"")
    assert store.get("x/empty") == b""
    assert store.size("x/empty") == 0


def test_get_range_exact(store: BlobStore) -> None:
    data = bytes(range(256)) * 10
    store.put("a/b", data)
    assert store.get_range("a/b", 5, 10) == data[5:15]
    assert store.get_range("a/b", 0, len(data)) == data
    assert store.get_range("a/b", len(data), 0) == b""


@pytest.mark.parametrize("offset,length", [(-1, 2), (0, 2561), (2560, 1), (10, -1)])
def test_get_range_outside_is_invalid(store: BlobStore, offset: int, length: int) -> None:
    store.put("a/b", bytes(2560))
    with pytest.raises(InvalidInput):
        store.get_range("a/b", offset, length)


def test_missing_names(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.get("nope")
    with pytest.raises(NotFound):
        store.get_range("nope", 0, 1)
    with pytest.raises(NotFound):
        store.size("nope")
    assert not store.exists("nope")
    store.delete("nope")  # not an error


def test_overwrite_replaces(store: BlobStore) -> None:
    store.put("keys/key", b"one")
    store.put("keys/key", b"one")
    assert store.get("keys/key") == b"one"
    store.put("keys/key", b"two!")
    assert store.get("keys/key") == b"two!"


def test_delete(store: BlobStore) -> None:
    store.put("a/1", b"x")
    store.delete("a/1")
    assert not store.exists("a/1")
    assert list(store.list("a/")) == []


def test_list_prefix_sorted(store: BlobStore) -> None:
    for n in ["packs/b2", "packs/a1", "index/z", "packs/a0", "snapshots/s", "packsx"]:
        store.put(n, n.encode())
    assert list(store.list("packs/")) == ["packs/a0", "packs/a1", "packs/b2"]
    assert list(store.list("packs/a")) == ["packs/a0", "packs/a1"]
    assert list(store.list()) == sorted(
        ["packs/b2", "packs/a1", "index/z", "packs/a0", "snapshots/s", "packsx"]
    )
    assert list(store.list("nothing/")) == []


@pytest.mark.parametrize(
    "name", ["", "/abs", "a//b", "a/../b", "..", ".", "a/./b", "a b", "a/", "é", "a\\b", "x~y"]
)
def test_invalid_names(store: BlobStore, name: str) -> None:
    with pytest.raises(InvalidInput):
        store.put(name, b"x")
    with pytest.raises(InvalidInput):
        store.get(name)


def test_concurrent_puts_and_reads(store: BlobStore) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(20):
                data = bytes([i]) * (1000 + j)
                store.put(f"c/{i}-{j}", data)
                assert store.get_range(f"c/{i}-{j}", 10, 5) == bytes([i]) * 5
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert len(list(store.list("c/"))) == 80


def test_local_put_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "b")
    store.put("packs/p", b"x" * 100000)
    files = [p.name for p in (tmp_path / "b" / "packs").iterdir()]
    assert files == ["p"]


def test_local_temp_file_of_a_crashed_put_is_invisible(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "b")
    store.put("packs/p", b"done")
    (tmp_path / "b" / "packs" / "q~tmp~123").write_bytes(b"half")
    assert list(store.list("packs/")) == ["packs/p"]
    assert not store.exists("packs/q")
