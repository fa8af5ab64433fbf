"""BlobStore over a local directory.

- ``put`` writes a temporary file next to the target (its name holds ``~``,
  which no valid blob name contains, so ``list`` never shows it), fsyncs it,
  renames it over the target and fsyncs the directory: readers see the whole
  object or nothing, even across a crash.
- A large object's aligned bulk is written with ``O_DIRECT`` through page-aligned buffers reused from a
  small pool (its tail, and any filesystem without ``O_DIRECT``, buffered): on the machines measured
  (``bench/README-backup.md``) writing 1 GiB of packs through the page cache cost 1.8-3.2 CPU-seconds of
  the kernel's time (most of it copying into freshly allocated cache pages), against 0.3-0.5 for the
  same bytes with O_DIRECT; packs are read back rarely (restores, checks), so caching them buys little.
- ``get_range`` reads with ``os.pread`` (no shared file position; thread-safe); a large range with
  ``O_DIRECT`` too, through the same pool (0.1 CPU-second per GiB against 0.7-1.5 into the page cache).
- OS errors are translated to ``StoreError`` / ``NotFound`` here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from vaultlink.adapters import direct_io
from vaultlink.adapters.direct_io import ALIGN, O_DIRECT, read_aligned, write_all
from vaultlink.adapters.full import blobs_full, is_full
from vaultlink.durable import sync_dir
from vaultlink.errors import InvalidInput, NotFound, StoreError
from vaultlink.ports import check_name, check_range

_TMP_MARK = "~tmp~"
DIRECT_MIN = 1 << 20  # an object at least this large writes its aligned bulk with O_DIRECT
DIRECT_READ_MIN = 256 << 10  # a range at least this large is read with O_DIRECT
STREAM_PIECE = 1 << 20  # ``read_pieces``: bytes per piece (pieces end on multiples of it, so O_DIRECT stays aligned)


class LocalBlobStore:
    """Objects as files under ``root`` (created if missing). ``fsync=False`` only for throwaway stores."""

    write_once = False

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True, direct: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.direct = direct and O_DIRECT != 0  # False once the filesystem refuses O_DIRECT
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create blob directory {self.root}: {e.strerror}") from None

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    @contextlib.contextmanager
    def _direct_io(self, fd: int) -> Iterator[bool]:
        """``fd`` with O_DIRECT set for the block (False, and the store no longer asks, when the file system
        refuses the flag); its flags as they were afterwards."""
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | O_DIRECT)
        except OSError:
            self.direct = False
            yield False
            return
        try:
            yield True
        finally:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)

    def _sync_dir(self, directory: Path) -> None:
        if self.fsync:
            sync_dir(directory)

    def _write_error(self, name: str, e: OSError) -> Exception:
        if e.errno == errno.ENOTDIR:
            return InvalidInput(f"blob name {name!r} collides with an existing blob", field="name")
        if is_full(e):
            return blobs_full(name, f"directory {self.root}", e.strerror or "no space left")
        return StoreError(f"cannot write blob {name!r}: {e.strerror}")

    def _place(self, name: str, data: bytes | bytearray | memoryview, *, replace: bool) -> bool:
        """Write a temporary file (``LocalWriter``, with the bytes in one part), then move it to the name:
        ``os.replace`` (put) or ``os.link`` (create: the kernel refuses with EEXIST when the name exists, so of
        several processes racing exactly one creates it). Either way a reader sees the whole object or nothing;
        the temporary file never stays."""
        writer = LocalWriter(self, name)
        try:
            writer.write(data)
            return writer.commit(replace=replace)
        finally:
            writer.close()

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        self._place(name, data, replace=True)

    def create(self, name: str, data: bytes | bytearray | memoryview) -> bool:
        return self._place(name, data, replace=False)

    def create_writer(self, name: str) -> LocalWriter:
        """``create`` from bytes given a part at a time (``ports.StreamCreate``)."""
        return LocalWriter(self, name)

    def _open(self, name: str) -> int:
        try:
            return os.open(self._path(name), os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"blob {name!r} does not exist") from None
        except OSError as e:
            raise StoreError(f"cannot read blob {name!r}: {e.strerror}") from None

    def get(self, name: str) -> bytes:
        fd = self._open(name)
        try:
            size = os.fstat(fd).st_size
            return self._read_direct(fd, name, 0, size) or self._read(fd, name, 0, size)
        finally:
            os.close(fd)

    def _read_direct(self, fd: int, name: str, offset: int, length: int) -> bytes | None:
        """A large range read with O_DIRECT; None for a small one, a filesystem without O_DIRECT, or a file
        that ended early (the buffered read then answers, or says what went wrong)."""
        if not self.direct or length < DIRECT_READ_MIN:
            return None
        with self._direct_io(fd) as on:
            if not on:
                return None
            try:
                data = read_aligned(fd, offset, length)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise StoreError(f"cannot read blob {name!r}: {e.strerror}") from None
                self.direct = False
                return None
        return data if len(data) == length else None

    @staticmethod
    def _read(fd: int, name: str, offset: int, length: int) -> bytes:
        try:
            data = os.pread(fd, length, offset)
            if len(data) == length:
                return data
            parts = [data]
            got = len(data)
            while got < length:
                more = os.pread(fd, length - got, offset + got)
                if not more:
                    raise StoreError(f"blob {name!r} shrank while being read")
                parts.append(more)
                got += len(more)
            return b"".join(parts)
        except OSError as e:
            raise StoreError(f"cannot read blob {name!r}: {e.strerror}") from None

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        fd = self._open(name)
        try:
            check_range(name, os.fstat(fd).st_size, offset, length)
            return self._read_direct(fd, name, offset, length) or self._read(fd, name, offset, length)
        finally:
            os.close(fd)

    def read_pieces(self, name: str, offset: int, length: int) -> LocalPieces:
        """``get_range``'s bytes a piece at a time, each read when asked (the data plane sends a piece while the
        next one is read). The blob is opened and the range checked now (``NotFound``, ``InvalidInput``); the
        descriptor is closed by ``close`` or when the last piece has been read."""
        fd = self._open(name)
        try:
            check_range(name, os.fstat(fd).st_size, offset, length)
        except BaseException:
            os.close(fd)
            raise
        return LocalPieces(self, fd, name, offset, length)

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def size(self, name: str) -> int:
        try:
            st = self._path(name).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"blob {name!r} does not exist") from None
        if not os.path.isfile(self._path(name)):
            raise NotFound(f"blob {name!r} does not exist")
        return st.st_size

    def delete(self, name: str) -> None:
        try:
            os.unlink(self._path(name))
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as e:
            raise StoreError(f"cannot delete blob {name!r}: {e.strerror}") from None

    def list(self, prefix: str = "") -> Iterator[str]:
        for name, _size in self._walk(prefix, False):
            yield name

    def sized(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """``list`` with each blob's size (``ports.SizedList``), from the directory's own entries."""
        return self._walk(prefix, True)

    def _walk(self, prefix: str, sizes: bool) -> Iterator[tuple[str, int]]:
        base = self.root
        head, _, _ = prefix.rpartition("/")
        if head:
            base = self.root / head
        found: list[tuple[str, int]] = []
        stack = [str(base)]
        while stack:
            path = stack.pop()
            try:
                entries = list(os.scandir(path))
            except (FileNotFoundError, NotADirectoryError):
                continue
            rel = os.path.relpath(path, self.root)
            for e in entries:
                if e.is_dir():  # as os.walk: a link to a directory is neither listed nor followed
                    if not e.is_symlink():
                        stack.append(e.path)
                    continue
                if _TMP_MARK in e.name:
                    continue
                name = (e.name if rel == "." else f"{rel}/{e.name}").replace(os.sep, "/")
                if name.startswith(prefix):
                    try:
                        found.append((name, e.stat(follow_symlinks=False).st_size if sizes else 0))
                    except FileNotFoundError:  # deleted meanwhile (a prune's sweep)
                        continue
        yield from sorted(found)


class LocalPieces:
    """A blob range read a piece at a time from an open descriptor (``LocalBlobStore.read_pieces``): an iterator
    of bytes, pieces of at most ``STREAM_PIECE`` ending on its multiples. Not for two threads at once."""

    def __init__(self, store: LocalBlobStore, fd: int, name: str, offset: int, length: int) -> None:
        self._store, self._fd, self._name = store, fd, name
        self._pos, self._end = offset, offset + length

    def __iter__(self) -> LocalPieces:
        return self

    def __next__(self) -> bytes:
        if self._pos >= self._end or self._fd < 0:
            self.close()
            raise StopIteration
        pos = self._pos
        n = min(self._end, (pos // STREAM_PIECE + 1) * STREAM_PIECE) - pos
        piece = self._store._read_direct(self._fd, self._name, pos, n) or self._store._read(self._fd, self._name,
                                                                                             pos, n)
        self._pos = pos + n
        return piece

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


class LocalWriter:
    """``create`` with the bytes given a part at a time, written to a temporary file as they come: whole 4 MiB
    pieces with O_DIRECT through a pooled aligned buffer, the tail (and a blob under ``DIRECT_MIN``, and a file
    system without O_DIRECT) buffered, the same writes ``put`` makes. ``commit`` fsyncs the file and links it to
    the name; ``close`` without it removes the file. One thread at a time."""

    def __init__(self, store: LocalBlobStore, name: str) -> None:
        self._store, self._name, self._path = store, name, store._path(name)
        self._tmp = self._path.with_name(f"{self._path.name}{_TMP_MARK}{secrets.token_hex(6)}")
        self._buf: mmap.mmap | None = direct_io.take() if store.direct else None
        self._fill = 0
        self._on = False  # O_DIRECT set on the descriptor
        self.size = 0
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            self._fd = -1
            self.close()
            raise store._write_error(name, e) from None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.size += len(view)
        try:
            while view and self._buf is not None:
                n = min(len(view), direct_io.PIECE - self._fill)
                self._buf[self._fill : self._fill + n] = view[:n]
                self._fill, view = self._fill + n, view[n:]
                if self._fill == direct_io.PIECE:
                    with memoryview(self._buf) as piece:
                        self._direct(piece)
                    self._fill = 0
            write_all(self._fd, view)
        except OSError as e:
            raise self._store._write_error(self._name, e) from None

    def _direct(self, piece: memoryview) -> None:
        """Write an aligned piece with O_DIRECT (set on the descriptor the first time); buffered, now and for the
        rest, if the file system refuses it (the store then stops asking)."""
        done = 0
        if self._store.direct and not self._on:
            try:
                fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) | O_DIRECT)
                self._on = True
            except OSError:
                self._store.direct = False
        if self._on:
            try:
                done = os.write(self._fd, piece)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                self._store.direct = False
        if done < len(piece):
            self._buffered()
            write_all(self._fd, piece[done:])

    def _buffered(self) -> None:
        if self._on:
            fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~O_DIRECT)
            self._on = False

    def commit(self, *, replace: bool = False) -> bool:
        """Move the file to the name: linked (create-only: False when the name exists) or, with ``replace``,
        renamed over it (``put``)."""
        try:
            if self._buf is not None and self._fill:
                bulk = self._fill // ALIGN * ALIGN if self.size >= DIRECT_MIN else 0
                # every view of the buffer released here: ``close`` may unmap it (a view alive then is a BufferError)
                with memoryview(self._buf) as held, held[:bulk] as aligned, held[bulk : self._fill] as rest:
                    if bulk:
                        self._direct(aligned)
                    self._buffered()
                    write_all(self._fd, rest)
            if self._store.fsync:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            (os.replace if replace else os.link)(self._tmp, self._path)
            self._store._sync_dir(self._path.parent)
            return True
        except FileExistsError:
            return False
        except OSError as e:
            raise self._store._write_error(self._name, e) from None
        finally:
            self.close()

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)
        buf, self._buf = self._buf, None
        if buf is not None:
            direct_io.give_back(buf)
