"""Files being restored: each written under a temporary name through a bounded set of open
descriptors, large chunks' aligned middles with ``O_DIRECT`` (see ``vaultlink.data.restore``)."""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterator

from vaultlink.data.manifest import Node
from vaultlink.errors import Conflict, UnsafePath

ALIGN = 4096
DIRECT_MIN = 256 * 1024  # a chunk at least this large writes its aligned middle with O_DIRECT
MAX_OPEN = 256  # files kept open at once (least recently used ones are closed and reopened)
PARTIAL = ".vaultlink-partial"
O_DIRECT = getattr(os, "O_DIRECT", 0)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DIR_FDS = 256  # directory descriptors kept open by a restore


class Target:
    """The restore target, reached only through directory descriptors.

    Every path component is opened relative to its parent's descriptor with ``O_NOFOLLOW`` (an
    ``openat`` walk from the target's own descriptor), and every file, rename, symlink and metadata call
    takes a directory descriptor: no path is ever resolved by name from the root again, so a directory
    swapped for a symlink during the restore is never followed (the walk fails with ``UnsafePath``).
    A bounded number of directory descriptors is kept; the others are reopened by walking again.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        try:
            self.root_fd = os.open(root, _DIR_FLAGS)
        except OSError as e:
            raise UnsafePath(f"cannot open the restore target {root!r}: {e.strerror}") from None
        self.lock = threading.Lock()
        self.fds: OrderedDict[str, int] = OrderedDict()  # relative dir -> open descriptor (never root)
        self.users: dict[str, int] = {}
        # directories this restore made, into which it has made no directory: nothing but this restore's own
        # files can be in them, so a file's slot there needs no look first (``needs_check``)
        self.fresh: set[str] = set()

    def full(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/")) if rel else self.root

    def _walk(self, rel: str, create: bool) -> int:
        """A new descriptor for directory ``rel`` (the caller closes it)."""
        fd = os.dup(self.root_fd)
        at = ""
        for part in rel.split("/") if rel else []:
            made = False
            try:
                try:
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    made = True
                    try:
                        os.mkdir(part, 0o700, dir_fd=fd)
                    except FileExistsError:
                        pass
                    else:
                        with self.lock:
                            self.fresh.discard(at)  # it holds a directory now: a file of that name would clash
                            self.fresh.add(f"{at}/{part}" if at else part)
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                os.close(fd)
                if made and e.errno == errno.ENOENT:  # made, then gone before it could be opened
                    raise UnsafePath(
                        f"refusing to restore into {self.full(rel)!r}: {part!r} was moved away as it was made "
                        "(the target is being changed during the restore); nothing was written through it"
                    ) from None
                if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise UnsafePath(
                        f"refusing to restore into {self.full(rel)!r}: {part!r} is not a directory (or is a "
                        "symlink, perhaps swapped in during the restore); nothing was written through it"
                    ) from None
                raise
            os.close(fd)
            fd = nfd
            at = f"{at}/{part}" if at else part
        return fd

    @contextlib.contextmanager
    def dir(self, rel: str, create: bool = True) -> Iterator[int]:
        """A descriptor of directory ``rel`` (made if missing) for the time of the ``with`` block."""
        if not rel:
            yield self.root_fd
            return
        with self.lock:
            fd = self.fds.get(rel)
            if fd is not None:
                self.fds.move_to_end(rel)
                self.users[rel] = self.users.get(rel, 0) + 1
        if fd is None:
            fd = self._walk(rel, create)
            with self.lock:
                if rel in self.fds:  # another thread opened it meanwhile: use that one
                    os.close(fd)
                    fd = self.fds[rel]
                self.fds[rel] = fd
                self.fds.move_to_end(rel)
                self.users[rel] = self.users.get(rel, 0) + 1
        try:
            yield fd
        finally:
            with self.lock:
                self.users[rel] -= 1
                while len(self.fds) > MAX_DIR_FDS:
                    victim = next((k for k in self.fds if not self.users.get(k)), None)
                    if victim is None:
                        break
                    os.close(self.fds.pop(victim))
                    self.users.pop(victim, None)

    def ensure_dir(self, rel: str) -> None:
        with self.dir(rel):
            pass

    def needs_check(self, dir_rel: str) -> bool:
        """Whether a file's slot in ``dir_rel`` must be looked at (``check_file_slot``) before it is written:
        not in a directory this restore made and put no directory in (no symlink or directory can be there
        but by a concurrent writer, which ``O_EXCL | O_NOFOLLOW`` and ``rename`` never write through)."""
        return dir_rel not in self.fresh

    def close(self) -> None:
        with self.lock:
            for fd in self.fds.values():
                os.close(fd)
            self.fds.clear()
            self.users.clear()
            os.close(self.root_fd)


def split_rel(rel: str) -> tuple[str, str]:
    """``a/b/c`` -> (``a/b``, ``c``)."""
    parent, _, name = rel.rpartition("/")
    return parent, name


def open_nofollow(dfd: int, name: str, flags: int, shown: str) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(f"refusing to write through the symlink {shown!r}") from None
        if e.errno == errno.EISDIR:
            raise Conflict(f"cannot restore file {shown!r}: a directory is in the way; restore elsewhere") from None
        raise


def check_file_slot(dfd: int, name: str, shown: str) -> None:
    """Refuse a symlink or a directory where a file is to be restored (nothing is followed or replaced)."""
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"refusing to write through the symlink {shown!r}")
    if stat.S_ISDIR(st.st_mode):
        raise Conflict(f"cannot restore file {shown!r}: a directory is in the way; restore elsewhere")


def _pwrite_all(fd: int, data: bytes | memoryview, off: int) -> None:
    mv = memoryview(data)
    while mv:
        n = os.pwrite(fd, mv, off)
        mv, off = mv[n:], off + n


class OutFile:
    """One file being restored, under its temporary name until complete."""

    # a restore of 100k files holds 100k of these: the names are derived from the node, the directory
    # string is shared by the files of one directory, and the full paths are made only for messages
    __slots__ = ("damaged", "dfd", "dir", "fd", "left", "lock", "made", "node", "root", "tildes", "users")

    def __init__(self, node: Node, root: str, dir_rel: str, tildes: int = 0) -> None:
        self.node, self.root, self.dir, self.tildes = node, root, dir_rel, tildes
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
    def tmpname(self) -> str:
        """The name it is written under until complete (``~`` added while another node has that name)."""
        return self.name + PARTIAL + "~" * self.tildes

    @property
    def final(self) -> str:
        return os.path.join(self.root, *self.node.path.split("/"))

    @property
    def tmp(self) -> str:
        return self.final + PARTIAL + "~" * self.tildes


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
    def _create(d: int, out: OutFile) -> int:
        """A new descriptor of ``out``'s temporary file, made empty in directory ``d``."""
        try:
            fd = open_nofollow(d, out.tmpname, os.O_WRONLY | os.O_CREAT | os.O_EXCL, out.tmp)
        except FileExistsError:  # left by an earlier restore that was killed
            try:
                os.unlink(out.tmpname, dir_fd=d)
            except IsADirectoryError:
                raise Conflict(f"cannot restore {out.final!r}: a directory {out.tmp!r} is in the way") from None
            fd = open_nofollow(d, out.tmpname, os.O_WRONLY | os.O_CREAT | os.O_EXCL, out.tmp)
        out.made = True
        return fd

    def _set_meta(self, fd: int, n: Node) -> None:
        if self.root:
            os.fchown(fd, n.uid, n.gid)
        os.fchmod(fd, n.mode)
        os.utime(fd, ns=(n.mtime_ns, n.mtime_ns))

    @staticmethod
    def _rename(d: int, out: OutFile) -> None:
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
            fd = self._create(d, out)
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
