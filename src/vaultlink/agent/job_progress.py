"""A running job's progress, reported to the service (the console shows it live) at most every few seconds,
and passed on to the local progress bar. Reporting is best effort: a report that fails costs nothing but
that report, never the backup or the restore."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from vaultlink.data import Progress
from vaultlink.errors import Interrupted, VaultlinkError, as_error

EVERY_SECONDS = 2.0


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
                 every: float | None = None) -> None:
        self._post, self._local = post, local
        self._every = EVERY_SECONDS if every is None else every
        self._last = time.monotonic()  # the first report after ``every`` s: short jobs send none

    def __call__(self, p: Progress) -> None:
        if self._local is not None:
            self._local(p)
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        with contextlib.suppress(VaultlinkError, OSError):
            self._post({"files_total": p.files_total, "bytes_total": p.bytes_total, "files_done": p.files_done,
                        "bytes_done": p.bytes_done, "bytes_new": p.bytes_new, "elapsed": round(p.elapsed, 3)})
