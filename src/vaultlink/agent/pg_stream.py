"""A base backup read straight from PostgreSQL's replication protocol, in the agent's own process.

``pg_basebackup -D - -F t`` costs a process that receives the tar and writes it to a pipe the agent
reads again: on a 2-core machine about 1.5 CPU-seconds per GiB more than reading the same stream here
(measured: ``bench/README-postgres.md``), on the same cores the compression needs. With psycopg (the
``postgres`` extra) installed, the agent sends ``BASE_BACKUP`` itself over a replication connection
(libpq, through psycopg's public ``pq`` wrapper) and reads the archive's ``CopyData`` messages as they
come, never blocking while holding the interpreter (the socket is waited on with ``poll``). The tar is
the one ``pg_basebackup -F t -X none --no-manifest`` writes: the server's archive as sent (from
PostgreSQL 15 on, the server ends it with tar's two zero blocks and pg_basebackup passes it through).
PostgreSQL 15's protocol (one COPY stream for every archive) is spoken; an older server, or no psycopg,
leaves the agent on ``pg_basebackup`` (``open_stream`` returns ``None``).
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import select
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from vaultlink.agent import prefetch
from vaultlink.errors import InvalidInput, ServiceUnavailable

PROTOCOL_VERSION = 150000  # BASE_BACKUP with options in parentheses, archives in one COPY stream
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux), named in the fcntl module from Python 3.10 on some builds
PIPE_BYTES = 1 << 20
CONNECT_SECONDS = 60.0
IDLE_SECONDS = 3600.0  # nothing from the server for an hour (a checkpoint, the WAL archive): give up


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class BaseBackupStream:
    """``BASE_BACKUP`` on a replication connection to ``dsn``; ``next_piece`` returns the tar piece by piece
    (an empty ``bytes`` at its end) and ``readinto`` fills a buffer from it. ``close`` ends the connection (a
    backup not read to its end is aborted by the server)."""

    def __init__(self, pq: Any, conn: Any, label: str, wait: bool) -> None:
        self._pq = pq
        self._conn = conn
        self._rest: memoryview = memoryview(b"")
        self._archives = 0
        self._copying = False
        self._done = False
        self._cancelled = False
        self.start_lsn: str | None = None
        self.end_lsn: str | None = None
        self.end_tli = 0
        self.waited = wait  # the server waited for the end's WAL to be archived before ending the COPY
        self.notices: list[str] = []  # kept, not printed on the agent's stderr (libpq's default)
        conn.notice_handler = self._notice
        conn.send_query(b"SHOW wal_segment_size")
        self.segment_size = _size(self._value())
        # what ``pg_basebackup -F t -X none -c fast --no-manifest`` asks (the tar format adds the tablespace map)
        conn.send_query(f"BASE_BACKUP (LABEL {_quote(label)}, CHECKPOINT 'fast', WAIT {str(wait).lower()}, "
                        f"WAL false, TABLESPACE_MAP true, MANIFEST 'no')".encode())

    # --- waiting without holding the interpreter ------------------------------------------------------------
    def _wait(self) -> None:
        poller = select.poll()
        poller.register(self._conn.socket, select.POLLIN)
        deadline = time.monotonic() + IDLE_SECONDS
        while True:
            if poller.poll(1000):
                return
            if self._cancelled:
                raise ServiceUnavailable("the base backup was stopped")
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"PostgreSQL sent nothing for {IDLE_SECONDS:.0f} s during a base backup "
                                         "(is its archive_command failing? see its log)")

    def _result(self) -> Any:
        while self._conn.is_busy():
            self._wait()
            self._conn.consume_input()
        return self._conn.get_result()

    def _failed(self, res: Any = None) -> ServiceUnavailable:
        msg = (res.error_message if res is not None else b"") or self._conn.error_message
        return ServiceUnavailable(f"the base backup failed: {msg.decode(errors='replace').strip()[-500:]}")

    def _notice(self, res: Any) -> None:
        if len(self.notices) < 20:
            self.notices.append((res.error_message or b"").decode(errors="replace").strip())

    def _value(self) -> str:
        """The one value of a command's result (its results read to their end)."""
        value: str | None = None
        while (res := self._result()) is not None:
            if res.status != self._pq.ExecStatus.TUPLES_OK:
                raise self._failed(res)
            value = (res.get_value(0, 0) or b"").decode()
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
        ES = self._pq.ExecStatus
        while not self._copying:
            res = self._result()
            if res is None:
                raise ServiceUnavailable("PostgreSQL ended the base backup before sending it")
            if res.status == ES.COPY_OUT:
                self._copying = True
            elif res.status == ES.TUPLES_OK and self.start_lsn is None:
                self.start_lsn = (res.get_value(0, 0) or b"").decode()
            elif res.status == ES.TUPLES_OK:  # the tablespaces: one row (the data directory) or more
                if res.ntuples > 1:
                    raise InvalidInput(f"the cluster has {res.ntuples - 1} tablespace(s) outside its data "
                                       "directory; vaultlink backs up clusters whose data is all in it")
            else:
                raise self._failed(res)

    def _after_copy(self) -> None:
        ES = self._pq.ExecStatus
        while (res := self._result()) is not None:
            if res.status == ES.TUPLES_OK:
                self.end_lsn = (res.get_value(0, 0) or b"").decode()
                self.end_tli = int(res.get_value(0, 1) or 0)
            elif res.status != ES.COMMAND_OK:
                raise self._failed(res)
        self._done = True

    def next_piece(self) -> bytes | memoryview:
        """The next piece of the tar (a view of one message), or ``b""`` at its end."""
        if self._done:
            return b""
        if not self._copying:
            self._before_copy()
        while True:
            n, data = self._conn.get_copy_data(1)
            if n > 0:
                kind = data[0]
                if kind == 0x64:  # 'd': archive data
                    return data[1:]
                if kind == 0x6E:  # 'n': a new archive; a second one is a tablespace
                    self._archives += 1
                    if self._archives > 1:
                        raise InvalidInput("the cluster has tablespaces outside its data directory; vaultlink "
                                           "backs up clusters whose data is all in it")
                continue  # 'p' progress, 'm' manifest (none asked)
            if n == 0:
                self._wait()
                self._conn.consume_input()
                continue
            if n == -1:  # the COPY ended: the backup's end position, then the command's end
                self._after_copy()
                return b""
            raise self._failed()

    def readinto(self, out: memoryview) -> int:
        """Fill ``out`` from the tar (as much as has come, at least one byte unless at its end)."""
        got = 0
        while got < len(out):
            if not self._rest:
                piece = self.next_piece()
                if not piece:
                    break
                self._rest = memoryview(piece).cast("B")
            n = min(len(self._rest), len(out) - got)
            out[got:got + n] = self._rest[:n]
            self._rest = self._rest[n:]
            got += n
        return got

    def cancel(self) -> None:
        """Make a wait for the server give up within a second (a reading thread then ends)."""
        self._cancelled = True

    def close(self) -> None:
        self._rest = memoryview(b"")
        self._conn.finish()


