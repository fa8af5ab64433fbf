"""Verify a repository and name the files that damage affects.

Structure (always): every index file and manifest decodes; every chunk a
manifest references is indexed; every pack holding referenced chunks exists,
its header decodes and lists those chunks at the indexed ranges.
``read_data=True`` also reads every such pack whole, checks it against its
content-addressed name and decrypts and verifies every referenced chunk.
Damaged chunks are mapped back to ``(snapshot, file path)``.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import blake3

from vaultlink.data.formats import PackEntry, decode_index, decode_pack, open_chunk
from vaultlink.data.repository import Location, Repository
from vaultlink.errors import NotFound, VaultlinkError


@dataclass
class CheckReport:
    snapshots: int = 0
    packs: int = 0
    chunks: int = 0
    bytes_read: int = 0
    errors: list[str] = field(default_factory=list)
    damaged_files: list[tuple[str, str]] = field(default_factory=list)  # (snapshot, path)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "snapshots": self.snapshots,
            "packs": self.packs,
            "chunks": self.chunks,
            "bytes_read": self.bytes_read,
            "errors": list(self.errors),
            "damaged_files": [{"snapshot": s, "path": p} for s, p in self.damaged_files],
        }


def check(
    repo: Repository,
    read_data: bool = False,
    progress: Callable[[int, int], None] | None = None,
    *,
    workers: int | None = None,
) -> CheckReport:
    """Check ``repo``; ``progress(packs_done, packs_total)`` is called from worker threads."""
    rep = CheckReport()
    lock = threading.Lock()

    def error(msg: str) -> None:
        with lock:
            rep.errors.append(msg)

    for name in repo.store.list("index/"):
        try:
            decode_index(repo.keys, repo.store.get(name), name)
        except VaultlinkError as e:
            error(e.message)
    # each snapshot's nodes are streamed (a vault of many snapshots of a million files is never held): what is
    # held is one entry per distinct chunk, then the snapshots are read again only if a chunk is damaged
    readable: list[str] = []
    damaged: set[bytes] = set()
    by_pack: dict[str, dict[bytes, Location]] = defaultdict(dict)
    for name in repo.list_manifests():
        try:
            for node in repo.manifest_nodes(name):
                for cid in node.chunks:
                    loc = repo.index.lookup(cid)
                    if loc is None:
                        damaged.add(cid)
                    else:
                        by_pack[loc.pack][cid] = loc
            readable.append(name)
        except VaultlinkError as e:
            error(e.message)
    rep.snapshots = len(readable)
    if damaged:
        error(f"{len(damaged)} referenced chunk(s) are missing from the index")
    rep.packs = len(by_pack)
    rep.chunks = sum(len(v) for v in by_pack.values())
    done = 0

    def verify(pack: str) -> None:
        nonlocal done
        want = by_pack[pack]
        bad: set[bytes] = set()
        try:
            if read_data:
                data = repo.store.get(pack)
                with lock:
                    rep.bytes_read += len(data)
                if blake3.blake3(data).hexdigest() != pack.rpartition("/")[2]:
                    error(f"{pack}: content does not match its name (the pack was altered)")
                entries = _safe_entries(repo, pack, data, error)
                view = memoryview(data)
                for cid, loc in want.items():
                    try:
                        open_chunk(repo.keys, cid, view[loc.offset : loc.offset + loc.length], f"{pack}")
                    except VaultlinkError as err:
                        error(f"chunk {cid.hex()[:16]}: {err.message}")
                        bad.add(cid)
            else:
                entries = _safe_entries(repo, pack, None, error)
            if entries is not None:
                listed = {e.chunk_id: e for e in entries}
                for cid, loc in want.items():
                    e = listed.get(cid)
                    if e is None or (e.offset, e.length) != (loc.offset, loc.length):
                        error(f"{pack}: header does not list chunk {cid.hex()[:16]} at the indexed range")
                        bad.add(cid)
        except NotFound:
            error(f"{pack} is missing")
            bad.update(want)
        with lock:
            damaged.update(bad)
            done += 1
            if progress:
                progress(done, rep.packs)

    with ThreadPoolExecutor(workers or max(2, os.cpu_count() or 2)) as pool:
        list(pool.map(verify, sorted(by_pack)))
    for name in readable if damaged else ():
        for n in repo.manifest_nodes(name):
            if n.type == "file" and not damaged.isdisjoint(n.chunks):
                rep.damaged_files.append((name, n.path))
    for name, path in rep.damaged_files:
        rep.errors.append(f"damaged file {path!r} in snapshot {name}")
    return rep


def _safe_entries(
    repo: Repository, pack: str, data: bytes | None, error: Callable[[str], None]
) -> list[PackEntry] | None:
    try:
        return decode_pack(repo.keys, data, pack) if data is not None else repo.read_pack_header(pack)
    except NotFound:
        raise
    except VaultlinkError as e:
        error(e.message)
        return None
