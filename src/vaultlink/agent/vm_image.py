"""VM disk images (raw or qcow2), read with Debian's qemu-utils, for the backup gateway (issue #19).

What an image holds comes from ``qemu-img map`` (its **allocation map**: which guest ranges hold data, in
which file of the backing chain, at which offset); unallocated and zero ranges are never read. A qcow2
image also has **change tracking**: a persistent dirty bitmap (``qemu-img bitmap``) added at each backup
records every write the VM makes after it; the next backup asks ``qemu-nbd`` to export the image with
that bitmap and ``qemu-img map`` over NBD for its dirty ranges (``x-dirty-bitmap``), and reads those
blocks only. Every other block's chunk is the previous recovery point's.

An image is cut into fixed 64 KiB blocks (the qcow2 cluster and the bitmap's granularity), one chunk
each, so an unchanged block keeps its chunk without being read. A raw image has no bitmap: each backup
reads its allocated ranges (the repository still stores only new chunks).

The image must not be in use by a running VM while it is backed up (qemu's image locking refuses it,
and the message says so): the appliance backs up shut-down VMs, or a hypervisor's snapshot of them.
"""

from __future__ import annotations

import bisect
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaultlink.data.backup import BackupResult, BackupStats
from vaultlink.data.manifest import Manifest, Node
from vaultlink.data.repository import Repository
from vaultlink.durable import publish
from vaultlink.errors import ImageUnreadable as ImageError
from vaultlink.errors import InvalidInput, NotFound

BLOCK = 64 * 1024
ZERO = bytes(BLOCK)
QCOW2_MAGIC = b"QFI\xfb"
BITMAP_PREFIX = "vaultlink-"
TOOL_TIMEOUT = 300.0
MAX_MAP = 64 << 20  # the JSON of a map: bounded


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise NotFound(f"{name} is not installed: the backup gateway reads VM images with qemu-utils "
                       "(`apt-get install qemu-utils`).")
    return found


