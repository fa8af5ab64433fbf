"""The program of the process that makes a restore's small files (``restore_child.Writer``):
``python -I -S restore_writer.py ROOT_FD CHOWN`` reads frames on its standard input and makes each file
under the restore target open as descriptor ``ROOT_FD``. It imports ``os``, ``stat``, ``struct`` and
``sys`` only: it starts in milliseconds and holds about 9 MiB.

Why a process: a small file costs its restore a few short system calls (create, write, metadata, close,
rename) that the kernel spends most of the time in; in the restoring process each of them hands the
interpreter lock to and fro with the threads that decrypt and verify the chunks. Here they run on
another core, beside them.

Frames (little-endian): ``D`` u32 index, u32 length, then a directory relative to the root (made by the
restore already); ``F`` u32 directory index, u16 name length, u16 temporary name length, u32 mode,
u32 uid, u32 gid, i64 mtime (ns), u32 data length, then the name, the temporary name and the data. A
file is made under its temporary name (``O_EXCL | O_NOFOLLOW``, a leftover of a killed restore
replaced), written, given its owner (``CHOWN`` 1), mode and mtime, closed and renamed to its name
(unless both names are the same). Every directory is opened component by component from the root's
descriptor with ``O_NOFOLLOW``: nothing swapped in during the restore is followed.

At the end of its input it writes ``K`` and the count of files made, and exits 0. At the first failure
it writes ``E``, the kind (``c``: something is in the way, ``u``: a symlink where a directory or file
goes, ``o``: any other system error), the errno, then the message and the path relative to the root
(each u32 length and bytes), and exits 1: the restore stops there, as it would have in-process.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import sys

TYPE_CHECKING = False  # not ``typing``'s: the child imports nothing it does not need
if TYPE_CHECKING:
    from typing import BinaryIO

DIR = struct.Struct("<cII")
FILE = struct.Struct("<cIHHIIIqI")
BUF, MAX_FRAME = 3 << 19, 1 << 19  # the one input buffer; the longest frame (a small file is under 256 KiB)
MAX_DIR_FDS = 256
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def set_meta(fd: int, mode: int, uid: int, gid: int, mtime_ns: int, chown: bool) -> None:
    """A restored file's owner (when ``chown``), mode and mtime; the owner and the mode only where the file's
    differ (each call dirties the inode, and as root restoring root's files both changed nothing for every
    file). The mode goes after the owner: changing the owner clears set-id bits. Used in-process too
    (``restore_files.OpenFiles``)."""
    st = os.fstat(fd)
    chowned = chown and (st.st_uid != uid or st.st_gid != gid)
    if chowned:
        os.fchown(fd, uid, gid)
    if chowned or stat.S_IMODE(st.st_mode) != stat.S_IMODE(mode):
        os.fchmod(fd, mode)
    os.utime(fd, ns=(mtime_ns, mtime_ns))


class Failed(Exception):
    def __init__(self, kind: bytes, err: int, message: str, path: str) -> None:
        super().__init__(message)
        self.kind, self.err, self.message, self.path = kind, err, message, path


class Maker:
    """Files made under ``root_fd``; directories by index, at most ``MAX_DIR_FDS`` of them open."""

    def __init__(self, root_fd: int, chown: bool) -> None:
        self.root_fd, self.chown = root_fd, chown
        self.dirs: dict[int, str] = {}
        self.fds: dict[int, int] = {}  # index -> descriptor, oldest first
        self.made = 0

    def set_dir(self, index: int, rel: str) -> None:
        fd = self.fds.pop(index, None)
        if fd is not None:
            os.close(fd)
        self.dirs[index] = rel

    def _dir(self, index: int) -> int:
        fd = self.fds.get(index)
        if fd is not None:
            return fd
        rel = self.dirs[index]
        fd = os.dup(self.root_fd)
        for part in rel.split("/") if rel else []:
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise Failed(
                        b"u",
                        e.errno,
                        f"{part!r} is not a directory (or is a symlink, perhaps swapped "
                        "in during the restore); nothing was written through it",
                        rel,
                    ) from None
                raise Failed(b"o", e.errno or 0, e.strerror or str(e), rel) from None
            os.close(fd)
            fd = nfd
        if len(self.fds) >= MAX_DIR_FDS:
            os.close(self.fds.pop(next(iter(self.fds))))
        self.fds[index] = fd
        return fd

    def make(
        self, index: int, name: str, tmp: str, mode: int, uid: int, gid: int, mtime: int, data: memoryview
    ) -> None:
        d = self._dir(index)
        rel = f"{self.dirs[index]}/{name}" if self.dirs[index] else name
        try:
            try:
                fd = os.open(tmp, _FILE_FLAGS, mode & 0o777, dir_fd=d)
            except FileExistsError:  # left by an earlier restore that was killed
                try:
                    os.unlink(tmp, dir_fd=d)
                except IsADirectoryError:
                    raise Failed(b"c", errno.EISDIR, "a directory is in the way", rel) from None
                fd = os.open(tmp, _FILE_FLAGS, mode & 0o777, dir_fd=d)
            try:
                while data:
                    data = data[os.write(fd, data) :]
                set_meta(fd, mode, uid, gid, mtime, self.chown)
            finally:
                os.close(fd)
            if tmp != name:
                os.rename(tmp, name, src_dir_fd=d, dst_dir_fd=d)
        except Failed:
            raise
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise Failed(b"u", e.errno, "a symlink is where the file goes", rel) from None
            if e.errno in (errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY, errno.EEXIST):
                raise Failed(b"c", e.errno, "a directory is in the way", rel) from None
            raise Failed(b"o", e.errno or 0, e.strerror or str(e), rel) from None
        self.made += 1


def _text(b: bytes | bytearray | memoryview) -> str:
    return bytes(b).decode("utf-8", "surrogateescape")


def serve(inp: int, out: BinaryIO, maker: Maker) -> int:
    """Make the files the frames read from descriptor ``inp`` describe; report on ``out``; the exit status.
    The frames are read into one buffer of ``BUF`` bytes, never grown (reads of fresh objects left this
    process's heap fragmented: 50-85 MiB after 100k files); a frame longer than ``MAX_FRAME`` is refused."""
    buf = bytearray(BUF)
    mv = memoryview(buf)
    pos = end = 0
    try:
        while True:
            while True:  # every whole frame in buf[pos:end]
                left = end - pos
                if left < DIR.size or (buf[pos] == 70 and left < FILE.size):
                    break
                kind = buf[pos]
                if kind == 68:  # D
                    _, index, n = DIR.unpack_from(buf, pos)
                    size = DIR.size + n
                elif kind == 70:  # F
                    _, index, nn, tn, mode, uid, gid, mtime, dn = FILE.unpack_from(buf, pos)
                    size = FILE.size + nn + tn + dn
                else:
                    raise Failed(b"o", errno.EPROTO, "a frame the restore's file writer does not know", "")
                if size > MAX_FRAME:
                    raise Failed(b"o", errno.EMSGSIZE, "a frame longer than the restore's file writer takes", "")
                if left < size:
                    break
                if kind == 68:
                    maker.set_dir(index, _text(mv[pos + DIR.size : pos + size]))
                else:
                    a = pos + FILE.size
                    name, tmp = _text(mv[a : a + nn]), _text(mv[a + nn : a + nn + tn])
                    maker.make(index, name, tmp, mode, uid, gid, mtime, mv[a + nn + tn : pos + size])
                pos += size
            if BUF - end < MAX_FRAME:  # too little room behind: move what is left to the front
                mv[: end - pos] = mv[pos:end]
                pos, end = 0, end - pos
            n = os.readv(inp, [mv[end:]])
            if not n:
                if end > pos:
                    raise Failed(b"o", errno.EPROTO, "its input ended within a frame", "")
                out.write(b"K" + struct.pack("<Q", maker.made))
                out.flush()
                return 0
            end += n
    except Failed as f:
        msg, path = f.message.encode("utf-8", "surrogateescape"), f.path.encode("utf-8", "surrogateescape")
        out.write(b"E" + f.kind + struct.pack("<iI", f.err, len(msg)) + msg + struct.pack("<I", len(path)) + path)
        out.flush()
        return 1


def main(argv: list[str]) -> int:
    maker = Maker(int(argv[1]), argv[2] == "1")
    return serve(sys.stdin.fileno(), sys.stdout.buffer, maker)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
