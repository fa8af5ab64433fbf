"""Back up directory trees into a Repository.

1. Walk the roots (``lstat``, no following of symlinks) a directory at a time, in path order
   (``tree.iter_tree``); nothing holds a node per file: each node is written into the snapshot
   (``ManifestWriter``) once its file is done, at most ``ORDER_MAX`` waiting.
2. A file whose size, mtime_ns, inode and mode equal the previous snapshot's (read beside the
   walk, a node at a time, in the same order) reuses its chunk list without being read (if all
   its chunks are still indexed).
3. Other files are chunked; chunks are hashed, deduplicated, compressed, sealed
   and packed by a thread pool sized to the CPU count (BLAKE3, zstd, AES-GCM and
   file reads release the GIL). Small files are read by the workers in batches; a batch
   of tiny files is done by the walking thread itself (their calls are too short to
   release the GIL usefully, and handing them to a worker cost more than the work); files that turn
   out not to be in memory are read ahead by the kernel, a few batches before the walking thread reads
   them (``readahead.py``);
   large files are cut by the caller's thread and their chunks (copies out of one
   reused buffer: ``Chunker.cut_file(own=True)``) fanned out.
4. ``repo.flush()`` uploads the last pack and an index file; the manifest is
   written LAST: a crash before it leaves no snapshot, and the packs already
   uploaded are found (and reused) by the next run.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from vaultlink.data.backup_io import BackupStats, Previous, SnapshotOutput
from vaultlink.data.count import TreeCount
from vaultlink.data.count_walk import Skip
from vaultlink.data.manifest import Manifest, Node
from vaultlink.data.readahead import Batch, Readahead
from vaultlink.data.repository import Repository
from vaultlink.data.tree import iter_tree

SMALL_FILE = 8 * 1024 * 1024
BATCH_FILES = 128  # small files per task
BATCH_BYTES = 4 * 1024 * 1024  # or fewer, once they hold this much
TINY_FILE = 64 * 1024  # a batch of files averaging under this size is done by the walking thread
ORDER_MAX = 8192  # nodes walked and not yet written (waiting for their files) before the walk waits


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
class BackupResult:
    """``head``: the snapshot, whole or (when ``backup`` made it: its nodes are stored, not held) its fields
    but the nodes, then read back from ``repo`` by ``manifest``; ``packs``: the packs its chunks live in
    (``None``: read them from the nodes)."""

    head: Manifest
    name: str
    stats: BackupStats
    packs: set[str] | None = None
    repo: Repository | None = None

    @property
    def manifest(self) -> Manifest:
        """The whole snapshot (read back from the repository when not held: every node at once)."""
        return self.repo.load_manifest(self.name) if self.repo is not None else self.head


def _packs_of(pack_of: Callable[[bytes], str | None], chunks: list[bytes]) -> list[str] | None:
    """The packs of an unchanged file's chunks, or None when one of them is not in the index (then the file is
    read again): one lookup a chunk, which also places the file in the snapshot's packs."""
    packs: list[str] = []
    for cid in chunks:
        pack = pack_of(cid)
        if pack is None:
            return None
        packs.append(pack)
    return packs


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
        self.skipped = 0  # bytes of unchanged files
        self.new = 0
        self.stored = 0
        self.files_done = 0


