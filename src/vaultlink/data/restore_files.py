"""Files being restored: each written under a temporary name (or, in a target staged whole under one, under
its own) through a bounded set of open descriptors, large chunks' aligned middles with ``O_DIRECT`` (see
``vaultlink.data.restore``)."""

from __future__ import annotations

import errno
import mmap
import os
import threading
from collections import OrderedDict

from vaultlink.data.manifest import Node
from vaultlink.data.restore_target import Target, open_nofollow
from vaultlink.data.restore_writer import set_meta
from vaultlink.errors import Conflict

ALIGN = 4096
DIRECT_MIN = 256 * 1024  # a chunk at least this large writes its aligned middle with O_DIRECT
MAX_OPEN = 256  # files kept open at once (least recently used ones are closed and reopened)
PARTIAL = ".vaultlink-partial"
O_DIRECT = getattr(os, "O_DIRECT", 0)


def _pwrite_all(fd: int, data: bytes | memoryview, off: int) -> None:
    mv = memoryview(data)
    while mv:
        n = os.pwrite(fd, mv, off)
        mv, off = mv[n:], off + n


class OutFile:
    """One file being restored, under its temporary name until complete (in a staged target: its own name,
    renamed to the temporary one if it turns out damaged)."""

    # a restore of 100k files holds 100k of these: the names are derived from the node, the directory
    # string is shared by the files of one directory, and the full paths are made only for messages
    __slots__ = ("damaged", "dfd", "dir", "fd", "inplace", "left", "lock", "made", "node", "root", "tildes", "users")

    def __init__(self, node: Node, root: str, dir_rel: str, tildes: int = 0, inplace: bool = False) -> None:
        self.node, self.root, self.dir, self.tildes, self.inplace = node, root, dir_rel, tildes, inplace
        self.left = len(node.chunks)  # chunk writes still due (damaged ones count as done)
        self.damaged = False
        self.users = 0
        self.fd = self.dfd = -1
        self.made = False
        self.lock = threading.Lock()

    @property
    def name(self) -> str:
        """The file's name in its directory (what is renamed to at the end)."""
        return self.node.path.rpartition("/")[2]

    @property
    def partial(self) -> str:
        """Its temporary name (``~`` added while another node has that name)."""
        return self.name + PARTIAL + "~" * self.tildes

    @property
    def tmpname(self) -> str:
        """The name it is written under until complete."""
        return self.name if self.inplace else self.partial

    @property
    def final(self) -> str:
        return os.path.join(self.root, *self.node.path.split("/"))

    @property
    def tmp(self) -> str:
        return self.final + self.tmpname[len(self.name) :]


