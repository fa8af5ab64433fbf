"""Files being restored: each written under a temporary name through a bounded set of open
descriptors, large chunks' aligned middles with ``O_DIRECT`` (see ``vaultlink.data.restore``)."""

from __future__ import annotations

import errno
import mmap
import os
import stat
import threading
from collections import OrderedDict

from vaultlink.data.formats import Node
from vaultlink.errors import Conflict, UnsafePath

ALIGN = 4096
DIRECT_MIN = 256 * 1024  # a chunk at least this large writes its aligned middle with O_DIRECT
MAX_OPEN = 256  # files kept open at once (least recently used ones are closed and reopened)
PARTIAL = ".vaultlink-partial"
O_DIRECT = getattr(os, "O_DIRECT", 0)


def _open_nofollow(path: str, flags: int) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(f"refusing to write through the symlink {path!r}") from None
        if e.errno == errno.EISDIR:
            raise Conflict(
                f"cannot restore file {path!r}: a directory is in the way; restore elsewhere"
            ) from None
        raise


def check_file_slot(path: str) -> None:
    """Refuse a symlink or a directory where a file is to be restored (nothing is followed or replaced)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"refusing to write through the symlink {path!r}")
    if stat.S_ISDIR(st.st_mode):
        raise Conflict(f"cannot restore file {path!r}: a directory is in the way; restore elsewhere")


def _pwrite_all(fd: int, data: bytes | memoryview, off: int) -> None:
    mv = memoryview(data)
    while mv:
        n = os.pwrite(fd, mv, off)
        mv, off = mv[n:], off + n


class OutFile:
    """One file being restored, under its temporary name until complete."""

    __slots__ = ("damaged", "dfd", "fd", "final", "left", "lock", "made", "node", "tmp", "users")

    def __init__(self, node: Node, final: str, tmp: str) -> None:
        self.node, self.final, self.tmp = node, final, tmp
        self.left = len(node.chunks)  # chunk writes still due (damaged ones count as done)
        self.damaged = False
        self.users = 0
        self.fd = self.dfd = -1
        self.made = False
        self.lock = threading.Lock()


class OpenFiles:
    """Open files of a restore: at most ``max_open`` at once (closed least recently used first, never
    while a writer holds them), a buffered and, for large files, an ``O_DIRECT`` descriptor each."""

    def __init__(self, direct: bool, max_open: int | None = None) -> None:
        self.direct = direct and O_DIRECT != 0
        self.max_open = max_open or MAX_OPEN
        self.lru: OrderedDict[str, OutFile] = OrderedDict()
        self.lock = threading.Lock()
        self.local = threading.local()
        self.root = os.geteuid() == 0

    def _open(self, out: OutFile) -> None:  # out.lock held
        if not out.made:
            try:
                fd = _open_nofollow(out.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            except FileExistsError:  # left by an earlier restore that was killed
                try:
                    os.unlink(out.tmp)
                except IsADirectoryError:
                    raise Conflict(f"cannot restore {out.final!r}: a directory {out.tmp!r} is in the way") from None
                fd = _open_nofollow(out.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            try:
                os.ftruncate(fd, out.node.size)
            except BaseException:
                os.close(fd)
                raise
            out.made = True
        else:
            fd = _open_nofollow(out.tmp, os.O_WRONLY)
        out.fd, out.dfd = fd, -1
        if self.direct and out.node.size >= DIRECT_MIN:
            try:
                out.dfd = _open_nofollow(out.tmp, os.O_WRONLY | O_DIRECT)
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
                self.lru[out.tmp] = out
                self.lru.move_to_end(out.tmp)
                extra = len(self.lru) - self.max_open
                victims = [o for _, o in zip(range(extra), self.lru.values(), strict=False)] if extra > 0 else []
        for v in victims:
            if v is out:
                continue
            with v.lock:
                if v.users == 0 and v.fd >= 0:
                    self._close(v)
                    with self.lock:
                        self.lru.pop(v.tmp, None)

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

    def write(self, out: OutFile, data: bytes, off: int) -> None:
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
                    if self.root:
                        os.fchown(out.fd, n.uid, n.gid)
                    os.fchmod(out.fd, n.mode)
                    os.utime(out.fd, ns=(n.mtime_ns, n.mtime_ns))
            finally:
                self._close(out)
                with self.lock:
                    self.lru.pop(out.tmp, None)
        if out.damaged:
            return False
        try:
            os.rename(out.tmp, out.final)
        except (IsADirectoryError, NotADirectoryError):
            raise Conflict(f"cannot restore file {out.final!r}: a directory is in the way; restore elsewhere") from None
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise Conflict(f"cannot restore file {out.final!r}: a directory is in the way") from None
            raise
        return True

    def close_all(self) -> None:
        with self.lock:
            outs = list(self.lru.values())
            self.lru.clear()
        for o in outs:
            with o.lock:
                self._close(o)
