"""A base backup read straight from PostgreSQL's replication protocol, in the agent's own process.

``pg_basebackup -D - -F t`` costs a process that receives the tar and writes it to a pipe the agent
reads again: on a 2-core machine about 1.5 CPU-seconds per GiB more than reading the same stream here
(measured: ``bench/README-postgres.md``), on the same cores the compression needs. Where the machine has
libpq (``agent/libpq.py``), the agent sends ``BASE_BACKUP`` itself over a replication connection and copies
the archive's ``CopyData`` messages from libpq's buffers into the engine's, never holding the interpreter
while it waits (the socket is polled) or copies (ctypes releases it). The tar is
the one ``pg_basebackup -F t -X none --no-manifest`` writes: the server's archive as sent (from
PostgreSQL 15 on, the server ends it with tar's two zero blocks and pg_basebackup passes it through).
PostgreSQL 15's protocol (one COPY stream for every archive) is spoken; an older server, or no libpq,
leaves the agent on ``pg_basebackup`` (``open_stream`` returns ``None``).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import re
import select
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import IO

from vaultlink.agent import libpq, prefetch
from vaultlink.errors import InvalidInput, ServiceUnavailable

PROTOCOL_VERSION = 150000  # BASE_BACKUP with options in parentheses, archives in one COPY stream
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux), named in the fcntl module from Python 3.10 on some builds
PIPE_BYTES = 1 << 20
CONNECT_SECONDS = 60.0
IDLE_SECONDS = 3600.0  # nothing from the server for an hour (a checkpoint, the WAL archive): give up


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class BaseBackupStream:
    """``BASE_BACKUP`` on a replication connection; ``next_piece`` returns the tar piece by piece (an empty
    ``bytes`` at its end) and ``readinto`` copies it into a buffer straight from libpq's. ``close`` ends the
    connection (a backup not read to its end is aborted by the server)."""

    def __init__(self, conn: libpq.Conn, label: str, wait: bool) -> None:
        self._conn = conn
        self._pq = conn.pq
        self._buf = 0  # the libpq buffer being copied out (PQfreemem once done), its offset and end
        self._off = self._end = 0
        self._archives = 0
        self._copying = False
        self._done = False
        self._cancelled = False
        self.start_lsn: str | None = None
        self.end_lsn: str | None = None
        self.end_tli = 0
        self.waited = wait  # the server waited for the end's WAL to be archived before ending the COPY
        self.notices = conn.notices  # kept, not printed on the agent's stderr (libpq's default)
        self._send(b"SHOW wal_segment_size")
        self.segment_size = _size(self._value())
        # what ``pg_basebackup -F t -X none -c fast --no-manifest`` asks (the tar format adds the tablespace map)
        self._send(f"BASE_BACKUP (LABEL {_quote(label)}, CHECKPOINT 'fast', WAIT {str(wait).lower()}, "
                   f"WAL false, TABLESPACE_MAP true, MANIFEST 'no')".encode())

    def _send(self, query: bytes) -> None:
        if not self._pq.PQsendQuery(self._conn.ptr, query):
            raise self._failed()

    # --- waiting without holding the interpreter ------------------------------------------------------------
    def _wait(self) -> None:
        poller = select.poll()
        poller.register(self._pq.PQsocket(self._conn.ptr), select.POLLIN)
        deadline = time.monotonic() + IDLE_SECONDS
        while True:
            if poller.poll(1000):
                if not self._pq.PQconsumeInput(self._conn.ptr):
                    raise self._failed()
                return
            if self._cancelled:
                raise ServiceUnavailable("the base backup was stopped")
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"PostgreSQL sent nothing for {IDLE_SECONDS:.0f} s during a base backup "
                                         "(is its archive_command failing? see its log)")

    def _result(self) -> libpq.Result | None:
        while self._pq.PQisBusy(self._conn.ptr):
            self._wait()
        return self._conn.result()

    def _failed(self, res: libpq.Result | None = None) -> ServiceUnavailable:
        msg = (res.error.decode(errors="replace") if res is not None else "") or self._conn.error()
        return ServiceUnavailable(f"the base backup failed: {msg.strip()[-500:]}")

    def _value(self) -> str:
        """The one value of a command's result (its results read to their end)."""
        value: str | None = None
        while (res := self._result()) is not None:
            if res.status != libpq.PGRES_TUPLES_OK:
                raise self._failed(res)
            value = (res.rows[0][0] or b"").decode() if res.rows else ""
        if value is None:
            raise ServiceUnavailable("PostgreSQL answered nothing to SHOW wal_segment_size")
        return value

    def end_segment(self) -> str:
        """The WAL segment holding the backup's end (PostgreSQL's ``lastxlogfilename``): once it is archived,
        the base backup restores to a consistent state."""
        if not self.end_lsn or not self.end_tli:
            raise ServiceUnavailable("PostgreSQL did not say where the base backup ended")
        hi, lo = self.end_lsn.split("/")
        segno = ((int(hi, 16) << 32) | int(lo, 16)) // self.segment_size
        per = 0x100000000 // self.segment_size
        return f"{self.end_tli:08X}{segno // per:08X}{segno % per:08X}"

    # --- the protocol ----------------------------------------------------------------------------------------
    def _before_copy(self) -> None:
        while not self._copying:
            res = self._result()
            if res is None:
                raise ServiceUnavailable("PostgreSQL ended the base backup before sending it")
            if res.status == libpq.PGRES_COPY_OUT:
                self._copying = True
            elif res.status == libpq.PGRES_TUPLES_OK and self.start_lsn is None:
                self.start_lsn = (res.rows[0][0] or b"").decode() if res.rows else ""
            elif res.status == libpq.PGRES_TUPLES_OK:  # the tablespaces: one row (the data directory) or more
                if res.ntuples > 1:
                    raise InvalidInput(f"the cluster has {res.ntuples - 1} tablespace(s) outside its data "
                                       "directory; vaultlink backs up clusters whose data is all in it")
            else:
                raise self._failed(res)

    def _after_copy(self) -> None:
        while (res := self._result()) is not None:
            if res.status == libpq.PGRES_TUPLES_OK and res.rows:
                self.end_lsn = (res.rows[0][0] or b"").decode()
                self.end_tli = int(res.rows[0][1] or 0)
            elif res.status != libpq.PGRES_COMMAND_OK:
                raise self._failed(res)
        self._done = True

    def _next(self) -> bool:
        """The next archive data message as the current buffer (False at the end of the COPY)."""
        if self._buf:
            self._conn.free(self._buf)
            self._buf = 0
        if self._done:
            return False
        if not self._copying:
            self._before_copy()
        while True:
            n, buf = self._conn.copy_data()
            if n > 0:
                kind = ctypes.c_ubyte.from_address(buf).value
                if kind == 0x64:  # 'd': archive data
                    self._buf, self._off, self._end = buf, 1, n
                    return True
                self._conn.free(buf)
                if kind == 0x6E:  # 'n': a new archive; a second one is a tablespace
                    self._archives += 1
                    if self._archives > 1:
                        raise InvalidInput("the cluster has tablespaces outside its data directory; vaultlink "
                                           "backs up clusters whose data is all in it")
                continue  # 'p' progress, 'm' manifest (none asked)
            if n == 0:
                self._wait()
                continue
            if n == -1:  # the COPY ended: the backup's end position, then the command's end
                self._after_copy()
                return False
            raise self._failed()

    def next_piece(self) -> bytes:
        """The next piece of the tar (one message's data), or ``b""`` at its end."""
        if self._off >= self._end and not self._next():
            return b""
        piece = ctypes.string_at(self._buf + self._off, self._end - self._off)
        self._off = self._end
        return piece

    def readinto(self, out: memoryview) -> int:
        """Fill ``out`` from the tar (all of it unless the tar ends first); 0 at its end."""
        if not len(out):
            return 0
        holder = ctypes.c_char.from_buffer(out)  # the address of ``out``, released before returning
        try:
            dest, size, got = ctypes.addressof(holder), len(out), 0
            while got < size:
                if self._off >= self._end and not self._next():
                    break
                n = min(self._end - self._off, size - got)
                ctypes.memmove(dest + got, self._buf + self._off, n)  # outside the interpreter's lock
                self._off += n
                got += n
            return got
        finally:
            del holder

    def cancel(self) -> None:
        """Make a wait for the server give up within a second (a reading thread then ends)."""
        self._cancelled = True

    def close(self) -> None:
        if self._buf:
            self._conn.free(self._buf)
            self._buf = 0
        self._conn.finish()


