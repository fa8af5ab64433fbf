"""Restore a snapshot into a target directory.

Safety: every path is validated before anything is written: relative, no
empty/``.``/``..`` segment, no NUL, never below a symlink of the snapshot; and
every directory on the way is checked with ``lstat`` (a pre-existing symlink in
the target is refused), files are opened with ``O_NOFOLLOW``, symlinks are
created last. Anything else raises ``UnsafePath`` before a byte is written.

Data: chunks are grouped by pack into coalesced ranges read in parallel; every
chunk is verified (GCM tag, recomputed id) and written with ``pwrite`` to each
file offset that uses it. Then modes and mtimes (directories deepest first).
A damaged chunk does not stop the restore: the other files are restored, then
``CorruptData`` names every affected file.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from vaultlink.data.backup import Progress
from vaultlink.data.formats import Manifest, Node, decode_chunk
from vaultlink.data.repository import Repository
from vaultlink.errors import Conflict, CorruptData, NotFound, UnsafePath, VaultlinkError

GAP = 256 * 1024
SPAN = 16 * 1024 * 1024


@dataclass
class RestoreStats:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0
    duration: float = 0.0
    damaged: list[str] = field(default_factory=list)


def check_relpath(path: str) -> list[str]:
    """Segments of a safe relative path, or ``UnsafePath``."""
    if not path or "\0" in path or path.startswith("/"):
        raise UnsafePath(f"refusing path {path!r}: it must be relative and non-empty")
    parts = path.split("/")
    for p in parts:
        if p in ("", ".", ".."):
            raise UnsafePath(f"refusing path {path!r}: it contains {p!r} (would escape the target)")
    return parts


def select(nodes: Sequence[Node], include: str | Sequence[str] | None) -> list[Node]:
    """Nodes matching any pattern (fnmatch on the path; a directory brings its subtree) and their parents."""
    if include is None:
        return list(nodes)
    pats = [include] if isinstance(include, str) else list(include)
    hit = {n.path for n in nodes if any(fnmatch.fnmatchcase(n.path, p) for p in pats)}
    keep: set[str] = set()
    for n in nodes:
        parts = n.path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(p in hit for p in prefixes):
            keep.update(prefixes)
    return [n for n in nodes if n.path in keep]


def validate(nodes: Sequence[Node]) -> None:
    """Refuse unsafe or ambiguous paths (before anything is written)."""
    seen: set[str] = set()
    links = {n.path for n in nodes if n.type == "symlink"}
    for n in nodes:
        parts = check_relpath(n.path)
        if n.path in seen:
            raise UnsafePath(f"refusing path {n.path!r}: it appears twice in the snapshot")
        seen.add(n.path)
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in links:
                raise UnsafePath(f"refusing path {n.path!r}: it lies below a symlink of the snapshot")


class _Target:
    """Creates directories under ``root`` checking each step with lstat (no symlink is ever followed)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.ok: set[str] = {""}

    def full(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def ensure_dir(self, rel: str, create: bool = True) -> str:
        parts = rel.split("/") if rel else []
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub in self.ok:
                continue
            path = self.full(sub)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                os.mkdir(path, 0o700)
                st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafePath(
                    f"refusing to restore into {path!r}: it exists and is not a directory (or is a symlink)"
                )
            self.ok.add(sub)
        return self.full(rel)

    def parent(self, rel: str) -> str:
        self.ensure_dir(rel.rpartition("/")[0])
        return self.full(rel)


def _open_nofollow(path: str, flags: int) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(f"refusing to write through the symlink {path!r}") from None
        if e.errno == errno.EISDIR:
            raise Conflict(
                f"cannot restore file {path!r}: a directory is in the way; restore elsewhere"
            ) from None
        raise


def restore(
    manifest: Manifest,
    repo: Repository,
    target: str | os.PathLike[str],
    include: str | Sequence[str] | None = None,
    progress: Callable[[Progress], None] | None = None,
    *,
    workers: int | None = None,
) -> RestoreStats:
    """Restore ``manifest`` (or the ``include`` subset) under ``target``; see the module docstring."""
    t0 = time.monotonic()
    nodes = select(manifest.nodes, include)
    validate(nodes)
    os.makedirs(target, exist_ok=True)
    tgt = _Target(os.path.realpath(target))
    files = [n for n in nodes if n.type == "file"]
    dests: dict[bytes, list[tuple[str, int]]] = defaultdict(list)
    stats = RestoreStats()
    for n in nodes:
        if n.type == "dir":
            tgt.ensure_dir(n.path)
    for n in files:
        path = tgt.parent(n.path)
        fd = _open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            os.ftruncate(fd, n.size)
        finally:
            os.close(fd)
        off = 0
        for cid, size in zip(n.chunks, n.sizes, strict=True):
            dests[cid].append((path, off))
            off += size
    # plan: per pack, coalesced spans of chunk ranges
    by_pack: dict[str, list[tuple[int, int, bytes]]] = defaultdict(list)
    damaged: set[bytes] = set()
    for cid in dests:
        loc = repo.index.lookup(cid)
        if loc is None:
            damaged.add(cid)
        else:
            by_pack[loc.pack].append((loc.offset, loc.length, cid))
    spans: list[tuple[str, int, int, list[tuple[int, int, bytes]]]] = []
    for pack, items in by_pack.items():
        items.sort()
        cur: list[tuple[int, int, bytes]] = []
        for it in items:
            if cur and (it[0] - (cur[-1][0] + cur[-1][1]) > GAP or it[0] + it[1] - cur[0][0] > SPAN):
                spans.append((pack, cur[0][0], cur[-1][0] + cur[-1][1] - cur[0][0], cur))
                cur = []
            cur.append(it)
        if cur:
            spans.append((pack, cur[0][0], cur[-1][0] + cur[-1][1] - cur[0][0], cur))
    spans.sort(key=lambda s: (s[0], s[1]))
    lock = threading.Lock()
    prog = Progress(files_total=len(files), bytes_total=sum(n.size for n in files), files_done=0)

    def fetch(span: tuple[str, int, int, list[tuple[int, int, bytes]]]) -> None:
        pack, start, length, items = span
        try:
            data = memoryview(repo.store.get_range(pack, start, length))
        except NotFound:
            with lock:
                damaged.update(c for _, _, c in items)
            return
        for off, ln, cid in items:
            try:
                plain = decode_chunk(repo.keys, cid, data[off - start : off - start + ln], f"chunk in {pack}")
            except VaultlinkError:
                with lock:
                    damaged.add(cid)
                continue
            for path, foff in dests[cid]:
                fd = _open_nofollow(path, os.O_WRONLY)
                try:
                    os.pwrite(fd, plain, foff)
                finally:
                    os.close(fd)
            with lock:
                prog.bytes_done += len(plain) * len(dests[cid])

    nworkers = workers or max(4, 2 * (os.cpu_count() or 2))
    last = 0.0
    with ThreadPoolExecutor(nworkers, thread_name_prefix="vl-restore") as pool:
        for _ in pool.map(fetch, spans):
            if progress and time.monotonic() - last > 0.2:
                last = time.monotonic()
                prog.elapsed = last - t0
                progress(prog)
    for n in files:
        path = tgt.full(n.path)
        fd = _open_nofollow(path, os.O_RDONLY)
        try:
            if os.geteuid() == 0:
                os.fchown(fd, n.uid, n.gid)
            os.fchmod(fd, n.mode)
        finally:
            os.close(fd)
        os.utime(path, ns=(n.mtime_ns, n.mtime_ns), follow_symlinks=False)
        stats.files += 1
        stats.bytes += n.size
    for n in nodes:
        if n.type == "symlink":
            path = tgt.parent(n.path)
            if os.path.lexists(path):
                if os.path.isdir(path) and not os.path.islink(path):
                    raise Conflict(f"cannot restore symlink {path!r}: a directory is in the way")
                os.unlink(path)
            os.symlink(n.target or "", path)
            if os.geteuid() == 0:
                os.chown(path, n.uid, n.gid, follow_symlinks=False)
            os.utime(path, ns=(n.mtime_ns, n.mtime_ns), follow_symlinks=False)
            stats.symlinks += 1
    for n in sorted((n for n in nodes if n.type == "dir"), key=lambda n: n.path.count("/"), reverse=True):
        path = tgt.full(n.path)
        if os.geteuid() == 0:
            os.chown(path, n.uid, n.gid, follow_symlinks=False)
        os.chmod(path, n.mode)
        os.utime(path, ns=(n.mtime_ns, n.mtime_ns), follow_symlinks=False)
        stats.dirs += 1
    stats.duration = time.monotonic() - t0
    if progress:
        prog.elapsed, prog.files_done = stats.duration, len(files)
        progress(prog)
    if damaged:
        stats.damaged = sorted(n.path for n in files if damaged.intersection(n.chunks))
        raise CorruptData(
            f"{len(stats.damaged)} file(s) could not be restored intact: {', '.join(stats.damaged[:20])}"
            + (" …" if len(stats.damaged) > 20 else "")
            + "; run `vaultlink agent check --read-data`",
            files=stats.damaged,
        )
    return stats