def backup(
    paths: Sequence[str | os.PathLike[str]],
    repo: Repository,
    previous_manifest: Manifest | Iterable[Node] | None = None,
    progress: Callable[[Progress], None] | None = None,
    *,
    workers: int | None = None,
    hostname: str | None = None,
    tags: dict[str, str] | None = None,
    parent: str | None = None,
    interval: float = 0.2,
    estimate: tuple[int, int] | None = None,
    skip: Skip | None = None,
) -> BackupResult:
    """Back up ``paths`` into ``repo``; returns the saved manifest's head (its nodes are stored, not held),
    its blob name, statistics, and the packs it references. ``previous_manifest``: the last snapshot (or its
    nodes in path order, as ``repo.manifest_nodes`` reads them) for the skip-unchanged shortcut.
    ``estimate``: (files, bytes) the tree is thought to hold (the previous backup's) for the progress totals;
    without it a thread counts the tree beside the walk (a second walk: a no-change backup of 100k files
    spent a fifth of its time on it). ``skip``: what to leave out (``count_walk.Skip``: kernel file systems)."""
    t0 = time.monotonic()
    skip = skip or Skip()
    stats = BackupStats()
    roots = [os.path.abspath(os.fspath(p)) for p in paths]
    prev_nodes = previous_manifest.nodes if isinstance(previous_manifest, Manifest) else previous_manifest
    prev = Previous(prev_nodes or ())
    out = SnapshotOutput(repo, stats)
    pack_of = repo.index.pack_of
    prog = Progress(files_total=0, bytes_total=0)
    c = _Counters()
    nworkers = workers or os.cpu_count() or 2
    inflight = threading.BoundedSemaphore(nworkers * 2)
    # nodes in walk order, each with what it waits for: a batch's future, a large file's chunk futures
    order: deque[tuple[Node, Batch | list[Future[bytes]] | None]] = deque()
    last = 0.0
    packs_before = repo.packs_written
    seen = [0, 0]  # files and bytes walked: the totals until the count is further
    counted = estimate or (0, 0)
    # the tree counted ahead for the progress totals, by a child process (the count is for progress only:
    # the walk reports errors); not when the previous backup's totals stand in for it
    counter = TreeCount(roots, skip) if progress and estimate is None else None

    def report(force: bool = False) -> None:
        nonlocal last
        now = time.monotonic()
        if progress and (force or now - last >= interval):
            last = now
            with c.lock:
                prog.files_done, prog.bytes_done, prog.bytes_new = c.files_done, c.read + c.skipped, c.new
            files, size = counter.totals if counter is not None else counted
            prog.files_total, prog.bytes_total = max(seen[0], files), max(seen[1], size)
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
        for node, path in batch:
            ids, sizes = [], []
            try:
                for d in repo.chunker.cut_file(path, size=node.size):
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

    def queued_task(b: Batch) -> list[tuple[str, str]]:
        """A batch a worker reads; its time tells the readahead whether the files are on the disk."""
        wall, cpu = time.monotonic(), time.thread_time()
        errors = files_task(b.files)
        ahead.timed(b, time.monotonic() - wall, time.thread_time() - cpu)
        return errors

    def submit(pool: ThreadPoolExecutor, fn: Callable[..., Any], arg: Any) -> Future[Any]:
        inflight.acquire()
        fut = pool.submit(fn, arg)
        fut.add_done_callback(lambda _f: inflight.release())
        return fut

    batch = Batch()  # the open batch of small files
    ahead = Readahead(files_task)  # files not in memory: read ahead by the kernel (``readahead.py``)

    def flush_batch(pool: ThreadPoolExecutor) -> None:
        nonlocal batch
        if batch.files:
            if batch.bytes < len(batch.files) * TINY_FILE:
                # tiny files: each is a few short system calls and small hash, compress and seal calls that
                # keep the interpreter lock; handed to a worker, the threads spent more passing the lock and
                # the work than doing it (100k files of 1-8 KiB: 7.0-7.8 s in a worker one batch at a time,
                # 5.9-6.6 s here, and a fifth less CPU)
                ahead.inline(batch)
            else:
                ahead.queued(batch)
                batch.future = submit(pool, queued_task, batch)
            batch = Batch()

    def drain(pool: ThreadPoolExecutor, limit: int) -> None:
        """Write the nodes at the head of ``order`` that are done; wait for them while more than ``limit``
        are held."""
        while order:
            node, waits = order[0]
            block = len(order) > limit
            if isinstance(waits, list):
                if not block and waits and not (waits[-1].done() and all(f.done() for f in waits)):
                    return
                node.chunks = [f.result() for f in waits]
            elif waits is not None:
                if waits.future is None:  # the open batch
                    if not block:
                        return
                    flush_batch(pool)
                assert waits.future is not None
                if not waits.future.done():
                    if not block:
                        return
                    ahead.finish(waits)  # read after its advice: read now
                errors = waits.future.result()
                if not waits.taken:  # the batch's first node takes its errors
                    stats.errors.extend(errors)
                    waits.taken = True
            order.popleft()
            out.write(node, placed=waits is None)

    try:
        with ThreadPoolExecutor(nworkers, thread_name_prefix="vl-backup") as pool:
            for node, src in iter_tree(roots, stats.errors, skip):
                if node.type != "file":
                    order.append((node, None))
                    drain(pool, ORDER_MAX)
                    continue
                seen[0], seen[1] = seen[0] + 1, seen[1] + node.size
                repo.check_uploads()  # an upload that failed for good stops the backup now
                p = prev.get(node.path)
                if _unchanged(node, p) and p is not None and (known := _packs_of(pack_of, p.chunks)) is not None:
                    node.chunks, node.sizes = p.chunks, p.sizes
                    out.packs.update(known)  # placed now: written without looking its chunks up again
                    stats.files_unchanged += 1
                    order.append((node, None))
                    with c.lock:
                        c.files_done += 1
                        c.skipped += node.size  # done, not read: a no-change backup ends at 100 %
                elif node.size <= SMALL_FILE:
                    order.append((node, batch))
                    batch.files.append((node, src))
                    batch.bytes += node.size
                    if len(batch.files) >= BATCH_FILES or batch.bytes >= BATCH_BYTES:
                        flush_batch(pool)
                else:
                    flush_batch(pool)  # the batch's nodes come before this one: theirs must be on the way
                    try:
                        futs, sizes = [], []
                        for d in repo.chunker.cut_file(src, own=True):  # handed to the workers
                            futs.append(submit(pool, chunk_task, d))
                            sizes.append(len(d))
                        node.sizes, node.size = sizes, sum(sizes)
                    except OSError as e:
                        stats.errors.append((src, str(e)))
                        node.type = "error"
                        futs = []
                    order.append((node, futs))
                    with c.lock:
                        c.files_done += 1
                drain(pool, ORDER_MAX)
                report()
            flush_batch(pool)
            ahead.finish()
            drain(pool, 0)
        prev.close()
        repo.flush()
        packs = out.placed()
    except BaseException:
        out.writer.close()
        repo.abort()  # wait for running uploads, drop the open pack; the error goes through
        raise
    finally:
        ahead.close()
        if counter is not None:
            counter.close()
    manifest = Manifest(
        time=time.time(), hostname=hostname or socket.gethostname(), roots=roots, nodes=[], parent=parent,
        tags=dict(tags or {}),
    )
    # LAST: the snapshot exists only once everything it names is stored
    name = repo.save_manifest(out.writer.finish(repo.keys, manifest))
    stats.bytes_read, stats.bytes_new, stats.stored_bytes = c.read, c.new, c.stored
    stats.packs = repo.packs_written - packs_before
    stats.duration = time.monotonic() - t0
    prog.files_total, prog.bytes_total = stats.files, stats.bytes_total
    report(force=True)
    return BackupResult(manifest, name, stats, packs, repo)