def _size(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*(B|kB|MB|GB)?", text.strip())
    if not m:
        raise ServiceUnavailable(f"PostgreSQL's wal_segment_size is {text!r}, not a size this agent reads")
    return int(m.group(1)) << {"B": 0, None: 0, "kB": 10, "MB": 20, "GB": 30}[m.group(2)]


def open_stream(dsn: str, label: str = "vaultlink base backup", wait: bool = True) -> BaseBackupStream | None:
    """A base backup of the cluster at ``dsn`` read by the agent itself, or ``None`` when it cannot be (no
    libpq on this machine, or a server older than PostgreSQL 15): the caller then runs ``pg_basebackup``.
    With ``wait`` false the server does not wait for the end's WAL to be archived (it checks once a second,
    so a backup waited one or two seconds for a segment archived in half of one); the caller must then see
    ``end_segment()`` archived before the base backup counts."""
    pq = libpq.load()
    if pq is None:
        return None
    # "dbname" first, expanded (the DSN's own parameters), then what a replication connection needs
    conn = libpq.Conn(pq, {"dbname": dsn, "replication": "true", "application_name": "vaultlink"})
    try:
        if conn.bad():
            raise InvalidInput(f"the PostgreSQL DSN of this database cannot be used ({conn.error()}); protect it "
                               "again with a valid --dsn")
        deadline = time.monotonic() + CONNECT_SECONDS
        status = libpq.POLLING_WRITING
        while status != libpq.POLLING_OK:
            if status == libpq.POLLING_FAILED or time.monotonic() > deadline:
                why = conn.error() or "timed out"
                raise ServiceUnavailable(f"cannot open a replication connection to PostgreSQL ({why}); the backup "
                                         "role needs REPLICATION and a pg_hba.conf line for 'replication'")
            poller = select.poll()  # the socket may change between polls (libpq tries each address in turn)
            poller.register(pq.PQsocket(conn.ptr),
                            select.POLLIN if status == libpq.POLLING_READING else select.POLLOUT)
            poller.poll(1000)
            status = pq.PQconnectPoll(conn.ptr)
        if pq.PQserverVersion(conn.ptr) < PROTOCOL_VERSION:
            conn.finish()
            return None
        return BaseBackupStream(conn, label, wait)
    except BaseException:
        conn.finish()
        raise


# the tar as a binary file, ``finish()`` (after the engine read it all: the WAL segment the caller must still see
# archived, or None), and which reader it is
Stream = tuple[IO[bytes], Callable[[], str | None], str]


@contextlib.contextmanager
def base_backup(dsn: str, *, own_wait: bool, pg_basebackup: Callable[[], str], via: str = "auto") -> Iterator[Stream]:
    """A base backup's tar, started now and read ahead: by the agent itself (``own_wait``: the caller waits for
    the end's WAL), else (``via`` pg_basebackup, or no libpq, or a server before 15) by ``pg_basebackup`` (the
    path ``pg_basebackup()`` returns) through a pipe."""
    source = open_stream(dsn, wait=not own_wait) if via != "pg_basebackup" else None
    if source is None and via == "libpq":
        raise InvalidInput("--via libpq: this machine has no libpq (libpq5), or the server is older than "
                           "PostgreSQL 15; use --via pg_basebackup", field="via")
    with (_own(source) if source is not None else _piped(pg_basebackup(), dsn)) as stream:
        yield stream


@contextlib.contextmanager
def _own(source: BaseBackupStream) -> Iterator[Stream]:
    stream = prefetch.reader_of(source)

    def finish() -> str | None:
        if stream.read(1):
            raise ServiceUnavailable("PostgreSQL sent more after the end of the base backup's archive")
        return None if source.waited else source.end_segment()

    try:
        yield stream, finish, "libpq"
    finally:
        source.cancel()
        stream.close()
        source.close()


@contextlib.contextmanager
def _piped(tool: str, dsn: str) -> Iterator[Stream]:
    """``pg_basebackup -D - -F t -X none``'s standard output."""
    argv = [tool, "-d", dsn, "-D", "-", "-F", "t", "-X", "none", "-c", "fast", "--no-manifest"]
    # a stderr file, not a pipe, so a chatty pg_basebackup can never block
    err_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed below, after the job
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err_file)
    assert proc.stdout is not None
    with contextlib.suppress(OSError):  # a 1 MiB pipe: fewer wake-ups than 64 KiB at a time
        fcntl.fcntl(proc.stdout.fileno(), F_SETPIPE_SZ, PIPE_BYTES)
    stream = prefetch.reader(proc.stdout.fileno())

    def finish() -> str | None:
        if proc.wait() != 0:
            err_file.seek(0)
            err = err_file.read().decode(errors="replace")
            raise ServiceUnavailable(f"pg_basebackup failed ({proc.returncode}): {err.strip()[-500:]}")
        return None  # -X none: it waited for the WAL to be archived

    try:
        yield stream, finish, "pg_basebackup"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        stream.close()
        proc.stdout.close()
        err_file.close()
