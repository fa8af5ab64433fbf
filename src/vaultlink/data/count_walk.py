"""The count of a backup's trees (``count.TreeCount``), and the program of the child process that counts:
``python -I -S count_walk.py ROOT...`` writes each running total on a line. It imports ``os``, ``stat`` and
``sys`` only: the child starts in milliseconds and holds about 8.5 MiB."""

from __future__ import annotations

import os
import stat
import sys

TYPE_CHECKING = False  # not ``typing``'s: the child imports nothing it does not need
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

EVERY = 4096  # entries between two running totals


def count_tree(paths: Sequence[str], stop: Callable[[], bool] | None = None) -> Iterator[tuple[int, int]]:
    """Running totals ``(files, bytes)`` of the regular files at and below ``paths`` (symlinks are not
    followed, nor counted), every ``EVERY`` entries and at the end; stops early once ``stop()`` is true."""
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
    while dirs and not (stop is not None and stop()):
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
