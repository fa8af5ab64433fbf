"""Content-defined chunking (FastCDC 2020, the compiled ``pyfastcdc`` extension).

Cut points depend on content, so inserting bytes in a file moves only the
chunks around the change: the rest deduplicate. The gear table is XOR-ed with
the vault's secret ``chunker_seed`` so chunk sizes do not reveal known files.

Defaults (like restic: average about 1 MiB): ``min 256 KiB``, ``avg 1 MiB``
(FastCDC's mask target; the observed mean is about avg + min/4 for random
data), ``max 8 MiB``. The cutting loop runs in C without the GIL.
"""

from __future__ import annotations

import errno
import os
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import pyfastcdc

MIN_SIZE = 256 * 1024
AVG_SIZE = 1024 * 1024
MAX_SIZE = 8 * 1024 * 1024
SEGMENT = 16 * 1024 * 1024
SMALL_READ = 1024 * 1024  # a file under this size is read in one call
_READ = os.O_RDONLY | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)
TAR_PIECE = 1024 * 1024
_TAR_BLOCK = 512


def is_compiled() -> bool:
    """True when the Cython extension (not the slow pure-Python fallback) is in use."""
    return pyfastcdc.FastCDC.__module__.startswith("pyfastcdc.cy")


@dataclass(frozen=True)
class ChunkerParams:
    min_size: int = MIN_SIZE
    avg_size: int = AVG_SIZE
    max_size: int = MAX_SIZE
    seed: int = 0

    def __post_init__(self) -> None:
        if not (64 <= self.min_size <= self.avg_size <= self.max_size):
            raise ValueError("chunker sizes must satisfy 64 <= min <= avg <= max")
        if self.min_size > 1 << 20 or self.avg_size > 4 << 20 or self.max_size > 16 << 20:
            raise ValueError("chunker limits: min <= 1 MiB, avg <= 4 MiB, max <= 16 MiB")


class Chunker:
    """Splits buffers and files into content-defined chunks. Safe to share between threads:
    each call creates its own cursor over the shared (read-only) configuration."""

    def __init__(self, params: ChunkerParams | None = None) -> None:
        self.params = params or ChunkerParams()
        p = self.params
        seed = p.seed & 0x7FFF_FFFF_FFFF_FFFF  # pyfastcdc shifts it left by one
        self._cdc = pyfastcdc.FastCDC(p.avg_size, min_size=p.min_size, max_size=p.max_size, seed=seed)
        self._noatime = _NOATIME != 0
        self._local = threading.local()  # each thread's reused buffer for ``_cut_own``

    def cut(self, buf: bytes | bytearray | memoryview) -> Iterator[memoryview]:
        """Yield consecutive views of ``buf`` covering it exactly (nothing for an empty buffer)."""
        if len(buf) == 0:
            return
        for c in self._cdc.cut_buf(buf):
            yield c.data

    def cut_file(
        self, path: str | os.PathLike[str], segment: int | None = None, *, own: bool = False,
        size: int | None = None,
    ) -> Iterator[memoryview | bytes]:
        """Yield the chunks of a file, read in segments with ``readinto`` (no mmap: a file
        truncated during the backup must not crash the process with SIGBUS).

        Cut points are exactly those of cutting the whole file at once: a chunk is only
        accepted when at least ``max_size`` bytes follow its start (with ``own``: when it ends
        before the end of what was read), or at end of file.
        Yields nothing for an empty file. A file under ``SMALL_READ`` is read in one
        ``read`` (a backup of many small files spends much of its time per file), and
        every file is opened with ``O_NOATIME`` where allowed (no inode write per file read).

        By default a chunk is a view of the segment it was cut from (no copy; the segment lives as long
        as any of its chunks; ``SEGMENT`` bytes unless ``segment`` says otherwise). With ``own``, for a
        caller that hands chunks to other threads, each chunk is a copy of its own and every segment is
        read into one buffer (``_cut_own``): the memory held is one buffer of about 9 MiB plus the chunks
        not yet done, instead of every 16 MiB segment a chunk still in flight was cut from.

        ``size``: the file's size as the caller's walk saw it, instead of an ``fstat`` (a backup of many
        small files makes a system call fewer per file); a file that has changed since is still read whole
        and only as it is now (the reads find its end).
        """
        fd = self._open(path)
        try:
            if size is None:
                size = os.fstat(fd).st_size
            tail = b""
            if size < SMALL_READ:
                tail = os.read(fd, size + 1)
                if len(tail) <= size:  # a short read of a regular file: its end
                    if len(tail) <= self.params.min_size:
                        if tail:
                            yield tail if own else memoryview(tail)
                        return
                    for c in self._cdc.cut_buf(tail):
                        yield bytes(c.data) if own else c.data
                    return
            with open(fd, "rb", buffering=0, closefd=False) as f:  # larger, or grown since its size was read
                if own:
                    yield from self._cut_own(f, segment, tail)
                else:
                    yield from self._cut(f, 0 if tail else size, segment or SEGMENT, tail)
        finally:
            os.close(fd)

    def _open(self, path: str | os.PathLike[str]) -> int:
        if self._noatime:
            try:
                return os.open(path, _READ | _NOATIME)
            except PermissionError as e:
                if e.errno != errno.EPERM:  # EACCES: not readable at all
                    raise
                self._noatime = False  # not the file's owner (nor root): no O_NOATIME for this process
        return os.open(path, _READ)

    def cut_stream(self, stream: IO[bytes], segment: int | None = None) -> Iterator[bytes]:
        """The chunks of a stream of unknown length (a pipe), each a copy of its own, read in segments into
        one buffer: the same cut points as cutting all of it at once, one segment in memory."""
        yield from self._cut_own(stream, segment)

    def _cut(self, f: IO[bytes], left: int, segment: int, tail: bytes = b"") -> Iterator[memoryview]:
        seg = max(segment, 2 * self.params.max_size)
        max_size = self.params.max_size
        while True:
            # size the buffer to what the file holds (+1 byte to see end of file at once)
            buf = bytearray(len(tail) + (min(seg, left + 1) if left > 0 else seg))
            buf[: len(tail)] = tail
            view = memoryview(buf)
            filled, eof = _fill(f, view, len(tail))
            view = view[:filled]
            if filled == 0:
                return
            off = 0
            for piece in self._cdc.cut_buf(view):
                if not eof and filled - off < max_size:
                    break
                yield piece.data
                off += piece.length
            if eof:
                return
            left -= filled - len(tail)
            tail = bytes(view[off:])

    def _cut_own(self, f: IO[bytes], segment: int | None, tail: bytes = b"") -> Iterator[bytes]:
        """``_cut``'s chunks, each copied out of one buffer that every segment is read into.

        A chunk's cut depends only on the bytes from its start (FastCDC's hash starts afresh at each chunk),
        so a chunk that ends before the end of what was read ends where cutting the whole would end it
        (``test_data_chunker`` holds this); only the last one may be cut short by the buffer's end. That one
        (under ``max_size``: usually about the average) is moved to the buffer's front and cut again with
        what is read next. The buffer (``max_size`` + ``avg_size`` unless ``segment`` says otherwise, at
        least ``max_size`` + 1) gains at least one chunk per read."""
        p = self.params
        size = max(segment or p.max_size + p.avg_size, p.max_size + 1, len(tail) + 1)
        buf = self._own_buffer(size)
        try:
            view = memoryview(buf)
            view[: len(tail)] = tail
            kept = len(tail)
            while True:
                filled, eof = _fill(f, view, kept)
                if filled == 0:
                    return
                off = 0
                for piece in self._cdc.cut_buf(view[:filled]):
                    if not eof and off + piece.length == filled:
                        break  # cut by the buffer's end, maybe short of where its data ends it
                    yield bytes(piece.data)
                    off += piece.length
                if eof:
                    return
                kept = filled - off
                view[:kept] = view[off:filled]  # an overlapping move
        finally:
            self._local.own = buf  # the next file this thread reads keeps using it

    def _own_buffer(self, size: int) -> bytearray:
        """This thread's buffer for ``_cut_own``, taken while a read uses it (a second read at the same time
        makes its own): a new one for every file cost as many page faults as the file had bytes in the agent,
        whose large buffers are mapped on their own (``agent/memory.py``; ``bench/README-backup.md``)."""
        buf: bytearray | None = self._local.__dict__.pop("own", None)
        return buf if buf is not None and len(buf) == size else bytearray(size)


