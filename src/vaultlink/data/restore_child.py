"""A restore's small files made by a process of its own (the program is ``restore_writer.py``; see there why).

``Writer.write`` frames a small file of one chunk (its directory made, its data verified) into a buffer sent
to the child 256 KiB at a time; ``finish`` waits until the child has made every file it was sent and raises
what it failed on, as the restore would have in-process (``Conflict``, ``UnsafePath``, ``OSError``).
A child that cannot start leaves ``Writer.start`` returning ``None``: the restore makes the files itself.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct
import subprocess
import sys
import threading

from vaultlink.data import restore_writer
from vaultlink.data.manifest import Node
from vaultlink.errors import Conflict, CorruptData, UnsafePath, VaultlinkError

SEND = 256 * 1024  # bytes framed before they are written to the child
PIPE_SIZE = 1 << 20
NAME_MAX = 4096  # longer names are refused here as the file system would refuse them (it allows 255 bytes)
MAX_DIRS = 4096  # directory indexes before they are numbered afresh (the child's table stays bounded too)


class WriterFailed(VaultlinkError):
    """The process making a restore's small files stopped without saying why (killed, or out of memory)."""


class Writer:
    """The child making the small files of one restore into ``root`` (its ``proc``, started by ``start``)."""

    def __init__(self, proc: subprocess.Popen[bytes], root: str) -> None:
        self.proc, self.root = proc, root
        self.lock = threading.Lock()
        self.buf = bytearray()
        self.dirs: dict[str, int] = {}
        self.sent = 0
        self.closed = False
        self.failure: Exception | None = None  # what ended the child, raised again to every later caller

    @classmethod
    def start(cls, root: str, root_fd: int) -> Writer | None:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", restore_writer.__file__, str(root_fd), "1" if os.geteuid() == 0 else "0"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                pass_fds=(root_fd,),
            )
        except OSError:
            return None
        assert proc.stdin is not None
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        return cls(proc, root)

    def write(self, node: Node, dir_rel: str, name: str, tmpname: str, data: bytes | memoryview) -> None:
        """Frame one file: ``name`` in ``dir_rel`` (made already), written as ``tmpname`` then renamed."""
        with self.lock:
            self._check()
            index = self.dirs.get(dir_rel)
            if index is None:
                if len(self.dirs) >= MAX_DIRS:
                    self.dirs.clear()
                index = self.dirs[dir_rel] = len(self.dirs)
                rel = dir_rel.encode("utf-8", "surrogateescape")
                self.buf += restore_writer.DIR.pack(b"D", index, len(rel)) + rel
            nb, tb = name.encode("utf-8", "surrogateescape"), tmpname.encode("utf-8", "surrogateescape")
            if len(tb) > NAME_MAX:
                raise OSError(errno.ENAMETOOLONG, "File name too long", os.path.join(self.root, dir_rel, tmpname))
            try:
                head = restore_writer.FILE.pack(
                    b"F", index, len(nb), len(tb), node.mode, node.uid, node.gid, node.mtime_ns, len(data)
                )
            except struct.error:
                raise CorruptData(
                    f"the snapshot gives {node.path!r} a mode, owner or time out of range; restore the other files "
                    "with --include, and run `vaultlink agent check`"
                ) from None
            self.buf += head
            self.buf += nb
            self.buf += tb
            self.buf += data
            self.sent += 1
            if len(self.buf) >= SEND:
                self._flush()

    def _check(self) -> None:  # lock held
        if self.closed:
            raise self.failure or WriterFailed("internal error: the restore's file writer was used after its end")

    def _flush(self) -> None:  # lock held
        assert self.proc.stdin is not None
        mv = memoryview(self.buf)
        try:
            while mv:
                mv = mv[os.write(self.proc.stdin.fileno(), mv) :]  # blocks without the interpreter lock
        except BrokenPipeError:
            mv.release()
            self._end()  # raises what the child said, or that it stopped
            raise
        mv.release()
        self.buf.clear()

    def finish(self) -> None:
        """Send what is left, wait until every file is made; raise what the child failed on."""
        with self.lock:
            if self.closed:
                if self.failure is not None:
                    raise self.failure
                return
            self._flush()
            self._end()

    def _end(self) -> None:  # lock held: close the input, read the report, reap the child, raise a failure
        try:
            self._report()
        except Exception as e:
            self.failure = e
            raise

    def _report(self) -> None:
        self.closed = True
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        report = self.proc.stdout.read()
        self.proc.stdout.close()
        rc = self.proc.wait()
        if report[:1] == b"K" and rc == 0:
            (made,) = struct.unpack_from("<Q", report, 1)
            if made == self.sent:
                return
        if report[:1] == b"E":
            kind = report[1:2]
            err, n = struct.unpack_from("<iI", report, 2)
            msg = report[10 : 10 + n].decode("utf-8", "surrogateescape")
            (m,) = struct.unpack_from("<I", report, 10 + n)
            rel = report[14 + n : 14 + n + m].decode("utf-8", "surrogateescape")
            shown = os.path.join(self.root, *rel.split("/")) if rel else self.root
            if kind == b"c":
                raise Conflict(f"cannot restore file {shown!r}: {msg}; restore elsewhere")
            if kind == b"u":
                raise UnsafePath(f"refusing to restore {shown!r}: {msg}")
            raise OSError(err or errno.EIO, msg, shown)
        raise WriterFailed(
            f"the process making the restore's small files stopped (exit status {rc}) before it made them all; "
            "restore again"
        )

    def kill(self) -> None:
        """End the child now (the restore failed elsewhere); what it made stays, under temporary names."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.proc.kill()
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                if f is not None:
                    with contextlib.suppress(OSError):
                        f.close()


class LazyWriter:
    """The restore's small-file maker (``restore_child.Writer``), started at the first span of small files
    of a restore of mostly small files (``restore.CHILD_FILES`` or more, averaging under ``SMALL_CHUNK``), only
    while the ``small`` lock is held: one at a time."""

    def __init__(self, root: str, root_fd: int, wanted: bool) -> None:
        self.root, self.root_fd, self.wanted = root, root_fd, wanted
        self.writer: Writer | None = None

    def get(self) -> Writer | None:
        if self.wanted and self.writer is None:
            self.writer = Writer.start(self.root, self.root_fd)
            self.wanted = self.writer is not None  # could not start: the files are made in-process
        return self.writer

    def finish(self) -> None:
        if self.writer is not None:
            self.writer.finish()

    def kill(self) -> None:
        if self.writer is not None:
            self.writer.kill()
            self.writer.failure = None  # no cycle through the exception's frames: the snapshot's nodes freed now
