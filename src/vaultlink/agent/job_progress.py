"""A running job's progress, reported to the service (the console shows it live) at most every few seconds,
and passed on to the local progress bar. Reporting is best effort: a report that fails costs nothing but
that report, never the backup or the restore.

While a job runs (``JobProgress.beating``), a heartbeat thread repeats the last report when nothing was sent
for ``HEARTBEAT_SECONDS``: a workload's backup (a database's stream, a disk image) and a ``dump`` report no
progress of their own, and a file backup can spend minutes in one large file. The service takes a job whose
agent said nothing for ``jobs.SILENT`` seconds (15 minutes) for dead and ends it ``Failed``
(``service/scheduler.py``): an agent killed mid-job leaves no job ``InProgress`` forever.

A job the service ended while it ran (``StopBackupJob``, its completion window, a silence) answers the next report
with ``Conflict``; the engine's next progress call then raises it, so a file backup or restore stops within a report
or two instead of running to its end only to have its commit refused (a workload's stream, which calls no progress,
stops at its next piece: ``on_end`` stops the repository it fills)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from vaultlink.data import Progress
from vaultlink.errors import Conflict, Interrupted, VaultlinkError, as_error

EVERY_SECONDS = 2.0
HEARTBEAT_SECONDS = 60.0


def job_end(exc: BaseException) -> tuple[str, str]:
    """The status and error a job ends with when ``exc`` stopped it: ``Aborted`` when this machine interrupted it
    (Ctrl-C, SIGTERM), ``Failed`` otherwise, with the error's message (a file of the machine that could not be
    written: ``LocalIOError``'s, naming it and what to do)."""
    if isinstance(exc, (KeyboardInterrupt, Interrupted)):
        return "Aborted", "interrupted on the machine (Ctrl-C or SIGTERM) before it finished"
    if isinstance(exc, (VaultlinkError, OSError)):
        return "Failed", as_error(exc).message
    return "Failed", f"{exc.__class__.__name__}: {exc}"


class JobProgress:
    def __init__(self, post: Callable[[dict[str, Any]], Any], local: Callable[[Progress], None] | None = None,
                 every: float | None = None, heartbeat: float | None = None) -> None:
        self._post, self._local = post, local
        self._every = EVERY_SECONDS if every is None else every
        self._beat = HEARTBEAT_SECONDS if heartbeat is None else heartbeat
        self._t0 = self._last = time.monotonic()  # the first report after ``every`` s: short jobs send none
        self._latest: dict[str, Any] = dict.fromkeys(
            ("files_total", "bytes_total", "files_done", "bytes_done", "bytes_new", "elapsed"), 0)
        self._sending = threading.Lock()  # held while a report is on its way (the heartbeat's or the job's)
        self.ended: VaultlinkError | None = None  # the service's answer once the job ended there (stopped, expired)
        self.on_end: Callable[[VaultlinkError], None] | None = None  # told it too (the repository a stream fills)

    def __call__(self, p: Progress) -> None:
        if self.ended is not None:  # stopped on the service (StopBackupJob, a window): the engine stops here too
            raise self.ended
        if self._local is not None:
            self._local(p)
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        self._send({"files_total": p.files_total, "bytes_total": p.bytes_total, "files_done": p.files_done,
                    "bytes_done": p.bytes_done, "bytes_new": p.bytes_new, "elapsed": round(p.elapsed, 3)})

    def _send(self, report: dict[str, Any]) -> None:
        """Send ``report``, unless another is on its way (the job never waits for the heartbeat's request)."""
        self._latest = report
        if not self._sending.acquire(blocking=False):
            return
        try:
            self._post(report)
        except Conflict as exc:
            if exc.field == "job":  # the job ended on the service: nothing this machine does now can commit it
                self.ended = exc
                if self.on_end is not None:
                    self.on_end(exc)
        except (VaultlinkError, OSError):
            pass  # best effort: a lost report is replaced by the next
        finally:
            self._sending.release()

    @contextlib.contextmanager
    def beating(self) -> Iterator[None]:
        """While the block runs, the last report again (its ``elapsed`` brought up to date) whenever nothing was
        sent for the heartbeat's interval; the thread stops with the block (a report in flight ends on its own)."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(max(0.01, self._beat - (time.monotonic() - self._last))):
                if time.monotonic() - self._last >= self._beat:
                    self._last = time.monotonic()
                    with contextlib.suppress(Exception):  # best effort: never a traceback from this thread
                        self._send({**self._latest, "elapsed": round(self._last - self._t0, 3)})

        thread = threading.Thread(target=beat, name="vaultlink-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()


def reporter(post: Callable[[str, dict[str, Any]], Any], job_id: str,
             local: Callable[[Progress], None] | None = None) -> JobProgress:
    """Job ``job_id``'s progress, sent by ``post(path, body)`` (the agent's request to the backup service, not
    retried: the next report replaces a lost one)."""
    return JobProgress(lambda p: post(f"/jobs/{job_id}/progress", {"progress": p}), local)
