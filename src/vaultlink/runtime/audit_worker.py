"""The audit log written by a process of its own (``audit_worker = true``, the default with SQL metadata).

Every request the pipeline answers is audited. Turning an event into a row (interning its names, packing
the rest into JSON) and SQLite's own insert into a table with nine indexes cost more than the request's
answer did, and in the service's process that work holds the interpreter lock the event loop needs: under
small requests the writer thread took a third of the service's throughput (``bench/README-datapath.md``).

So the sink's thread (``service/audit.py``) only hands each batch to ``python -m vaultlink.audit_process``:
``marshal`` (a C pass over plain dicts) through a pipe, and the worker's answer back. The worker opens the
same metadata store and runs the same ``append_audit`` / ``trim_audit``; the sink keeps everything else
(flood summaries, the pending bound, retries, ``flush``). One batch is in flight at a time and is written
in one transaction, so the sink's accounting is unchanged: a batch is written once its answer arrives.

Failure: a worker that dies or does not answer within ``timeout`` is killed and started again at the next
batch, and the batch is reported ``ServiceUnavailable`` so the sink holds it and writes it again (a batch
the worker committed just before dying may then be stored twice: at least once, never lost). The worker
dies with the service (``PR_SET_PDEATHSIG``), and ``close`` ends it after the last batch.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import select
import struct
import subprocess
import sys
import threading
import time
from typing import Any

from vaultlink.errors import ServiceUnavailable, from_dict

log = logging.getLogger("vaultlink.audit")
HEADER = struct.Struct(">I")
MAX_FRAME = 256 << 20  # bytes of one request or answer (a batch is at most the sink's max_batch events)
_PLAIN = (str, int, float, bool, type(None), bytes)


def plain(value: Any) -> Any:
    """``value`` with anything ``marshal`` cannot carry turned into its ``str`` (as the store's JSON does)."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value)


def pack(message: Any) -> bytes:
    try:
        body = marshal.dumps(message)
    except ValueError:  # an event carries an object marshal does not know: its text, as the store keeps it
        body = marshal.dumps(plain(message))
    if len(body) > MAX_FRAME:
        raise ValueError(f"an audit batch of {len(body)} bytes is over the {MAX_FRAME}-byte frame")
    return HEADER.pack(len(body)) + body


def read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    """``n`` bytes from ``fd``; EOFError when it closes, TimeoutError past ``deadline`` (monotonic)."""
    parts: list[bytes] = []
    left = n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError("no answer in time")
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("closed")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_frame(fd: int, deadline: float | None = None) -> Any:
    (size,) = HEADER.unpack(read_exact(fd, HEADER.size, deadline))
    if size > MAX_FRAME:
        raise EOFError(f"a frame of {size} bytes is over the limit")
    return marshal.loads(read_exact(fd, size, deadline))


class AuditProcess:
    """The service side: ``append_audit`` and ``trim_audit`` (the sink's writer) done by the worker."""

    def __init__(self, metadata_url: str, timeout: float = 120.0) -> None:
        self.url = metadata_url
        self.timeout = timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        """Start the worker now (it imports while the service starts); else at the first batch."""
        with self._lock:
            self._ensure()

    def _ensure(self) -> subprocess.Popen[bytes]:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            if proc is not None:
                self.restarts += 1
                log.warning("audit: the writer process ended (exit %s); starting another", proc.returncode)
            proc = self._proc = subprocess.Popen(
                [sys.executable, "-m", "vaultlink.audit_process", str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
            assert proc.stdin is not None
            proc.stdin.write(pack({"url": self.url}))
            proc.stdin.flush()
        return proc

    def _call(self, request: tuple[Any, ...]) -> Any:
        frame = pack(request)
        with self._lock:
            proc = self._ensure()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(frame)
                proc.stdin.flush()
                answer = read_frame(proc.stdout.fileno(), time.monotonic() + self.timeout)
            except (OSError, EOFError, TimeoutError, ValueError) as exc:
                self._end(proc)
                raise ServiceUnavailable(
                    f"the audit writer process stopped answering ({exc or type(exc).__name__}); it is started "
                    "again and the events are written again.") from None
        if answer[0] == "ok":
            return answer[1]
        err = from_dict(answer[1])
        if isinstance(err, ServiceUnavailable):
            raise err
        raise RuntimeError(err.message)  # the sink writes the batch event by event, reporting the bad one

    def append_audit(self, events: list[dict[str, Any]]) -> None:
        self._call(("append", events))

    def trim_audit(self, before_time: float, max_events: int) -> int:
        return int(self._call(("trim", before_time, max_events)))

    def _end(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        if self._proc is proc:
            self._proc = None

    def close(self, timeout: float = 10.0) -> None:
        """After the sink's last batch: the worker sees its input end and exits (killed if it does not)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
