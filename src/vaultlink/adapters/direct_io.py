"""``O_DIRECT`` reads and writes for the local blob store, through page-aligned buffers from a small pool.

The kernel reads and writes an ``O_DIRECT`` descriptor straight between the disk and the buffer, without the
page cache: each buffer must be aligned to the block size, which an anonymous ``mmap`` is. As many buffers exist
as large reads and writes run at once; at most ``KEEP`` are kept between them (4 MiB each, resident once touched).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import threading
from collections.abc import Iterator

O_DIRECT = getattr(os, "O_DIRECT", 0)
ALIGN = 4096
PIECE = 4 << 20  # bytes per O_DIRECT read or write (the size of each aligned buffer)
KEEP = 4
_pool: list[mmap.mmap] = []
_pool_lock = threading.Lock()


def write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def take() -> mmap.mmap:
    """A buffer of ``PIECE`` bytes from the pool (a new one when the pool is empty); ``give_back`` returns it."""
    with _pool_lock:
        if _pool:
            return _pool.pop()
    return mmap.mmap(-1, PIECE)


def give_back(buf: mmap.mmap) -> None:
    with _pool_lock:
        if len(_pool) < KEEP:
            _pool.append(buf)
            return
    buf.close()


@contextlib.contextmanager
def buffer() -> Iterator[mmap.mmap]:
    """A pooled buffer for the block."""
    buf = take()
    try:
        yield buf
    finally:
        give_back(buf)


def read_aligned(fd: int, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset`` of ``fd`` (O_DIRECT): the 4 KiB blocks that hold them, a piece at a
    time, through a pooled buffer; fewer bytes when the file ends first."""
    parts = []
    pos, end, stop = offset // ALIGN * ALIGN, offset + length, -(-(offset + length) // ALIGN) * ALIGN
    with buffer() as buf, memoryview(buf) as piece:
        while pos < stop:
            n = min(PIECE, stop - pos)
            got = os.preadv(fd, [piece[:n]], pos)
            lo, hi = max(offset, pos) - pos, min(end, pos + got) - pos
            if hi > lo:
                parts.append(buf[lo:hi])
            if got < n:
                break
            pos += n
    return parts[0] if len(parts) == 1 else b"".join(parts)
