"""Small files read ahead when they are not in memory: the kernel asked for a batch's files before a thread
reads them.

A backup reads a batch of tiny files on its walking thread, one file after another (``backup.TINY_FILE``): from
the page cache that is the fastest way (threads passing the interpreter lock between short system calls cost
more than the work). Files that are not in the page cache (a nightly backup of files nobody touched since
the last one) make each of those reads wait for the disk, one at a time: 100k files of 1-8 KiB, each a read of
0.1-0.5 ms, spend most of the backup waiting. So the walking thread times its batches; once a batch took much
longer than the CPU it used (its files came from the disk), each new batch's files are handed to a thread of
ours that opens each and asks the kernel to read it (``posix_fadvise(WILLNEED)``, which starts the reads and
returns), and the batch is read ``DEPTH`` batches later, by then from memory. Batches handed to worker threads
(files averaging ``TINY_FILE`` or more: a second backup of small files that each grew) are advised as they are
queued, and a worker's batch read without advice tells, as the walking thread's do, whether files are cold:
before, only the walking thread's batches did, so a backup whose changed files all went to the workers read
them one at a time from the disk. Every ``PROBE``-th batch in that mode is read without advice, to tell when the
files are in memory again (the advice then stops). Files in memory are never advised: a backup of a
tree in the page cache costs two clock reads per batch.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

DEPTH = 4  # batches advised and not yet read, at most (4 x 128 small files, at most 4 x 4 MiB)
PROBE = 32  # in the cold mode, every this many batches one is read without advice: still cold?
SLOW = 1.6  # a batch is cold when its wall time exceeds its CPU time by this factor
SLACK = 0.002  # ... and by at least this many seconds (a batch's scheduling noise)
SLOW_QUEUED = 4.0  # a worker's batch: its wall time also holds its waits for the interpreter lock
# a FIFO swapped in for a file never hangs the advice, nor does a symlink swapped in lead it to a device
_OPEN = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW


def advise(paths: Sequence[str]) -> None:
    """Ask the kernel to read ``paths`` into the page cache (it starts the reads and returns); a file that
    cannot be opened is skipped (its reader reports it)."""
    will = os.POSIX_FADV_WILLNEED
    for p in paths:
        try:
            fd = os.open(p, _OPEN)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, will)
        except OSError:
            pass
        finally:
            os.close(fd)


class Batch:
    """Files read together: ``files`` (each ``(node, path)``), ``bytes``, and ``future`` once queued."""

    def __init__(self) -> None:
        self.files: list[tuple[Any, str]] = []
        self.bytes = 0
        self.future: Future[list[tuple[str, str]]] | None = None
        self.taken = False  # its errors are in the backup's stats
        self.probe = False  # read without advice: its time says whether the files are still cold


class Readahead:
    """The walking thread's batches of small files, read now (files in memory) or ``DEPTH`` batches after
    their advice (files on the disk). ``read(files)`` reads a batch and returns its errors. Used by the one
    walking thread only; ``close`` stops the advising thread."""

    def __init__(self, read: Callable[[list[tuple[Any, str]]], list[tuple[str, str]]]) -> None:
        self._read = read
        self.cold = False
        self.advised = 0  # batches advised (what the tests look at)
        self._since_probe = 0
        self._waiting: deque[Batch] = deque()
        self._pool: ThreadPoolExecutor | None = None

    def _advise(self, batch: Batch) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="vl-readahead")
        self._pool.submit(advise, [p for _n, p in batch.files])
        self.advised += 1

    def queued(self, batch: Batch) -> None:
        """``batch`` goes to a worker thread: advised first when the files are cold, but for every ``PROBE``-th;
        a batch not advised is a probe, whose time the worker reports (``timed``)."""
        if self.cold:
            self._since_probe += 1
            if self._since_probe < PROBE:
                self._advise(batch)
                return
            self._since_probe = 0
        batch.probe = True

    def timed(self, batch: Batch, wall: float, cpu: float) -> None:
        """A worker read ``batch`` in ``wall`` seconds, ``cpu`` of them its own: a probe's time says whether the
        files are cold (called from the worker; the walking thread sees the answer at its next batch)."""
        if batch.probe:
            self.cold = wall > SLOW_QUEUED * cpu + SLACK

    def inline(self, batch: Batch) -> None:
        """``batch`` is read by the walking thread: now, or (cold) after its advice has had ``DEPTH`` batches'
        time; its ``future`` is set once read."""
        batch.future = Future()
        if self.cold:
            self._since_probe += 1
            if self._since_probe >= PROBE:
                self._since_probe = 0
                batch.probe = True
            else:
                self._advise(batch)
            self._waiting.append(batch)
            while len(self._waiting) > DEPTH:
                self._run(self._waiting.popleft())
        else:
            self.finish()  # the batches advised before the files turned out in memory come first
            batch.probe = True
            self._run(batch)

    def finish(self, batch: Batch | None = None) -> None:
        """Read the waiting batches: all of them, or those up to and including ``batch``."""
        while self._waiting and (batch is None or not (batch.future and batch.future.done())):
            self._run(self._waiting.popleft())

    def _run(self, batch: Batch) -> None:
        assert batch.future is not None
        wall, cpu = time.monotonic(), time.thread_time()
        errors = self._read(batch.files)
        wall, cpu = time.monotonic() - wall, time.thread_time() - cpu
        if batch.probe:  # only a batch read without advice tells where its files were
            cold = wall > SLOW * cpu + SLACK
            if cold and not self.cold:
                self._since_probe = 0
            self.cold = cold
        batch.future.set_result(errors)

    def close(self) -> None:
        self._waiting.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
