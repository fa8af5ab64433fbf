"""Linux network-namespace primitives (an adapter at the edge: syscalls through libc).

Named namespaces are what ``ip netns`` makes: a namespace bind-mounted on a file in a directory
(``/run/netns/NAME``). Every call here changes only the calling thread's namespace, and
:func:`entered` always puts the thread back, so the fabric does this work in worker threads while the
event loop keeps serving in the process's own namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import socket
from collections.abc import Iterator
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SHARED = 1 << 20
MNT_DETACH = 2
CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)

_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def setns(fd: int) -> None:
    _check(libc().setns(fd, CLONE_NEWNET), "setns")


def capabilities() -> int:
    """The effective capability bits of this process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def has_capability(bit: int) -> bool:
    return bool(capabilities() >> bit & 1)


def share_dir(directory: Path) -> None:
    """Make ``directory`` a shared mount point (as ``ip netns add`` does), so namespaces mounted in it later
    are seen by processes in other mount namespaces; best effort."""
    directory.mkdir(parents=True, exist_ok=True)
    c = libc()
    path = str(directory).encode()
    if c.mount(b"none", path, None, MS_SHARED | MS_REC, None) == 0:
        return
    if c.mount(path, path, b"none", MS_BIND | MS_REC, None) == 0:
        c.mount(b"none", path, None, MS_SHARED | MS_REC, None)


def create(path: Path) -> None:
    """A new, empty network namespace bind-mounted on ``path`` (the file must not exist)."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
    os.close(fd)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            _check(libc().unshare(CLONE_NEWNET), "unshare")
            _check(libc().mount(b"/proc/thread-self/ns/net", str(path).encode(), b"none", MS_BIND, None),
                   "mount")
        finally:
            setns(own)
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    finally:
        os.close(own)


def remove(path: Path) -> None:
    """Unmount and delete a named namespace (the kernel frees it, and its interfaces, once unused)."""
    libc().umount2(str(path).encode(), MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def is_namespace(path: Path) -> bool:
    """Whether ``path`` has a namespace mounted on it (a bare file left by a crash does not)."""
    try:
        return os.stat(path).st_dev != os.stat(path.parent).st_dev
    except OSError:
        return False


@contextlib.contextmanager
def entered(path: Path | None) -> Iterator[None]:
    """Run the block in the namespace mounted on ``path`` (this thread only); None: stay where we are."""
    if path is None:
        yield
        return
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        os.close(own)
        raise OSError(errno.ENOENT, f"network namespace {path} does not exist") from None
    try:
        setns(target)
        try:
            yield
        finally:
            setns(own)
    finally:
        os.close(target)
        os.close(own)


def bound_socket(kind: str, ip: str, port: int, freebind: bool = False, shared: bool = False) -> socket.socket:
    """A TCP (not yet listening) or UDP socket bound to ``ip:port`` in the calling thread's namespace
    (``shared``: SO_REUSEPORT, for several servers of one deployment on one machine)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if freebind:
            sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        sock.bind((ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


def exec_in(path: Path, argv: list[str], resolv_conf: Path | None = None) -> None:
    """Replace this (single-threaded) process by ``argv`` run inside the namespace on ``path``, with
    ``resolv_conf`` bind-mounted on /etc/resolv.conf in a mount namespace of its own (``ip netns exec``)."""
    fd = os.open(path, os.O_RDONLY)
    setns(fd)
    os.close(fd)
    if resolv_conf is not None and resolv_conf.exists():
        c = libc()
        _check(c.unshare(CLONE_NEWNS), "unshare(mount)")
        _check(c.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
        _check(c.mount(str(resolv_conf).encode(), b"/etc/resolv.conf", b"none", MS_BIND, None),
               "bind-mount resolv.conf")
    os.execvp(argv[0], argv)
