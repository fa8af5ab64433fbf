"""A backup's progress totals, counted ahead of its walk by a process of its own.

A first backup does not know how much it will read; a second walk of its trees gives the totals (regular
files and their bytes) long before the reading is done. That walk ``lstat``s every file. In a thread of the
backup's own process each of those calls passed the interpreter lock back and forth with the thread reading
files (100k files of 1-8 KiB: 0.5-0.8 s more, 7-11 %, and 1.3 CPU-seconds); in a child process it runs on
another core and costs the backup one pipe line per ``EVERY`` entries.

This file is also the child's program (``python -I -S count.py ROOT...``, each running total on a line): it
imports the standard library only, so the child starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

EVERY = 4096  # entries between two running totals


class _Stop(Protocol):
    def is_set(self) -> bool: ...


def count_tree(paths: Sequence[str], stop: _Stop | None = None) -> Iterator[tuple[int, int]]:
    """Running totals ``(files, bytes)`` of the regular files at and below ``paths`` (symlinks are not
    followed, nor counted), every ``EVERY`` entries and at the end; stops early once ``stop`` is set."""
    files = size = seen = 0
    dirs: list[str] = []
    for src in paths:
        try:
            st = os.lstat(src)
        except OSError:
            continue  # the walk reports it
        if stat.S_ISDIR(st.st_mode):
            dirs.append(src)
        elif stat.S_ISREG(st.st_mode):
            files, size = files + 1, size + st.st_size
    while dirs and not (stop is not None and stop.is_set()):
        try:
            with os.scandir(dirs.pop()) as it:
                for ent in it:
                    try:
                        if ent.is_dir(follow_symlinks=False):
                            dirs.append(ent.path)
                        elif ent.is_file(follow_symlinks=False):
                            files, size = files + 1, size + ent.stat(follow_symlinks=False).st_size
                    except OSError:
                        pass
                    seen += 1
                    if seen % EVERY == 0:
                        yield files, size
        except OSError:
            pass
    yield files, size


class TreeCount:
    """The totals of ``roots`` as a child process counts them: ``totals`` grows until the count ends
    (``finished``). A child that cannot start leaves ``totals`` at zero: the walk's own running totals show.
    ``close`` ends the child (killed if still counting) and reaps it."""

    def __init__(self, roots: Sequence[str]) -> None:
        self.totals = (0, 0)
        self.finished = False
        self._reader: threading.Thread | None = None
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-I", "-S", __file__, *roots], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
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


def _main(roots: list[str]) -> int:
    try:
        for files, size in count_tree(roots):
            sys.stdout.write(f"{files} {size}\n")
            sys.stdout.flush()
    except (BrokenPipeError, KeyboardInterrupt):  # the backup ended first
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
