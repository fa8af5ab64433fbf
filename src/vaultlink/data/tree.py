"""The trees a backup reads, walked in path order a directory at a time (counted ahead for progress: ``count``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Sequence

from vaultlink.data.count_walk import Skip
from vaultlink.data.manifest import Node
from vaultlink.errors import InvalidInput, NotFound

MAX_PATTERNS, MAX_PATTERN = 1000, 4096


def check_patterns(patterns: object, field: str = "exclude") -> list[str]:
    """Path patterns as given (exclude: ``count_walk.Skip``; include: ``restore_plan``), or ``InvalidInput``: at
    most 1,000 strings of 1-4,096 characters without NUL, each more than ``/``."""
    if not isinstance(patterns, list | tuple) or len(patterns) > MAX_PATTERNS or not all(
            isinstance(p, str) and 0 < len(p) <= MAX_PATTERN and "\0" not in p and p.strip("/") for p in patterns):
        what = field.rsplit(".", 1)[-1].removesuffix("_file")
        raise InvalidInput(f"{what} patterns are a list of at most {MAX_PATTERNS} strings of 1-{MAX_PATTERN} "
                           "characters other than '/' (such as '*.tmp', 'node_modules', '/home/*/.cache').",
                           field=field)
    return list(patterns)


def _root_name(path: str) -> str:
    name = os.path.basename(os.path.normpath(path))
    return name if name not in ("", ".", "..", "/") else "root"


def _node(path: str, st: os.stat_result) -> Node | None:
    m = st.st_mode
    typ = "dir" if stat.S_ISDIR(m) else "file" if stat.S_ISREG(m) else "symlink" if stat.S_ISLNK(m) else None
    if typ is None:
        return None
    return Node(
        path,
        typ,
        stat.S_IMODE(m),
        st.st_mtime_ns,
        st.st_size if typ == "file" else 0,
        inode=st.st_ino,
        uid=st.st_uid,
        gid=st.st_gid,
    )


def _roots(paths: Sequence[str | os.PathLike[str]]) -> list[tuple[str, str, os.stat_result]]:
    out: list[tuple[str, str, os.stat_result]] = []
    for raw in paths:
        src = os.path.abspath(os.fspath(raw))
        root = _root_name(src)
        if any(r == root for r, _, _ in out):
            raise InvalidInput(
                f"two backup paths are both named {root!r}; back them up separately", field="paths"
            )
        try:
            out.append((root, src, os.lstat(src)))
        except FileNotFoundError:
            raise NotFound(f"backup path {src} does not exist") from None
    return out


# one entry of a directory being walked: (sort key, the entry's subtree?, path, source path, stat)
_Entry = tuple[str, bool, str, str, os.stat_result]


def _level(prefix: str, entries: list[tuple[str, str, os.stat_result]]) -> list[_Entry]:
    """A directory's entries in the order a sort of every path gives, last first (for ``pop``): a directory
    ``a`` is its own entry ``a`` and its subtree ``a/`` (its paths all sort as ``a/``: after ``a.b``)."""
    out: list[_Entry] = []
    for name, full, st in entries:
        rel = f"{prefix}{name}"
        out.append((name, False, rel, full, st))
        if stat.S_ISDIR(st.st_mode):
            out.append((name + "/", True, rel, full, st))
    out.sort(key=lambda e: e[0], reverse=True)
    return out


class Unreadable:
    """What a backup could not read: how many paths, and the first ``KEEP`` of them with the reason (a tree of a
    million unreadable files is never held, nor sent)."""

    KEEP = 100

    def __init__(self) -> None:
        self.first: list[tuple[str, str]] = []
        self.count = 0

    def append(self, item: tuple[str, str]) -> None:
        self.count += 1
        if len(self.first) < self.KEEP:
            self.first.append(item)

    def extend(self, items: Iterable[tuple[str, str]]) -> None:
        for item in items:
            self.append(item)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.first)

    def __len__(self) -> int:
        return self.count


def iter_tree(paths: Sequence[str | os.PathLike[str]], errors: Unreadable,
              skip: Skip | None = None) -> Iterator[tuple[Node, str]]:
    """``(node, source path)`` for every root and everything below that ``skip`` keeps, in path order (the order
    a sort of all paths gives), one directory listed at a time: a million files are never held at once."""
    skip = skip or Skip()
    stack: list[tuple[list[_Entry], int | None]] = [(_level("", _roots(paths)), None)]  # (level, root's device)
    while stack:
        level, root_dev = stack[-1]
        if not level:
            stack.pop()
            continue
        _key, subtree, rel, full, st = level.pop()
        if subtree:
            dev = st.st_dev if root_dev is None else root_dev  # a root's subtree: its own device
            if not skip.descend(st.st_dev, dev):
                continue  # another file system's mount point: kept, empty
            children: list[tuple[str, str, os.stat_result]] = []
            try:
                with os.scandir(full) as it:
                    for ent in it:
                        if skip.patterns and skip.excluded(ent.path):
                            continue
                        try:
                            children.append((ent.name, ent.path, ent.stat(follow_symlinks=False)))
                        except OSError as e:
                            errors.append((ent.path, str(e)))
            except OSError as e:
                errors.append((full, str(e)))
            stack.append((_level(rel + "/", children), dev))
            continue
        node = _node(rel, st)
        if node is None:
            continue
        if node.type == "symlink":
            try:
                node.target = os.readlink(full)
            except OSError as e:
                errors.append((full, str(e)))
                continue
        yield node, full
