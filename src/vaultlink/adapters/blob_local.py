"""BlobStore over a local directory.

- ``put`` writes a temporary file next to the target (its name holds ``~``,
  which no valid blob name contains, so ``list`` never shows it), fsyncs it,
  renames it over the target and fsyncs the directory: readers see the whole
  object or nothing, even across a crash.
- ``get_range`` reads with ``os.pread`` (no shared file position; thread-safe).
- OS errors are translated to ``StoreError`` / ``NotFound`` here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from vaultlink.errors import InvalidInput, NotFound, StoreError
from vaultlink.ports import check_name, check_range

_TMP_MARK = "~tmp~"


class LocalBlobStore:
    """Objects as files under ``root`` (created if missing). ``fsync=False`` only for throwaway stores."""

    write_once = False

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create blob directory {self.root}: {e.strerror}") from None

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def _write_temp(self, path: Path, data: bytes | bytearray | memoryview) -> Path:
        """The bytes in a new temporary file beside ``path`` (fsynced): put and create then move it in."""
        tmp = path.with_name(f"{path.name}{_TMP_MARK}{secrets.token_hex(6)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def _sync_dir(self, directory: Path) -> None:
        if self.fsync:
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def _write_error(self, name: str, e: OSError) -> Exception:
        if e.errno == errno.ENOTDIR:
            return InvalidInput(f"blob name {name!r} collides with an existing blob", field="name")
        return StoreError(f"cannot write blob {name!r}: {e.strerror}")

    def _place(self, name: str, data: bytes | bytearray | memoryview, *, replace: bool) -> bool:
        """Write a temporary file, then move it to the name: ``os.replace`` (put) or ``os.link`` (create: the
        kernel refuses with EEXIST when the name exists, so of several processes racing exactly one creates
        it). Either way a reader sees the whole object or nothing; the temporary file never stays."""
        path = self._path(name)
        try:
            tmp = self._write_temp(path, data)
        except OSError as e:
            raise self._write_error(name, e) from None
        try:
            (os.replace if replace else os.link)(tmp, path)
            self._sync_dir(path.parent)
            return True
        except FileExistsError:
            return False
        except OSError as e:
            raise self._write_error(name, e) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        self._place(name, data, replace=True)

    def create(self, name: str, data: bytes | bytearray | memoryview) -> bool:
        return self._place(name, data, replace=False)

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
            return self._read(fd, name, 0, size)
        finally:
            os.close(fd)

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
            return self._read(fd, name, offset, length)
        finally:
            os.close(fd)

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
        base = self.root
        head, _, _ = prefix.rpartition("/")
        if head:
            base = self.root / head
        names: list[str] = []
        for dirpath, _dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, self.root)
            for f in files:
                if _TMP_MARK in f:
                    continue
                name = f if rel == "." else f"{rel}/{f}"
                if name.startswith(prefix):
                    names.append(name.replace(os.sep, "/"))
        yield from sorted(names)
