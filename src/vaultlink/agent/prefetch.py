"""A producer's stream drained while the agent gets ready to read it.

A base backup's stream starts before the backup job (its checkpoint overlaps the job's start), but
without a reader the database stops sending after the first megabyte (a pipe's, or a socket's, buffer)
until the job has started and the repository is unlocked (about 0.2 s of round trips and the key's KDF,
in which PostgreSQL sent 60 MiB to the benchmark's reader). A :class:`Prefetch` reads the source in a
thread of its own until the engine's first read, keeping at most ``limit`` bytes, then steps aside: the
engine gets the buffered bytes first and then reads the source itself, so only the start is handed
between threads. ``reader(fd)`` wraps a pipe's descriptor, ``reader_of(source)`` any :class:`Source`
(the replication stream of ``agent/pg_stream.py``), as the buffered binary file the engine reads.
"""

from __future__ import annotations

import io
import os
import threading
from collections import deque
from typing import Protocol

PIECE = 1 << 20


class Source(Protocol):
    def next_piece(self) -> bytes | memoryview:
        """The next piece of the stream (``b""`` at its end)."""

    def readinto(self, out: memoryview) -> int:
        """Fill ``out`` from the stream; 0 at its end."""


class _Pipe:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def next_piece(self) -> bytes:
        return os.read(self._fd, PIECE)

    def readinto(self, out: memoryview) -> int:
        return os.readv(self._fd, [out])


def reader(fd: int, limit: int = 64 << 20) -> io.BufferedReader:
    """The pipe ``fd`` as a binary file whose first ``limit`` bytes are read ahead from now on."""
    return io.BufferedReader(Prefetch(_Pipe(fd), limit))


def reader_of(source: Source, limit: int = 64 << 20) -> io.BufferedReader:
    """``source`` as a binary file whose first ``limit`` bytes are read ahead from now on."""
    return io.BufferedReader(Prefetch(source, limit))


class Prefetch(io.RawIOBase):
    """``readinto`` over a source whose first ``limit`` bytes a thread reads ahead."""

    def __init__(self, source: Source, limit: int = 64 << 20) -> None:
        super().__init__()
        self._source = source
        self._limit = limit
        self._held: deque[memoryview] = deque()
        self._stop = threading.Event()
        self._eof = False
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._drain, name="vaultlink-prefetch", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        kept = 0
        try:
            while not self._stop.is_set() and kept < self._limit:
                data = self._source.next_piece()
                if not data:
                    self._eof = True
                    return
                self._held.append(memoryview(data).cast("B"))
                kept += len(data)
        except Exception as exc:  # handed to the reader's next call, where it is raised
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
        return self._source.readinto(out)

    def close(self) -> None:
        """Stop reading ahead (the source itself is its owner's to close, after the producer ended)."""
        self._stop.set()
        self._thread.join(timeout=10)
        super().close()
