"""The buffers packs are built in, reused from pack to pack.

A pack used to grow in a ``bytearray`` as its chunks came (``+=``): every growth past the allocation copied
the pack so far, and in the agent, whose large allocations are mapped on their own (``agent/memory.py``),
every pack landed in pages the kernel had to fault in and zero again. Two thirds of the page faults of a
first backup through an endpoint came from there (``bench/README-backup.md``, 2026-12-05 evening). Here a pack
is written once, in place, into a private anonymous map; the map is reused for a later pack, so its pages stay
resident between packs, and pages no pack has reached yet cost nothing.
"""

from __future__ import annotations

import contextlib
import mmap
import threading

_PAGE = mmap.PAGESIZE
_KEEP_ABOVE = 1 << 20  # pages this far beyond a pack's usual size are given back after each pack


def _round_up(n: int) -> int:
    return -(-max(n, 1) // _PAGE) * _PAGE


def _new_map(size: int) -> mmap.mmap:
    """Anonymous memory: a page exists once it is written to."""
    private = getattr(mmap, "MAP_PRIVATE", None)  # POSIX; Windows maps anonymous memory without flags
    return mmap.mmap(-1, _round_up(size)) if private is None else mmap.mmap(-1, _round_up(size), flags=private)


class PackBuffer:
    """Bytes written one after another into a private anonymous map (a larger map replaces it, with one copy,
    when they do not fit). ``view()`` is what was written."""

    __slots__ = ("map", "used")

    def __init__(self, capacity: int) -> None:
        self.map = _new_map(capacity)
        self.used = 0

    def append(self, data: bytes | bytearray | memoryview) -> int:
        """Copy ``data`` in after what is there; its offset."""
        at, n = self.used, memoryview(data).nbytes
        if at + n > len(self.map):
            self._grow(at + n)
        self.map[at : at + n] = data
        self.used = at + n
        return at

    def view(self) -> memoryview:
        return memoryview(self.map)[: self.used]

    def _grow(self, need: int) -> None:
        bigger = _new_map(max(need, 2 * len(self.map)))
        bigger[: self.used] = self.map[: self.used]
        old, self.map = self.map, bigger
        with contextlib.suppress(BufferError):  # a view still held keeps it until that view goes
            old.close()

    def release_above(self, size: int) -> None:
        """Give the pages beyond ``size`` back to the system (they read as zeros, and cost nothing, until they
        are written again)."""
        start = _round_up(size)
        if start < len(self.map) and hasattr(mmap, "MADV_DONTNEED"):
            self.map.madvise(mmap.MADV_DONTNEED, start, len(self.map) - start)


class PackBuffers:
    """The buffers of one writer's packs: ``take`` one for a new pack, ``give`` it back once the pack is
    stored. At most ``keep`` wait between packs (a writer holds the open pack and one per upload slot); a
    buffer whose pack failed to upload is never given back (the store may not be done with it)."""

    def __init__(self, pack_size: int, largest_blob: int, keep: int) -> None:
        self.pack_size = pack_size
        self.capacity = pack_size + largest_blob
        self.keep = keep
        self.made = 0
        self._free: list[PackBuffer] = []
        self._lock = threading.Lock()

    def take(self) -> PackBuffer:
        with self._lock:
            if self._free:
                return self._free.pop()
            self.made += 1
        return PackBuffer(self.capacity)

    def give(self, buf: PackBuffer) -> None:
        buf.used = 0
        buf.release_above(self.pack_size + _KEEP_ABOVE)  # a pack's last chunk can run far past its size
        with self._lock:
            if len(self._free) < self.keep:
                self._free.append(buf)
