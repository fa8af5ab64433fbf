"""A small file replaced whole and durably: the server's sealing key, owner key and CA export, the agent's
machine state; a restored database or image published under its name once whole.

Written under a temporary name, flushed to the disk (``fsync``), renamed over the file, and the directory
flushed too; after a crash or a power loss the file is the old one or the new one, never empty or cut short
(without the ``fsync``, a file system may keep the rename and lose the data: ext4 without ``auto_da_alloc``,
XFS, btrfs). A write that fails (a full disk) leaves the old file as it was and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """``data`` at ``path`` with ``mode``, replaced atomically and durably; raises ``OSError`` (the old file
    unchanged, nothing left beside it) when it cannot be written."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        try:
            os.fchmod(fd, mode)  # a temporary file left by a crash may have had another mode
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    sync_dir(path.parent)


def publish(tmp: Path, path: Path) -> None:
    """A new file written whole under ``tmp`` (in the same directory) made ``path``, durably: ``tmp`` flushed to
    the disk, renamed, and the directory flushed; after a crash ``path`` is absent or whole, never cut short."""
    fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    sync_dir(path.parent)


def sync_dir(directory: Path) -> None:
    """Flush a directory's entries (a rename in it) to the disk; raises ``OSError`` when the disk fails (the rename
    may be lost). A file system that cannot flush a directory (``EINVAL``) is left alone."""
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    except OSError as e:
        if e.errno not in _CANNOT_SYNC:
            raise
    finally:
        os.close(dfd)


_CANNOT_SYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EBADF})