class OpenFiles:
    """Open files of a restore: at most ``max_open`` at once (closed least recently used first, never
    while a writer holds them), a buffered and, for large files, an ``O_DIRECT`` descriptor each."""

    def __init__(self, target: Target, direct: bool, max_open: int | None = None) -> None:
        self.target = target
        self.direct = direct and O_DIRECT != 0
        self.max_open = max_open or MAX_OPEN
        self.lru: OrderedDict[int, OutFile] = OrderedDict()  # by id(OutFile)
        self.lock = threading.Lock()
        self.local = threading.local()
        self.root = os.geteuid() == 0

    @staticmethod
    def _create(d: int, out: OutFile, mode: int = 0o600) -> int:
        """A new descriptor of ``out``'s file (under the name it is written under), made empty in directory
        ``d`` with permission bits ``mode`` (less the umask)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            fd = open_nofollow(d, out.tmpname, flags, out.tmp, mode)
        except FileExistsError:  # left by an earlier restore that was killed
            try:
                os.unlink(out.tmpname, dir_fd=d)
            except IsADirectoryError:
                raise Conflict(f"cannot restore {out.final!r}: a directory {out.tmp!r} is in the way") from None
            fd = open_nofollow(d, out.tmpname, flags, out.tmp, mode)
        out.made = True
        return fd

    def _set_meta(self, fd: int, n: Node) -> None:
        """Owner (as root), mode and mtime, as the small-file child sets them (``restore_writer.set_meta``)."""
        set_meta(fd, n.mode, n.uid, n.gid, n.mtime_ns, self.root)

    @staticmethod
    def _rename(d: int, out: OutFile) -> None:
        if out.inplace:  # written under its own name in a staged target
            return
        try:
            os.rename(out.tmpname, out.name, src_dir_fd=d, dst_dir_fd=d)
        except (IsADirectoryError, NotADirectoryError):
            raise Conflict(f"cannot restore file {out.final!r}: a directory is in the way; restore elsewhere") from None
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise Conflict(f"cannot restore file {out.final!r}: a directory is in the way") from None
            raise

    @staticmethod
    def whole(out: OutFile) -> bool:
        """Whether ``out`` is written by ``write_whole``: one chunk, small (no ``O_DIRECT`` part)."""
        return len(out.node.chunks) == 1 and out.node.size < DIRECT_MIN

    def write_whole(self, out: OutFile, data: bytes | memoryview) -> None:
        """A small file of one chunk, in one go: made, written, given its owner, mode and mtime, closed and
        renamed into place. Its one chunk is its only write, so no other thread can hold it: no descriptor
        kept, no lock (a restore of many small files spends most of its time here)."""
        n = out.node
        with self.target.dir(out.dir) as d:
            # made with its own permission bits (no write is left that a reopen would need them for), so
            # ``_set_meta`` mostly has no mode to change
            fd = self._create(d, out, n.mode & 0o777)
            try:
                _pwrite_all(fd, data, 0)
                self._set_meta(fd, n)
            finally:
                os.close(fd)
            out.left = 0
            self._rename(d, out)

    def _open(self, out: OutFile) -> None:  # out.lock held
        with self.target.dir(out.dir) as d:
            if not out.made:
                fd = self._create(d, out)
                try:
                    os.ftruncate(fd, out.node.size)
                except BaseException:
                    os.close(fd)
                    raise
            else:
                fd = open_nofollow(d, out.tmpname, os.O_WRONLY, out.tmp)
            out.fd, out.dfd = fd, -1
            if self.direct and out.node.size >= DIRECT_MIN:
                try:
                    out.dfd = open_nofollow(d, out.tmpname, os.O_WRONLY | O_DIRECT, out.tmp)
                except OSError:
                    self.direct = False  # this filesystem has no O_DIRECT: buffered writes only

    @staticmethod
    def _close(out: OutFile) -> None:  # out.lock held
        for fd in (out.dfd, out.fd):
            if fd >= 0:
                os.close(fd)
        out.fd = out.dfd = -1

    def acquire(self, out: OutFile) -> None:
        with out.lock:
            if out.fd < 0:
                self._open(out)
            out.users += 1
            with self.lock:
                self.lru[id(out)] = out
                self.lru.move_to_end(id(out))
                extra = len(self.lru) - self.max_open
                victims = [o for _, o in zip(range(extra), self.lru.values(), strict=False)] if extra > 0 else []
        for v in victims:
            if v is out:
                continue
            with v.lock:
                if v.users == 0 and v.fd >= 0:
                    self._close(v)
                    with self.lock:
                        self.lru.pop(id(v), None)

    def release(self, out: OutFile, writes: int, damaged: bool = False, held: bool = True) -> bool:
        """Account ``writes`` chunk writes as done; True when the file has no write left."""
        with out.lock:
            if held:
                out.users -= 1
            out.left -= writes
            out.damaged = out.damaged or damaged
            return out.left == 0

    def _scratch(self, n: int) -> mmap.mmap:
        buf: mmap.mmap | None = getattr(self.local, "buf", None)
        if buf is None or len(buf) < n:
            buf = mmap.mmap(-1, max(n, 4 << 20))  # page-aligned, reused: what O_DIRECT needs
            self.local.buf = buf
        return buf

    def write(self, out: OutFile, data: bytes | memoryview, off: int) -> None:
        """Write ``data`` at ``off`` of an acquired file."""
        n = len(data)
        if out.dfd >= 0 and self.direct and n >= DIRECT_MIN:
            a = -(-off // ALIGN) * ALIGN
            b = (off + n) // ALIGN * ALIGN
            mv = memoryview(data)
            buf = self._scratch(b - a)
            buf[: b - a] = mv[a - off : b - off]
            body = memoryview(buf)[: b - a]
            try:
                done = os.pwrite(out.dfd, body, a)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                self.direct, done = False, 0  # alignment refused: buffered from now on
            if done < b - a:
                _pwrite_all(out.fd, body[done:], a + done)
            if a > off:
                _pwrite_all(out.fd, mv[: a - off], off)
            if off + n > b:
                _pwrite_all(out.fd, mv[b - off :], b)
            return
        _pwrite_all(out.fd, data, off)

    def finish(self, out: OutFile) -> bool:
        """Close a file with no write left; unless damaged, set owner, mode, mtime and rename it into place."""
        n = out.node
        with out.lock:
            try:
                if not out.damaged:
                    if out.fd < 0:
                        self._open(out)
                    self._set_meta(out.fd, n)
            finally:
                self._close(out)
                with self.lock:
                    self.lru.pop(id(out), None)
        if out.damaged:
            if out.inplace and out.made:  # under its own name in a staged target: marked as unfinished
                with self.target.dir(out.dir) as d:
                    os.rename(out.name, out.partial, src_dir_fd=d, dst_dir_fd=d)
            return False
        with self.target.dir(out.dir) as d:
            self._rename(d, out)
        return True

    def close_all(self) -> None:
        with self.lock:
            outs = list(self.lru.values())
            self.lru.clear()
        for o in outs:
            with o.lock:
                self._close(o)
