"""The restore target, reached only through directory descriptors (see ``vaultlink.data.restore``)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterator

from vaultlink.errors import Conflict, InsufficientSpace, UnsafePath

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

    def __init__(self, root: str, staged: bool = False) -> None:
        self.root = root
        # a new directory under a temporary name, renamed to the target's when the restore is complete: files
        # are written under their own names (the directory's name marks them unfinished, not each file's)
        self.staged = staged
        try:
            self.root_fd = os.open(root, _DIR_FLAGS)
        except OSError as e:
            raise UnsafePath(f"cannot open the restore target {root!r}: {e.strerror}") from None
        self.lock = threading.Lock()
        self.fds: OrderedDict[str, int] = OrderedDict()  # relative dir -> open descriptor (never root)
        self.users: dict[str, int] = {}
        # directories this restore made, into which it has made no directory: nothing but this restore's own
        # files can be in them, so a file's slot there needs no look first (``needs_check``)
        self.fresh: set[str] = {""} if staged else set()

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


def open_nofollow(dfd: int, name: str, flags: int, shown: str, mode: int = 0o600) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
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


def check_space(target: str | os.PathLike[str], need: int) -> None:
    """Refuse a restore whose files would not fit in the target's free space (before anything is written: a
    restore that ran out of space would leave a half-written tree). Every file is written whole beside the one
    it replaces, so ``need`` is the files' whole size. A file system that reports no size is not checked. A
    target not made yet is measured on its nearest existing parent (and not made when refused)."""
    at = os.path.abspath(target)
    while not os.path.exists(at) and os.path.dirname(at) != at:
        at = os.path.dirname(at)
    st = os.statvfs(at)
    if st.f_blocks == 0:
        return
    free = (st.f_bfree if os.geteuid() == 0 else st.f_bavail) * st.f_frsize
    if need > free:
        raise InsufficientSpace(
            f"the files to restore need {need / 2**20:,.1f} MiB and {os.fspath(target)!r} has "
            f"{free / 2**20:,.1f} MiB free; free some space, or restore elsewhere (--target) or a part (--include)."
        )
