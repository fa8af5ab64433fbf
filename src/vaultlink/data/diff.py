"""What changed between two snapshots (``vaultlink agent diff``), from their nodes streamed side by side.

Both snapshots come in path order (as a backup writes them), so one pass over each, a node of each at a
time, pairs the paths: a snapshot of a million files is compared in bounded memory. A file changed when its
content did (its chunk list: content-defined chunks name the content), not its time alone; with ``metadata``
a change of mode, owner or time alone is named too (``U``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from vaultlink.data.manifest import Node
from vaultlink.data.restore_plan import Unsorted

ADDED, REMOVED, MODIFIED, TYPE, METADATA = "+", "-", "M", "T", "U"


@dataclass(frozen=True)
class Change:
    """One path that differs: ``kind`` is ``+`` (only in the newer), ``-`` (only in the older), ``M`` (its
    content or a symlink's target), ``T`` (its type) or ``U`` (mode, owner or time only)."""

    kind: str
    old: Node | None
    new: Node | None

    @property
    def node(self) -> Node:
        return self.new or self.old  # type: ignore[return-value]


@dataclass
class DiffStats:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((ADDED, REMOVED, MODIFIED, TYPE, METADATA), 0))
    bytes_added: int = 0  # the newer's bytes in files added or changed
    bytes_removed: int = 0  # the older's bytes in files removed or changed

    def count(self, c: Change) -> Change:
        self.counts[c.kind] += 1
        if c.kind != METADATA:
            self.bytes_added += c.new.size if c.new is not None and c.new.type == "file" else 0
            self.bytes_removed += c.old.size if c.old is not None and c.old.type == "file" else 0
        return c

    def to_dict(self) -> dict[str, int]:
        return {"added": self.counts[ADDED], "removed": self.counts[REMOVED], "modified": self.counts[MODIFIED],
                "type_changed": self.counts[TYPE], "metadata_changed": self.counts[METADATA],
                "bytes_added": self.bytes_added, "bytes_removed": self.bytes_removed}


def _ordered(nodes: Iterable[Node]) -> Iterator[Node]:
    last = None
    for n in nodes:
        if last is not None and n.path <= last:
            raise Unsorted(n.path)
        last = n.path
        yield n


def compare(old: Node, new: Node, metadata: bool = False) -> str | None:
    """How ``new`` differs from ``old`` at the same path, if it does."""
    if old.type != new.type:
        return TYPE
    if (old.type == "file" and (old.chunks != new.chunks or old.size != new.size)) or (
            old.type == "symlink" and old.target != new.target):
        return MODIFIED
    if metadata and (old.mode, old.uid, old.gid, old.mtime_ns) != (new.mode, new.uid, new.gid, new.mtime_ns):
        return METADATA
    return None


def diff_nodes(old: Iterable[Node], new: Iterable[Node], metadata: bool = False,
               stats: DiffStats | None = None) -> Iterator[Change]:
    """The changes from ``old`` to ``new``, in path order, each counted in ``stats``. ``Unsorted`` when either
    is not in strictly increasing path order (hold and sort them, then call again)."""
    stats = stats if stats is not None else DiffStats()
    a, b = _ordered(old), _ordered(new)
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x.path < y.path):
            yield stats.count(Change(REMOVED, x, None))
            x = next(a, None)
        elif x is None or y.path < x.path:
            yield stats.count(Change(ADDED, None, y))
            y = next(b, None)
        else:
            kind = compare(x, y, metadata)
            if kind is not None:
                yield stats.count(Change(kind, x, y))
            x, y = next(a, None), next(b, None)
