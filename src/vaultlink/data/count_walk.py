"""What a backup leaves out (``Skip``), the count of its trees (``count.TreeCount``), and the program of the
child process that counts: ``python -I -S count_walk.py [--exclude P]... [--one-file-system] -- ROOT...`` writes
each running total on a line. It imports ``os``, ``stat``, ``sys`` and ``fnmatch`` only: the child starts in
milliseconds and holds about 8.5 MiB. ``Skip`` lives here so that the walk (``tree.iter_tree``) and the count
(a child that cannot import the package) leave out the same paths."""

from __future__ import annotations

import fnmatch
import os
import stat
import sys

TYPE_CHECKING = False  # not ``typing``'s: the child imports nothing it does not need
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

EVERY = 4096  # entries between two running totals
# kernel file systems a backup never descends into below its roots: their files are the running system's state
# (``/proc/kcore`` alone claims 128 TiB), not data; a root given on one of them is read as asked
PSEUDO_FS = frozenset({"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs",
                       "securityfs", "pstore", "bpf", "mqueue", "hugetlbfs", "configfs", "fusectl", "binfmt_misc",
                       "autofs", "efivarfs", "nsfs", "rpc_pipefs", "selinuxfs"})


def pseudo_devices(mountinfo: str = "/proc/self/mountinfo") -> frozenset[int]:
    """The device numbers of the kernel file systems mounted here (``PSEUDO_FS``); none if unknown."""
    devs = set()
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as f:
            for line in f:  # "36 35 0:22 / /proc rw,nosuid - proc proc rw"
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) > 2 and right.split(" ", 1)[0] in PSEUDO_FS:
                    major, _, minor = fields[2].partition(":")
                    devs.add(os.makedev(int(major), int(minor)))
    except (OSError, ValueError):
        pass
    return frozenset(devs)


class Skip:
    """What a backup leaves out below its roots (never a root itself: it was asked for). ``patterns``
    (``fnmatch``, ``*`` crosses ``/``): one that starts with ``/`` matches a whole absolute path, any other the
    end of one at a ``/`` (``*.tmp``, ``node_modules``, ``.cache/pip``); an excluded directory takes its subtree.
    A directory on another file system than its root's is kept without its contents when it is a kernel file
    system (``PSEUDO_FS``), or any other with ``one_file_system``."""

    def __init__(self, patterns: Sequence[str] = (), one_file_system: bool = False,
                 pseudo: frozenset[int] | None = None) -> None:
        self.given = [p for p in patterns if p.rstrip("/")]
        self.patterns = [p if p.startswith("/") else "*/" + p for p in (q.rstrip("/") for q in self.given)]
        self.one_file_system = one_file_system
        self.pseudo = pseudo_devices() if pseudo is None else pseudo

    def excluded(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, p) for p in self.patterns)

    def descend(self, dev: int, root_dev: int) -> bool:
        """Walk into a directory on device ``dev`` below a root on ``root_dev``?"""
        return dev == root_dev or not (self.one_file_system or dev in self.pseudo)

    def argv(self) -> list[str]:
        """The child's options for the same rules."""
        out = [a for p in self.given for a in ("--exclude", p)]
        return [*out, "--one-file-system"] if self.one_file_system else out


def count_tree(paths: Sequence[str], stop: Callable[[], bool] | None = None,
               skip: Skip | None = None) -> Iterator[tuple[int, int]]:
    """Running totals ``(files, bytes)`` of the regular files at and below ``paths`` that ``skip`` keeps
    (symlinks are not followed, nor counted), every ``EVERY`` entries and at the end; stops early once
    ``stop()`` is true."""
    skip = skip or Skip()
    files = size = seen = 0
    dirs: list[tuple[str, int]] = []  # (path, its root's device)
    for src in paths:
        try:
            st = os.lstat(src)
        except OSError:
            continue  # the walk reports it
        if stat.S_ISDIR(st.st_mode):
            dirs.append((src, st.st_dev))
        elif stat.S_ISREG(st.st_mode):
            files, size = files + 1, size + st.st_size
    while dirs and not (stop is not None and stop()):
        path, root_dev = dirs.pop()
        try:
            with os.scandir(path) as it:
                for ent in it:
                    try:
                        if skip.patterns and skip.excluded(ent.path):
                            pass
                        elif ent.is_dir(follow_symlinks=False):
                            if skip.descend(ent.stat(follow_symlinks=False).st_dev, root_dev):
                                dirs.append((ent.path, root_dev))
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


def _main(argv: list[str]) -> int:
    patterns, one_fs = [], False
    while argv and argv[0] != "--":
        opt = argv.pop(0)
        if opt == "--exclude" and argv:
            patterns.append(argv.pop(0))
        elif opt == "--one-file-system":
            one_fs = True
    roots = argv[1:]
    try:
        for files, size in count_tree(roots, skip=Skip(patterns, one_fs)):
            sys.stdout.write(f"{files} {size}\n")
            sys.stdout.flush()
    except (BrokenPipeError, KeyboardInterrupt):  # the backup ended first
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