def _run(args: list[str], what: str) -> str:
    try:
        out = subprocess.run(args, capture_output=True, timeout=TOOL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise ImageError(f"{what}: {args[0]} took longer than {TOOL_TIMEOUT:.0f} s.") from None
    if out.returncode != 0:
        err = out.stderr.decode(errors="replace").strip()[-400:]
        hint = (" The image is in use (a running VM holds its lock): back up a shut-down VM or its snapshot."
                if "lock" in err.lower() else "")
        raise ImageError(f"{what}: {err or 'failed'}.{hint}")
    if len(out.stdout) > MAX_MAP:
        raise ImageError(f"{what}: the answer is larger than {MAX_MAP} bytes.")
    return out.stdout.decode()


def image_format(path: str) -> str:
    """``qcow2`` (by its magic) or ``raw``."""
    with open(path, "rb") as f:
        return "qcow2" if f.read(4) == QCOW2_MAGIC else "raw"


def scan(directory: str) -> list[dict[str, Any]]:
    """The images of a hypervisor directory: regular files ending in .qcow2, .raw, .img (sorted)."""
    if not os.path.isdir(directory):
        return []
    out = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_file(follow_symlinks=False) and entry.name.endswith((".qcow2", ".raw", ".img")) \
                and not entry.name.startswith("."):
            try:
                fmt = image_format(entry.path)
                size = virtual_size(entry.path, fmt) if fmt == "qcow2" else entry.stat().st_size
            except (OSError, ImageError):
                continue  # unreadable right now: reported at the next beat
            out.append({"name": entry.name, "format": fmt, "size": size, "path": entry.path})
    return out


def info(path: str, fmt: str) -> list[dict[str, Any]]:
    """``qemu-img info --backing-chain``: the image first, then its backing files."""
    chain = json.loads(_run([tool("qemu-img"), "info", "--backing-chain", "--output=json", "-f", fmt, path],
                            f"cannot read {path}"))
    return chain if isinstance(chain, list) else [chain]


def virtual_size(path: str, fmt: str) -> int:
    return int(info(path, fmt)[0]["virtual-size"])


@dataclass(frozen=True, slots=True)
class Extent:
    start: int
    length: int
    data: bool
    depth: int = 0
    offset: int | None = None


def allocation(path: str, fmt: str) -> list[Extent]:
    """The image's allocation map (``qemu-img map``): which guest ranges hold data, and where."""
    raw = json.loads(_run([tool("qemu-img"), "map", "--output=json", "-f", fmt, path], f"cannot map {path}"))
    return [Extent(int(e["start"]), int(e["length"]), bool(e.get("data")) and not e.get("zero"),
                   int(e.get("depth", 0)), e.get("offset")) for e in raw]


def chain_files(path: str, fmt: str) -> list[str]:
    """The files of the backing chain by depth (0: the image itself)."""
    chain = info(path, fmt)
    files = [os.path.abspath(path)]
    for i in range(1, len(chain)):
        prev = chain[i - 1]
        name = prev.get("full-backing-filename") or prev.get("backing-filename") or chain[i]["filename"]
        files.append(name if os.path.isabs(name) else os.path.join(os.path.dirname(files[i - 1]), name))
    return files


# --- change tracking (qcow2 persistent dirty bitmaps) --------------------------------------------------------
def bitmaps(path: str) -> list[str]:
    data = info(path, "qcow2")[0].get("format-specific", {}).get("data", {})
    return [b["name"] for b in data.get("bitmaps", [])]


def add_bitmap(path: str) -> str:
    """Start tracking writes to ``path``: a new persistent, enabled dirty bitmap (its name)."""
    name = BITMAP_PREFIX + secrets.token_hex(6)
    _run([tool("qemu-img"), "bitmap", "--add", "--enable", "-g", str(BLOCK), "-f", "qcow2", path, name],
         f"cannot add change tracking to {path}")
    return name


def remove_bitmap(path: str, name: str) -> None:
    _run([tool("qemu-img"), "bitmap", "--remove", "-f", "qcow2", path, name], f"cannot remove bitmap {name}")


def dirty_ranges(path: str, bitmap: str, timeout: float = 30.0) -> list[tuple[int, int]]:
    """The guest ranges written since ``bitmap`` was added: ``qemu-nbd`` exports the image read-only with
    the bitmap, and ``qemu-img map`` over NBD reports it (``x-dirty-bitmap``: a dirty range is "no data")."""
    with tempfile.TemporaryDirectory(prefix="vl-nbd-") as tmp:
        sock = os.path.join(tmp, "nbd.sock")
        proc = subprocess.Popen([tool("qemu-nbd"), "--read-only", "--shared=1", "-f", "qcow2", "-B", bitmap,
                                 "-k", sock, path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + timeout
            while not os.path.exists(sock):
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise ImageError(f"qemu-nbd could not export {path} with its change tracking: {err.strip()}")
                if time.monotonic() > deadline:
                    raise ImageError(f"qemu-nbd did not start within {timeout:.0f} s for {path}.")
                time.sleep(0.02)
            opts = (f"driver=nbd,server.type=unix,server.path={sock},"
                    f"x-dirty-bitmap=qemu:dirty-bitmap:{bitmap}")
            raw = json.loads(_run([tool("qemu-img"), "map", "--output=json", "--image-opts", opts],
                                  f"cannot read the change tracking of {path}"))
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
    return [(int(e["start"]), int(e["length"])) for e in raw if not e.get("data")]


# --- reading blocks ---------------------------------------------------------------------------------------
class BlockReader:
    """Reads an image's 64 KiB blocks through its allocation map (data ranges only; zeros are not read)."""

    def __init__(self, path: str, fmt: str) -> None:
        self.extents = allocation(path, fmt)
        self.files = chain_files(path, fmt) if fmt == "qcow2" else [os.path.abspath(path)]
        self.fds = [os.open(f, os.O_RDONLY) for f in self.files]
        self.size = self.extents[-1].start + self.extents[-1].length if self.extents else 0
        self.bytes_read = 0
        self._starts = [e.start for e in self.extents]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)

    def _overlapping(self, lo: int, hi: int) -> list[Extent]:
        i = max(0, bisect.bisect_right(self._starts, lo) - 1)
        out = []
        while i < len(self.extents) and self.extents[i].start < hi:
            e = self.extents[i]
            if e.start + e.length > lo:
                out.append(e)
            i += 1
        return out

    def is_zero(self, index: int) -> bool:
        lo = index * BLOCK
        return not any(e.data for e in self._overlapping(lo, min(lo + BLOCK, self.size)))

    def read(self, index: int) -> bytes:
        lo = index * BLOCK
        hi = min(lo + BLOCK, self.size)
        buf = bytearray(hi - lo)
        for e in self._overlapping(lo, hi):
            if not e.data:
                continue
            if e.offset is None:
                raise ImageError("the image has compressed or encrypted clusters, which the gateway cannot read "
                                 "in place; convert it: `qemu-img convert -O qcow2 IMAGE NEW` (without -c).")
            a, b = max(lo, e.start), min(hi, e.start + e.length)
            got = os.pread(self.fds[e.depth], b - a, int(e.offset) + (a - e.start))
            if len(got) != b - a:
                raise ImageError(f"{self.files[e.depth]} is shorter than its map says (read at {e.offset}).")
            buf[a - lo:b - lo] = got
            self.bytes_read += b - a
        return bytes(buf)


@dataclass
class ImageBackup:
    result: BackupResult
    blocks: int
    blocks_read: int
    tracked: bool  # the changed blocks came from change tracking
    changed_ranges: list[tuple[int, int]] = field(default_factory=list)


def backup_image(name: str, path: str, fmt: str, repo: Repository, previous: Manifest | None,
                 dirty: list[tuple[int, int]] | None, *, hostname: str, tags: dict[str, str],
                 parent: str | None, workers: int = 4,
                 progress: Callable[[int, int], None] | None = None) -> ImageBackup:
    """One recovery point of the image: the blocks ``dirty`` touches (all of them when ``dirty`` or
    ``previous`` is None), the previous point's chunks for the rest."""
    t0 = time.monotonic()
    reader = BlockReader(path, fmt)
    size = reader.size
    nblocks = (size + BLOCK - 1) // BLOCK
    prev_node = None
    if previous is not None and dirty is not None:
        files = [n for n in previous.nodes if n.type == "file"]
        if len(files) == 1 and files[0].size == size and len(files[0].chunks) == nblocks:
            prev_node = files[0]
    changed: set[int] | None = None
    if prev_node is not None and dirty is not None:
        changed = set()
        for start, length in dirty:
            changed.update(range(start // BLOCK, min(nblocks, (start + length + BLOCK - 1) // BLOCK)))
    lock = threading.Lock()
    counts = {"new": 0, "stored": 0}
    inflight = threading.BoundedSemaphore(workers * 2)

    def store(data: bytes) -> bytes:
        cid, stored = repo.store_chunk(data)
        if stored:
            with lock:
                counts["new"] += len(data)
                counts["stored"] += stored
        return cid

    chunks: list[Future[bytes] | bytes] = []
    sizes: list[int] = []
    zero_id: bytes | None = None
    read = 0
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="vl-image") as pool:
            for i in range(nblocks):
                n = min(BLOCK, size - i * BLOCK)
                if changed is not None and prev_node is not None and i not in changed:
                    chunks.append(prev_node.chunks[i])
                elif reader.is_zero(i) and n == BLOCK:
                    if zero_id is None:
                        zero_id = store(ZERO)
                    chunks.append(zero_id)
                else:
                    data = reader.read(i)
                    read += 1
                    repo.check_uploads()
                    inflight.acquire()
                    fut = pool.submit(store, data)
                    fut.add_done_callback(lambda _f: inflight.release())
                    chunks.append(fut)
                sizes.append(n)
                if progress is not None and i % 1024 == 0:
                    progress(i, nblocks)
            ids = [c.result() if isinstance(c, Future) else c for c in chunks]
        repo.flush()
    except BaseException:
        repo.abort()
        raise
    finally:
        reader.close()
    node = Node(path=name, type="file", mode=0o600, mtime_ns=time.time_ns(), size=size, chunks=ids, sizes=sizes)
    manifest = Manifest(time=time.time(), hostname=hostname, roots=[name], nodes=[node], parent=parent,
                        tags=dict(tags))
    blob = repo.save_manifest(manifest)
    stats = BackupStats(files=1, bytes_total=size, bytes_read=reader.bytes_read, bytes_new=counts["new"],
                        stored_bytes=counts["stored"], duration=time.monotonic() - t0)
    return ImageBackup(BackupResult(manifest, blob, stats), nblocks, read, changed is not None,
                       list(dirty or []))


def restore_image(manifest: Manifest, repo: Repository, target: str, fmt: str = "raw",
                  read_stream: Callable[[Manifest, Repository], Any] | None = None) -> dict[str, Any]:
    """Write the point's image to ``target`` (a new file): sparse raw (zero blocks are holes), or qcow2
    (the sparse raw converted by ``qemu-img convert``)."""
    if fmt not in ("raw", "qcow2"):
        raise InvalidInput("restore an image as raw or qcow2.", field="format")
    out = Path(target)
    if out.exists():
        raise InvalidInput(f"{target} exists: restore an image into a new file.", field="target")
    files = [n for n in manifest.nodes if n.type == "file"]
    if len(files) != 1:
        raise InvalidInput("this recovery point is not a VM image.", field="recovery_point")
    node = files[0]
    tmp = out.with_name(f".{out.name}.vaultlink-tmp")
    temps = [tmp]
    assert read_stream is not None
    written = 0
    try:
        with open(tmp, "wb") as f:
            pos = 0
            for data in read_stream(manifest, repo):
                if data != ZERO[:len(data)]:
                    f.seek(pos)
                    f.write(data)
                    written += len(data)
                pos += len(data)
            f.truncate(node.size)
        if fmt == "qcow2":  # converted beside the target too: a failed or cut conversion leaves no target
            converted = out.with_name(f".{out.name}.vaultlink-qcow2")
            temps.append(converted)
            _run([tool("qemu-img"), "convert", "-f", "raw", "-O", "qcow2", str(tmp), str(converted)],
                 f"cannot write {target} as qcow2")
            publish(converted, out)
        else:
            publish(tmp, out)
    finally:
        for t in temps:
            t.unlink(missing_ok=True)
    return {"target": str(out), "format": fmt, "size": node.size, "bytes_written": written}
