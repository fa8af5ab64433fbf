"""A backup's progress totals, counted ahead of its walk by a process of its own.

A first backup does not know how much it will read; a second walk of its trees gives the totals (regular
files and their bytes) long before the reading is done. That walk ``lstat``s every file. In a thread of the
backup's own process each of those calls passed the interpreter lock back and forth with the thread reading
files (100k files of 1-8 KiB: 0.5-0.8 s more, 7-11 %, and 1.3 CPU-seconds); in a child process
(``count_walk.py``, run by its path) it runs on another core and costs the backup one pipe line per
``EVERY`` entries, and about 8.5 MiB of memory while it counts.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Sequence

from vaultlink.data import count_walk


class TreeCount:
    """The totals of ``roots`` as a child process counts them: ``totals`` grows until the count ends
    (``finished``). A child that cannot start leaves ``totals`` at zero: the walk's own running totals show.
    ``close`` ends the child (killed if still counting) and reaps it."""

    def __init__(self, roots: Sequence[str], skip: count_walk.Skip | None = None) -> None:
        self.totals = (0, 0)
        self.finished = False
        self._reader: threading.Thread | None = None
        argv = [sys.executable, "-I", "-S", count_walk.__file__, *(skip.argv() if skip else ()), "--", *roots]
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
        except OSError:
            self._proc = None
            return
        self._reader = threading.Thread(target=self._read, args=(self._proc,), name="vl-backup-count", daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in proc.stdout:  # blocks without the interpreter lock
                files, size = line.split()
                self.totals = (int(files), int(size))
            self.finished = proc.wait() == 0

    def close(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
