"""In-memory BlobStore, for unit tests. Thread-safe."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from vaultlink.errors import NotFound
from vaultlink.ports import check_name, check_range


class MemoryBlobStore:
    """Objects in a dict. ``puts`` counts writes (tests use it to prove reuse)."""

    write_once = False

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.puts = 0

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        check_name(name)
        blob = bytes(data)
        with self._lock:
            self._data[name] = blob
            self.puts += 1

    def create(self, name: str, data: bytes | bytearray | memoryview) -> bool:
        check_name(name)
        with self._lock:
            if name in self._data:
                return False
            self._data[name] = bytes(data)
            self.puts += 1
            return True

    def create_writer(self, name: str) -> MemoryWriter:
        return MemoryWriter(self, name)

    def _get(self, name: str) -> bytes:
        check_name(name)
        with self._lock:
            blob = self._data.get(name)
        if blob is None:
            raise NotFound(f"blob {name!r} does not exist")
        return blob

    def get(self, name: str) -> bytes:
        return self._get(name)

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        blob = self._get(name)
        check_range(name, len(blob), offset, length)
        return blob[offset : offset + length]

    def exists(self, name: str) -> bool:
        check_name(name)
        with self._lock:
            return name in self._data

    def size(self, name: str) -> int:
        return len(self._get(name))

    def delete(self, name: str) -> None:
        check_name(name)
        with self._lock:
            self._data.pop(name, None)

    def list(self, prefix: str = "") -> Iterator[str]:
        with self._lock:
            names = sorted(n for n in self._data if n.startswith(prefix))
        yield from names

    def sized(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        with self._lock:
            found = sorted((n, len(d)) for n, d in self._data.items() if n.startswith(prefix))
        yield from found


class MemoryWriter:
    """``create`` from bytes given a part at a time (``ports.StreamCreate``): held until ``commit``."""

    def __init__(self, store: MemoryBlobStore, name: str) -> None:
        self._store, self._name = store, check_name(name)
        self._parts: list[bytes] | None = []
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._parts is None:
            raise ValueError("the writer is closed")
        self._parts.append(bytes(data))
        self.size += len(data)

    def commit(self) -> bool:
        if self._parts is None:
            raise ValueError("the writer is closed")
        data = b"".join(self._parts)
        self.close()
        return self._store.create(self._name, data)

    def close(self) -> None:
        self._parts = None
