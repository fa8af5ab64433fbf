"""Back up directory trees into a Repository.

1. Walk the roots (``lstat``, no following of symlinks) into a sorted list of nodes.
2. A file whose size, mtime_ns, inode and mode equal the previous snapshot's
   reuses its chunk list without being read (if all its chunks are still indexed).
3. Other files are chunked; chunks are hashed, deduplicated, compressed, sealed
   and packed by a thread pool sized to the CPU count (BLAKE3, zstd, AES-GCM and
   file reads release the GIL). Small files are read by the workers in batches
   (a batch of tiny files holds the workers one at a time: their calls are too short
   to release the GIL usefully); large files are cut by the caller's thread and their
   chunks fanned out.
4. ``repo.flush()`` uploads the last pack and an index file; the manifest is
   written LAST: a crash before it leaves no snapshot, and the packs already
   uploaded are found (and reused) by the next run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from vaultlink.data.manifest import Manifest, Node
from vaultlink.data.repository import Repository
from vaultlink.errors import InvalidInput, NotFound

SMALL_FILE = 8 * 1024 * 1024
BATCH_FILES = 128  # small files per task
BATCH_BYTES = 4 * 1024 * 1024  # or fewer, once they hold this much
TINY_FILE = 64 * 1024  # a batch of files averaging under this size is processed one batch at a time


@dataclass
class Progress:
    """Passed to the progress callback (from the calling thread, at most every ``interval`` s)."""

    files_total: int
    bytes_total: int
    files_done: int = 0
    bytes_done: int = 0
    bytes_new: int = 0
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return self.bytes_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        r = self.rate
        return (self.bytes_total - self.bytes_done) / r if r > 0 else None


@dataclass
class BackupStats:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    files_unchanged: int = 0
    bytes_total: int = 0
    bytes_read: int = 0
    bytes_new: int = 0
    stored_bytes: int = 0
    packs: int = 0
    duration: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def dedup_ratio(self) -> float:
        """Logical bytes per new (pre-compression) byte; 0.0 when nothing was new."""
        return self.bytes_total / self.bytes_new if self.bytes_new else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dedup_ratio"] = round(self.dedup_ratio, 3)
        d["errors"] = [{"path": p, "error": e} for p, e in self.errors]
        return d


@dataclass
class BackupResult:
    manifest: Manifest
    name: str
    stats: BackupStats


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


def walk(paths: Sequence[str | os.PathLike[str]], errors: list[tuple[str, str]]) -> list[tuple[Node, str]]:
    """``(node, source path)`` for every root and everything below, sorted by node path."""
    out: list[tuple[Node, str]] = []
    seen: set[str] = set()
    for raw in paths:
        src = os.path.abspath(os.fspath(raw))
        root = _root_name(src)
        if root in seen:
            raise InvalidInput(
                f"two backup paths are both named {root!r}; back them up separately", field="paths"
            )
        seen.add(root)
        try:
            st = os.lstat(src)
        except FileNotFoundError:
            raise NotFound(f"backup path {src} does not exist") from None
        stack = [(root, src, st)]
        while stack:
            rel, full, st = stack.pop()
            node = _node(rel, st)
            if node is None:
                continue
            if node.type == "symlink":
                try:
                    node.target = os.readlink(full)
                except OSError as e:
                    errors.append((full, str(e)))
                    continue
            out.append((node, full))
            if node.type == "dir":
                try:
                    with os.scandir(full) as it:
                        for ent in it:
                            try:
                                stack.append((f"{rel}/{ent.name}", ent.path, ent.stat(follow_symlinks=False)))
                            except OSError as e:
                                errors.append((ent.path, str(e)))
                except OSError as e:
                    errors.append((full, str(e)))
    out.sort(key=lambda t: t[0].path)
    return out


def _unchanged(node: Node, prev: Node | None) -> bool:
    return (
        prev is not None
        and prev.type == "file"
        and prev.size == node.size
        and prev.mtime_ns == node.mtime_ns
        and prev.inode == node.inode
        and prev.mode == node.mode
    )


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.read = 0
        self.new = 0
        self.stored = 0
        self.files_done = 0


def backup(
    paths: Sequence[str | os.PathLike[str]],
    repo: Repository,
    previous_manifest: Manifest | None = None,
    progress: Callable[[Progress], None] | None = None,
    *,
    workers: int | None = None,
    hostname: str | None = None,
    tags: dict[str, str] | None = None,
    parent: str | None = None,
    interval: float = 0.2,
) -> BackupResult:
    """Back up ``paths`` into ``repo``; returns the saved manifest, its blob name and statistics."""
    t0 = time.monotonic()
    stats = BackupStats()
    entries = walk(paths, stats.errors)
    prev = {n.path: n for n in previous_manifest.nodes} if previous_manifest else {}
    files = [n for n, _ in entries if n.type == "file"]
    prog = Progress(files_total=len(files), bytes_total=sum(n.size for n in files))
    c = _Counters()
    nworkers = workers or os.cpu_count() or 2
    inflight = threading.BoundedSemaphore(nworkers * 2)
    # batches of tiny files go one at a time: each file is a few short system calls and small hash, compress
    # and seal calls that keep the interpreter lock, and threads passing it between every one of them were
    # slower than one thread (20k files of 1-8 KiB: 3.1-4.8 s on two workers, 2.3 s one at a time)
    one_at_a_time = threading.Lock()
    pending: list[tuple[Node, list[Future[Any]]]] = []  # large files: a future per chunk
    last = 0.0
    packs_before = repo.packs_written

    def report(force: bool = False) -> None:
        nonlocal last
        now = time.monotonic()
        if progress and (force or now - last >= interval):
            last = now
            with c.lock:
                prog.files_done, prog.bytes_done, prog.bytes_new = c.files_done, c.read, c.new
            prog.elapsed = now - t0
            progress(prog)

    def chunk_task(data: bytes | memoryview) -> bytes:
        cid, stored = repo.store_chunk(data)
        with c.lock:
            c.read += len(data)
            if stored:
                c.new += len(data)
                c.stored += stored
        return cid

    def files_task(batch: list[tuple[Node, str]]) -> list[tuple[str, str]]:
        """Small files, whole, one after another: one task for many (a task per 4 KiB file cost more in
        the pool than the file did). Each file's chunks go into its own node; a file that cannot be read
        is returned as (path, error) and the others go on."""
        errors: list[tuple[str, str]] = []
        tiny = sum(n.size for n, _ in batch) < len(batch) * TINY_FILE
        with one_at_a_time if tiny else contextlib.nullcontext():
            for node, path in batch:
                ids, sizes = [], []
                try:
                    for d in repo.chunker.cut_file(path):
                        ids.append(chunk_task(d))
                        sizes.append(len(d))
                except OSError as e:
                    errors.append((path, str(e)))
                    node.type = "error"
                else:
                    node.chunks, node.sizes, node.size = ids, sizes, sum(sizes)
                with c.lock:
                    c.files_done += 1
        return errors

    def submit(pool: ThreadPoolExecutor, fn: Callable[..., Any], arg: Any) -> Future[Any]:
        inflight.acquire()
        fut = pool.submit(fn, arg)
        fut.add_done_callback(lambda _f: inflight.release())
        return fut

    batch: list[tuple[Node, str]] = []
    batch_bytes = 0
    batches: list[Future[list[tuple[str, str]]]] = []

    def flush_batch(pool: ThreadPoolExecutor) -> None:
        nonlocal batch, batch_bytes
        if batch:
            batches.append(submit(pool, files_task, batch))
            batch, batch_bytes = [], 0

    try:
        with ThreadPoolExecutor(nworkers, thread_name_prefix="vl-backup") as pool:
            for node, src in entries:
                if node.type != "file":
                    continue
                repo.check_uploads()  # an upload that failed for good stops the backup now
                p = prev.get(node.path)
                if (
                    _unchanged(node, p)
                    and p is not None
                    and len(repo.index.have(p.chunks)) == len(set(p.chunks))
                ):
                    node.chunks, node.sizes = p.chunks, p.sizes  # shared, never changed: no copy per file
                    stats.files_unchanged += 1
                    with c.lock:
                        c.files_done += 1
                elif node.size <= SMALL_FILE:
                    batch.append((node, src))
                    batch_bytes += node.size
                    if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES:
                        flush_batch(pool)
                else:
                    try:
                        futs, sizes = [], []
                        for d in repo.chunker.cut_file(src):
                            futs.append(submit(pool, chunk_task, d))
                            sizes.append(len(d))
                        node.sizes, node.size = sizes, sum(sizes)
                    except OSError as e:
                        stats.errors.append((src, str(e)))
                        node.type = "error"
                        continue
                    pending.append((node, futs))
                    with c.lock:
                        c.files_done += 1
                report()
            flush_batch(pool)
            for fut in batches:
                stats.errors.extend(fut.result())
                report()
            for node, futs in pending:
                node.chunks = [f.result() for f in futs]
                report()
        repo.flush()
    except BaseException:
        repo.abort()  # wait for running uploads, drop the open pack; the error goes through
        raise
    nodes = [n for n, _ in entries if n.type != "error"]
    manifest = Manifest(
        time=time.time(),
        hostname=hostname or socket.gethostname(),
        roots=[os.path.abspath(os.fspath(p)) for p in paths],
        nodes=nodes,
        parent=parent,
        tags=dict(tags or {}),
    )
    name = repo.save_manifest(manifest)  # LAST: the snapshot exists only once everything it names is stored
    stats.files = sum(1 for n in nodes if n.type == "file")
    stats.dirs = sum(1 for n in nodes if n.type == "dir")
    stats.symlinks = sum(1 for n in nodes if n.type == "symlink")
    stats.bytes_total = manifest.total_size()
    stats.bytes_read, stats.bytes_new, stats.stored_bytes = c.read, c.new, c.stored
    stats.packs = repo.packs_written - packs_before
    stats.duration = time.monotonic() - t0
    report(force=True)
    return BackupResult(manifest, name, stats)
