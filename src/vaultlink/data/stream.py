"""Backing up and reading back one stream (a database's base backup from ``pg_basebackup``), never staged
on disk: the stream is cut into content-defined chunks as it arrives, which go to the repository by the
worker pool like a large file's; the snapshot has a single file node named by the caller."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

from vaultlink.data.backup import BackupResult, BackupStats, Progress
from vaultlink.data.chunker import cut_tar_stream
from vaultlink.data.manifest import Manifest, Node
from vaultlink.data.repository import Repository


def backup_stream(name: str, stream: IO[bytes], repo: Repository, *, hostname: str | None = None,
                  tags: dict[str, str] | None = None, parent: str | None = None, workers: int | None = None,
                  progress: Callable[[Progress], None] | None = None, tar: bool = False) -> BackupResult:
    """Back up everything ``stream`` yields as the file ``name`` (one snapshot); ``tar``: the stream is a tar
    archive, cut at its files (``chunker.cut_tar_stream``) instead of by content."""
    t0 = time.monotonic()
    stats = BackupStats()
    nworkers = workers or os.cpu_count() or 2
    # bounded: the stream is never read far ahead (16 pieces: the pipe keeps flowing while the workers catch up)
    inflight = threading.BoundedSemaphore(max(16, nworkers * 2))
    lock = threading.Lock()
    prog = Progress(files_total=1, bytes_total=0)
    counts = {"new": 0, "stored": 0}

    def store(data: bytes | bytearray | memoryview) -> bytes:
        cid, stored = repo.store_chunk(memoryview(data) if isinstance(data, bytearray) else data)
        if stored:
            with lock:
                counts["new"] += len(data)
                counts["stored"] += stored
        return cid

    node = Node(path=name, type="file", mode=0o600, mtime_ns=time.time_ns())
    futures: list[Future[bytes]] = []
    try:
        with ThreadPoolExecutor(nworkers, thread_name_prefix="vl-stream") as pool:
            pieces = cut_tar_stream(stream, repo.chunker) if tar else repo.chunker.cut_stream(stream)
            for piece in pieces:
                repo.check_uploads()
                inflight.acquire()
                fut = pool.submit(store, piece)  # each piece is a buffer of its own
                fut.add_done_callback(lambda _f: inflight.release())
                futures.append(fut)
                node.sizes.append(len(piece))
                if progress is not None:
                    prog.bytes_done = prog.bytes_total = sum(node.sizes)
                    prog.elapsed = time.monotonic() - t0
                    progress(prog)
            node.chunks = [f.result() for f in futures]
        repo.flush()
    except BaseException:
        repo.abort()
        raise
    node.size = sum(node.sizes)
    manifest = Manifest(time=time.time(), hostname=hostname or socket.gethostname(), roots=[name], nodes=[node],
                        parent=parent, tags=dict(tags or {}))
    blob = repo.save_manifest(manifest)
    stats.files, stats.bytes_total, stats.bytes_read = 1, node.size, node.size
    stats.bytes_new, stats.stored_bytes = counts["new"], counts["stored"]
    stats.duration = time.monotonic() - t0
    return BackupResult(manifest, blob, stats)


def read_stream(manifest: Manifest, repo: Repository, ahead: int = 4) -> Iterator[bytes]:
    """The bytes of a one-file snapshot's file, chunk by chunk, in order (``ahead`` chunks fetched ahead)."""
    files = [n for n in manifest.nodes if n.type == "file"]
    if len(files) != 1:
        raise ValueError("not a stream snapshot")
    chunks = files[0].chunks
    with ThreadPoolExecutor(max(1, ahead)) as pool:
        pending: list[Future[bytes]] = []
        for cid in chunks:
            pending.append(pool.submit(repo.read_chunk, cid))
            if len(pending) > ahead:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()
