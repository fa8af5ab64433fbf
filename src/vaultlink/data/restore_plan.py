"""What a restore will write, known before it writes anything, from one read of the snapshot's nodes.

``survey`` reads the nodes (in path order, as a backup writes them) once: it refuses an unsafe or ambiguous
path (absolute, ``.``/``..``/empty segments, NUL, twice in the snapshot, below a symlink of the snapshot),
counts the files and bytes, and keeps the directories and symlinks (written around the files) and, with
a ``Pick`` (``include`` patterns, ``exclude`` patterns), which directories the selection needs. ``selected``
then reads the nodes again and gives the ones to restore. Neither holds a node per file: a snapshot of a
million files is read, never held.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from vaultlink.data.count_walk import Skip
from vaultlink.data.manifest import Node
from vaultlink.data.restore_files import PARTIAL
from vaultlink.data.tree import check_patterns
from vaultlink.errors import NotFound, UnsafePath


def check_relpath(path: str) -> list[str]:
    """Segments of a safe relative path, or ``UnsafePath``."""
    if not path or "\0" in path or path.startswith("/"):
        raise UnsafePath(f"refusing path {path!r}: it must be relative and non-empty")
    parts = path.split("/")
    for p in parts:
        if p in ("", ".", ".."):
            raise UnsafePath(f"refusing path {path!r}: it contains {p!r} (would escape the target)")
    return parts


@dataclass(frozen=True)
class Pick:
    """What a restore (or ``agent ls``) takes from a point: the paths ``include`` selects (``fnmatch`` on the
    whole relative path, ``*`` crossing ``/``; every path when None), less those ``exclude`` matches (the rules
    of ``agent backup --exclude``: ``/src/build`` is that path, ``*.tmp`` or ``node_modules`` the end of any);
    a directory brings, or takes away, its subtree."""

    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, given: Pick | str | Sequence[str] | None) -> Pick:
        """A pick from what a caller gives: a ``Pick``, include patterns (one or a list), or None (everything);
        an empty list is everything too."""
        if isinstance(given, Pick):
            return given
        return cls(include=(given,) if isinstance(given, str) else tuple(given) if given else None)

    @classmethod
    def checked(cls, include: object, exclude: object) -> Pick:
        """A pick from patterns as a user or a work item gives them, each list checked (``InvalidInput`` naming
        ``include`` or ``exclude``); an absent or empty list is no restriction."""
        return cls(include=tuple(check_patterns(include, "include")) if include else None,
                   exclude=tuple(check_patterns(exclude, "exclude")) if exclude else ())

    def text(self) -> str:
        """What was asked for, in the words of the options, for a message."""
        inc = " ".join(f"--include {p!r}" for p in self.include or ())
        exc = " ".join(f"--exclude {p!r}" for p in self.exclude)
        if not inc:
            return f"is left by {exc}"
        return f"matches {inc}" + (f" and is not left out by {exc}" if exc else "")


class Unsorted(Exception):
    """The nodes are not in path order (a snapshot no backup of ours wrote): hold and sort them."""


@dataclass
class Survey:
    files: int = 0
    bytes: int = 0
    dirs: list[Node] = field(default_factory=list)
    links: list[Node] = field(default_factory=list)
    partial_named: set[str] = field(default_factory=set)  # paths that end like a temporary name of ours
    patterns: list[str] | None = None
    skip: Skip | None = None  # with exclude patterns
    dropped: set[str] = field(default_factory=set)  # directories excluded, with their subtrees
    keep_dirs: set[str] = field(default_factory=set)  # with patterns: directories the selection needs
    under: set[str] = field(default_factory=set)  # with patterns: directories whose whole subtree is selected
    sample: list[str] = field(default_factory=list)  # the first few paths of the snapshot, for an error to show

    def check_selected(self, pick: Pick) -> None:
        """``NotFound`` (field ``include``, or ``exclude`` when that took everything) when patterns leave
        nothing: a restore that would write nothing is a mistyped pattern far more often than a wish; the message
        shows what paths look like."""
        if (self.patterns is None and self.skip is None) or self.files or self.links or (
                self.keep_dirs if self.patterns is not None else self.dirs):
            return
        shown = ", ".join(repr(p) for p in self.sample) or "none: the recovery point is empty"
        raise NotFound(f"no path of the recovery point {pick.text()}; patterns match paths relative to "
                       f"the point (fnmatch: '*' crosses '/'), such as {shown}; `vaultlink agent ls RECOVERY_POINT` "
                       "lists them.", field="include" if self.patterns is not None else "exclude")

    def _left_out(self, path: str) -> bool:
        """Matched by an exclude pattern, or below a directory that was (``dropped``)."""
        return self.skip is not None and (path.rpartition("/")[0] in self.dropped
                                          or self.skip.excluded("/" + path))

    def excluded(self, n: Node) -> bool:
        """Left out by the exclude patterns (a directory's subtree goes with it); notes the directories."""
        if not self._left_out(n.path):
            return False
        if n.type == "dir":
            self.dropped.add(n.path)
        return True

    def wanted(self, n: Node) -> bool:
        if self.skip is not None and self._left_out(n.path):
            return False
        if self.patterns is None:
            return True
        if n.type == "dir":
            return n.path in self.keep_dirs
        parent = n.path.rpartition("/")[0]
        return parent in self.under or any(fnmatch.fnmatchcase(n.path, p) for p in self.patterns)


def survey(nodes: Iterable[Node], given: Pick | str | Sequence[str] | None) -> Survey:
    """One read of ``nodes``: checks, counts and the selection (``Pick``; include patterns alone may be given;
    a selected node brings its parent directories). ``Unsorted`` if the nodes are not in strictly increasing
    path order; ``NotFound`` if patterns leave nothing."""
    pick = Pick.of(given)
    s = Survey(patterns=None if pick.include is None else list(pick.include),
               skip=Skip(pick.exclude, pseudo=frozenset()) if pick.exclude else None)
    links: set[str] = set()
    last = ""
    for n in nodes:
        parts = check_relpath(n.path)
        if n.path <= last:
            if n.path == last:
                raise UnsafePath(f"refusing path {n.path!r}: it appears twice in the snapshot")
            raise Unsorted(n.path)
        last = n.path
        if len(s.sample) < 3:
            s.sample.append(n.path)
        if links:
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) in links:
                    raise UnsafePath(f"refusing path {n.path!r}: it lies below a symlink of the snapshot")
        if n.type == "symlink":
            links.add(n.path)
        if s.skip is not None and s.excluded(n):  # no call per node when nothing is excluded
            continue
        if s.patterns is not None:
            if n.type == "dir":
                s.dirs.append(n)  # kept if something under it is selected (it comes first: decided at the end)
            parent = n.path.rpartition("/")[0]
            if not (parent in s.under or any(fnmatch.fnmatchcase(n.path, p) for p in s.patterns)):
                continue
            if n.type == "dir":
                s.under.add(n.path)
                s.keep_dirs.add(n.path)
            s.keep_dirs.update("/".join(parts[: i + 1]) for i in range(len(parts) - 1))
        if PARTIAL in n.path:
            s.partial_named.add(n.path)
        if n.type == "file":
            s.files += 1
            s.bytes += n.size
        elif n.type == "dir" and s.patterns is None:
            s.dirs.append(n)
        elif n.type == "symlink":
            s.links.append(n)
    if s.patterns is not None:
        s.dirs = [d for d in s.dirs if d.path in s.keep_dirs]
    s.check_selected(pick)
    return s


def selected(nodes: Iterable[Node], s: Survey) -> Iterator[Node]:
    """The files ``survey`` chose, read again."""
    for n in nodes:
        if n.type == "file" and s.wanted(n):
            yield n