def _fill(f: IO[bytes], view: memoryview, filled: int) -> tuple[int, bool]:
    """Read ``f`` into ``view`` from ``filled`` on until it is full or ``f`` ends: (bytes now in it, ended)."""
    while filled < len(view):
        n = f.readinto(view[filled:])  # type: ignore[attr-defined]
        if not n:
            return filled, True
        filled += n
    return filled, False


def _read_exact(f: IO[bytes], n: int) -> bytearray:
    """``n`` bytes of ``f`` in a buffer of their own (fewer at end of stream)."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = f.readinto(view[got:])  # type: ignore[attr-defined]
        if not k:
            del view
            del buf[got:]
            break
        got += k
    return buf


def cut_tar_stream(f: IO[bytes], fallback: Chunker, piece: int = TAR_PIECE) -> Iterator[bytes | bytearray | memoryview]:
    """The pieces of a tar stream (``pg_basebackup -F t -D -``) cut where its files are, with no rolling hash:
    a file of at least ``piece`` bytes starts a new piece and is cut every ``piece`` bytes from its start (so
    an unchanged range of a changed file keeps its chunks); smaller files, with their headers, are packed
    together up to ``piece`` bytes. Headers are parsed by the standard library's ``tarfile``; a stream that
    stops being a tar is cut by ``fallback``'s FastCDC from there. Joined, the pieces are the stream."""
    pending = bytearray()
    while True:
        hdr = _read_exact(f, _TAR_BLOCK)
        if len(hdr) < _TAR_BLOCK or not any(hdr):  # the end-of-archive blocks (or a short stream)
            pending += hdr
            while True:
                more = _read_exact(f, piece)
                if not more:
                    break
                pending += more
            if pending:
                yield pending
            return
        try:
            info = tarfile.TarInfo.frombuf(bytes(hdr), "utf-8", "surrogateescape")
        except tarfile.HeaderError:
            pending += hdr
            yield pending
            yield from fallback.cut_stream(f)
            return
        padded = -(-info.size // _TAR_BLOCK) * _TAR_BLOCK
        if padded < piece:
            if pending and len(pending) + _TAR_BLOCK + padded > piece:
                yield pending
                pending = bytearray()
            pending += hdr
            pending += _read_exact(f, padded)
            continue
        pending += hdr
        yield pending
        pending = bytearray()
        left = padded
        while left > 0:
            got = _read_exact(f, min(piece, left))
            if not got:
                return
            yield got
            left -= len(got)
