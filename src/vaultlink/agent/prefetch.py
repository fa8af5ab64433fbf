"""A producer's pipe drained while the agent gets ready to read it.

``pg_basebackup`` starts before the backup job (its checkpoint overlaps the job's start), but a pipe
holds only 1 MiB: without a reader, the database stops sending after the first megabyte until the
job has started and the repository is unlocked (about 0.2 s of round trips and the key's KDF, in
which PostgreSQL sent 60 MiB to the benchmark's reader). A :class:`Prefetch` reads the pipe in a
thread of its own until the engine's first read, keeping at most ``limit`` bytes, then steps aside:
the engine gets the buffered bytes first and then reads the pipe itself, so only the start is
copied twice. ``reader(fd)`` wraps it as the buffered binary file the engine reads.
"""

from __future__ import annotations

import io
import os
import threading
from collections import deque

PIECE = 1 << 20


def reader(fd: int, limit: int = 64 << 20) -> io.BufferedReader:
    """The pipe ``fd`` as a binary file whose first ``limit`` bytes are read ahead from now on."""
    return io.BufferedReader(Prefetch(fd, limit))


class Prefetch(io.RawIOBase):
    """``readinto`` over a pipe's file descriptor whose first ``limit`` bytes a thread reads ahead."""

    def __init__(self, fd: int, limit: int = 64 << 20) -> None:
        super().__init__()
        self._fd = fd
        self._limit = limit
        self._held: deque[memoryview] = deque()
        self._stop = threading.Event()
        self._eof = False
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._drain, name="vaultlink-prefetch", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        kept = 0
        try:
            while not self._stop.is_set() and kept < self._limit:
                data = os.read(self._fd, min(PIECE, self._limit - kept))
                if not data:
                    self._eof = True
                    return
                self._held.append(memoryview(data))
                kept += len(data)
        except OSError as exc:  # handed to the reader's next call, where it is raised
            self._error = exc

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._thread.is_alive():  # the engine reads now: the thread stops after the read it is in
            self._stop.set()
            self._thread.join()
        out = memoryview(b).cast("B")
        if self._held:
            head = self._held[0]
            n = min(len(head), len(out))
            out[:n] = head[:n]
            if n == len(head):
                self._held.popleft()
            else:
                self._held[0] = head[n:]
            return n
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        if self._eof:
            return 0
        return os.readv(self._fd, [out])

    def close(self) -> None:
        """Stop reading ahead (the pipe itself is its owner's to close, after the producer ended)."""
        self._stop.set()
        self._thread.join(timeout=10)
        super().close()
