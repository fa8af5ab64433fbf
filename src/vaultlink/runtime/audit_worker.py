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

from vaultlink.errors import ServiceUnavailable, StorageFull, from_dict

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


# The writer runs in the background (nice 19, SCHED_BATCH) while it keeps up: woken by a batch, a writer at
# the request path's priority took the core from the event loop (or from the clients on the same machine) and
# cost a fifth to a third of the small requests per second (bench/README-datapath.md); in the background it
# fills the gaps the loop leaves. When it falls behind (the oldest event of a batch waited over BEHIND_LAG
# seconds, or a batch is over BACKGROUND_MAX events, near the sink's largest) and for every trim it runs at
# normal priority, so it cannot starve on a busy machine. It goes back once a batch's oldest event waited
# under CAUGHT_UP_LAG and it has been at normal priority HIGH_FOR seconds. The price: on a machine with no idle
# core, a batch begun in the background holds SQLite's write lock until the writer gets the CPU or is raised
# at the next batch (other writers wait, up to the store's 30 s; that worst case is not measured).
BACKGROUND_MAX = 4000
BEHIND_LAG = 1.0
CAUGHT_UP_LAG = 0.25
HIGH_FOR = 5.0
BACKGROUND_NICE = 19


def _lower(pid: int) -> bool:
    """Put ``pid`` in the background (always allowed for our own child); False where the system refuses."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, BACKGROUND_NICE)
        if hasattr(os, "SCHED_BATCH"):
            os.sched_setscheduler(pid, os.SCHED_BATCH, os.sched_param(0))
    except OSError:
        return False
    return True


def _raise(pid: int) -> bool:
    """Back to normal priority: only with CAP_SYS_NICE (or a raised RLIMIT_NICE); False otherwise."""
    try:
        if hasattr(os, "SCHED_OTHER"):
            os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
        os.setpriority(os.PRIO_PROCESS, pid, 0)
    except OSError:
        return False
    return True


class AuditProcess:
    """The service side: ``append_audit`` and ``trim_audit`` (the sink's writer) done by the worker."""

    def __init__(self, metadata_url: str, timeout: float = 120.0, background: bool = True) -> None:
        self.url = metadata_url
        self.timeout = timeout
        self.background = background  # small batches written at background priority (above)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._low = False  # the current worker runs in the background
        self._high_until = 0.0  # not put in the background again before (monotonic)
        self.restarts = 0
        self.replaced = 0  # workers replaced by one at normal priority (the system refused to raise it)

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
            self._low = False
            assert proc.stdin is not None
            proc.stdin.write(pack({"url": self.url}))
            proc.stdin.flush()
        return proc

    def _prioritize(self, proc: subprocess.Popen[bytes], events: list[Any] | None) -> subprocess.Popen[bytes]:
        """The worker at the priority the next request needs (``events``: the batch; None: a trim)."""
        if not self.background:
            return proc
        lag = 0.0
        if events:
            t = events[0].get("time") if isinstance(events[0], dict) else None
            lag = time.time() - float(t) if isinstance(t, (int, float)) else 0.0
        behind = events is None or len(events) > BACKGROUND_MAX or lag > BEHIND_LAG
        if self._low:
            if not behind:
                return proc
            if not _raise(proc.pid):  # unprivileged: a new worker, at the service's priority
                self._retire(proc)
                self.replaced += 1
                proc = self._ensure()
            self._low = False
            self._high_until = time.monotonic() + HIGH_FOR
        elif not behind and lag < CAUGHT_UP_LAG and time.monotonic() >= self._high_until:
            self._low = _lower(proc.pid)
        return proc

    def _retire(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        """End an idle worker (between two requests): its input closed, it exits; killed if it does not."""
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
        if self._proc is proc:
            self._proc = None

    def _call(self, request: tuple[Any, ...]) -> Any:
        frame = pack(request)
        with self._lock:
            proc = self._prioritize(self._ensure(), request[1] if request[0] == "append" else None)
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
        if isinstance(err, (ServiceUnavailable, StorageFull)):  # the sink holds the batch until the store can take it
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
        if proc is not None:
            self._retire(proc, timeout)