def _size(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*(B|kB|MB|GB)?", text.strip())
    if not m:
        raise ServiceUnavailable(f"PostgreSQL's wal_segment_size is {text!r}, not a size this agent reads")
    return int(m.group(1)) << {"B": 0, None: 0, "kB": 10, "MB": 20, "GB": 30}[m.group(2)]


def open_stream(dsn: str, label: str = "vaultlink base backup", wait: bool = True) -> BaseBackupStream | None:
    """A base backup of the cluster at ``dsn`` read by the agent itself, or ``None`` when it cannot be (no
    psycopg installed, or a server older than PostgreSQL 15): the caller then runs ``pg_basebackup``. With
    ``wait`` false the server does not wait for the end's WAL to be archived (it checks once a second, so a
    backup waited one or two seconds for a segment archived in half of one); the caller must then see
    ``end_segment()`` archived before the base backup counts."""
    try:
        from psycopg import conninfo, pq  # the postgres extra
    except ImportError:
        return None

    def bad(msg: str) -> InvalidInput:
        return InvalidInput(f"the PostgreSQL DSN of this database cannot be used ({msg}); protect it again with "
                            "a valid --dsn")

    try:
        info = conninfo.make_conninfo(dsn, replication="true", application_name="vaultlink")
    except Exception as exc:  # psycopg.ProgrammingError: libpq could not parse it
        raise bad(str(exc)) from None
    conn = pq.PGconn.connect_start(info.encode())
    if conn.status == pq.ConnStatus.BAD:
        msg = conn.error_message.decode(errors="replace").strip()
        conn.finish()
        raise bad(msg)
    deadline = time.monotonic() + CONNECT_SECONDS
    status = pq.PollingStatus.WRITING
    while status != pq.PollingStatus.OK:
        if status == pq.PollingStatus.FAILED or time.monotonic() > deadline:
            msg = conn.error_message.decode(errors="replace").strip() or "timed out"
            conn.finish()
            raise ServiceUnavailable(f"cannot open a replication connection to PostgreSQL ({msg}); the backup "
                                     "role needs REPLICATION and a pg_hba.conf line for 'replication'")
        poller = select.poll()  # the socket may change between polls (libpq tries each address in turn)
        poller.register(conn.socket, select.POLLIN if status == pq.PollingStatus.READING else select.POLLOUT)
        poller.poll(1000)
        status = pq.PollingStatus(conn.connect_poll())
    if conn.server_version < PROTOCOL_VERSION:
        conn.finish()
        return None
    try:
        return BaseBackupStream(pq, conn, label, wait)
    except BaseException:
        conn.finish()
        raise


# the tar as a binary file, ``finish()`` (after the engine read it all: the WAL segment the caller must still see
# archived, or None), and which reader it is
Stream = tuple[IO[bytes], Callable[[], str | None], str]


@contextlib.contextmanager
def base_backup(dsn: str, own_wait: bool, pg_basebackup: Callable[[], str]) -> Iterator[Stream]:
    """A base backup's tar, started now and read ahead: by the agent itself (``own_wait``: the caller waits for
    the end's WAL), else by ``pg_basebackup`` (the path ``pg_basebackup()`` returns) through a pipe."""
    source = open_stream(dsn, wait=not own_wait)
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
    """``pg_basebackup -D - -F t -X none``'s standard output (no psycopg installed, or a server before 15)."""
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
