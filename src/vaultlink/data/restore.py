"""Restore a snapshot into a target directory.

Safety: every path is validated before anything is written: relative, no
empty/``.``/``..`` segment, no NUL, never below a symlink of the snapshot. Every
path component is then opened relative to its parent's directory descriptor with
``O_NOFOLLOW`` (``restore_target.Target``), and every file, rename, symlink and
metadata call takes a directory descriptor: a pre-existing symlink in the target is
refused, so is a symlink or directory where a file goes, and a directory swapped for
a symlink while the restore runs is never followed (``UnsafePath``). Symlinks last.

Memory: the snapshot's nodes are read twice, never held (``restore_plan``: every path checked, the
files counted and selected; then the files ``BATCH_FILES`` at a time, each batch planned and fetched
before the next: a chunk that files of two batches share is read once per batch).

Data: chunks are grouped by pack into coalesced ranges read in parallel (into one
reusable buffer per worker when the store offers ``read_range_into``); every chunk
is verified (GCM tag, recomputed id) and written with ``pwrite`` to each file
offset that uses it; a small file of one chunk is made, written, given its metadata and
renamed in one go, and a span of many small chunks is handled by one thread at a time
(threads handing the GIL over at every short system call were slower than one); in a
restore of ``CHILD_FILES`` files or more averaging under ``SMALL_CHUNK``, a child process
(``restore_child``, about 10 MiB) makes those small files on another core while the
restore's threads decrypt and verify the next ones. The aligned middle of a large chunk goes with ``O_DIRECT``
(no page-cache copy; the filesystem falls back to buffered writes by itself or we
do when it refuses ``O_DIRECT``), its unaligned edges with buffered writes.

Crash honesty: a new target is made as ``TARGET.vaultlink-partial``, its files written
under their own names, and renamed to ``TARGET`` once everything is written and verified
(a killed restore leaves ``TARGET.vaultlink-partial``, never ``TARGET``; the next restore
into ``TARGET`` writes into it again and completes it). Into a directory that exists, each
file is written as ``NAME.vaultlink-partial`` and renamed to ``NAME`` only once all its
chunks are written and verified and its mode, owner and mtime are set; a killed restore
leaves only ``*.vaultlink-partial`` files (and any older version of ``NAME`` untouched),
never a truncated file under its real name. Restore does not fsync: after a power loss (not
a process crash), recently restored files may be lost like any other unsynced write; run
``sync`` if that matters.
A damaged chunk does not stop the restore: the other files are restored, the
damaged ones stay as ``NAME.vaultlink-partial``, then ``CorruptData`` names every
affected file. Directories get their modes and mtimes last (deepest first).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from vaultlink.data.backup import Progress
from vaultlink.data.formats import open_chunk
from vaultlink.data.manifest import Manifest, Node
from vaultlink.data.repository import Repository
from vaultlink.data.restore_child import LazyWriter
from vaultlink.data.restore_files import PARTIAL, OpenFiles, OutFile
from vaultlink.data.restore_plan import Pick, Survey, Unsorted, selected, survey
from vaultlink.data.restore_target import Target, check_file_slot, check_space, split_rel
from vaultlink.errors import Conflict, CorruptData, NotFound, VaultlinkError, as_error

GAP = 256 * 1024
# A worker reads a span into a buffer of its own, grown to the longest span it read. A span of a few large chunks may
# reach LONG_SPAN, about one request per 8 MiB pack (each a GET through S3: bench/README-s3.md); one of SMALL_SPAN
# chunks or more stays within SPAN (longer spans of small files held more of them in flight: more memory).
SPAN, LONG_SPAN, SMALL_SPAN, SMALL_CHUNK = 4 << 20, 8 << 20, 16, 64 * 1024  # small: 16+ chunks averaging < 64 KiB
BATCH_FILES, BATCH_CHUNKS = 8192, 65536  # files planned and fetched together (what a restore holds per file)
CHILD_FILES = 256  # a restore of this many files or more, averaging under SMALL_CHUNK: a child makes them


@dataclass
class RestoreStats:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0
    duration: float = 0.0
    damaged: list[str] = field(default_factory=list)


Span = tuple[str, int, int, list[tuple[int, int, bytes]]]


def _plan(by_pack: dict[str, list[tuple[int, int, bytes]]]) -> list[Span]:
    """Per pack, chunk ranges coalesced into spans (gaps up to GAP; at most LONG_SPAN long, or SPAN once a span
    holds SMALL_SPAN chunks), in pack order."""
    spans: list[Span] = []
    for pack, items in by_pack.items():
        items.sort()
        cur: list[tuple[int, int, bytes]] = []
        for it in items:
            limit = LONG_SPAN if len(cur) < SMALL_SPAN else SPAN
            if cur and (it[0] - (cur[-1][0] + cur[-1][1]) > GAP or it[0] + it[1] - cur[0][0] > limit):
                spans.append((pack, cur[0][0], cur[-1][0] + cur[-1][1] - cur[0][0], cur))
                cur = []
            cur.append(it)
        if cur:
            spans.append((pack, cur[0][0], cur[-1][0] + cur[-1][1] - cur[0][0], cur))
    spans.sort(key=lambda s: (s[0], s[1]))
    return spans


def _tildes(rel: str, taken: set[str]) -> int:
    """How many ``~`` make ``rel`` + PARTIAL a name no node of the snapshot has."""
    k = 0
    while rel + PARTIAL + "~" * k in taken:
        k += 1
    return k


Nodes = Manifest | Callable[[], Iterable[Node]]


def restore(
    manifest: Nodes,
    repo: Repository,
    target: str | os.PathLike[str],
    include: Pick | str | Sequence[str] | None = None,
    progress: Callable[[Progress], None] | None = None,
    *,
    workers: int | None = None,
    direct: bool = True,
) -> RestoreStats:
    """Restore ``manifest`` (a snapshot, or a function that reads its nodes afresh each call, as
    ``repo.manifest_reader(name)`` gives: a snapshot of many files is read twice, never held), or what ``include``
    picks of it (patterns, or a ``Pick`` with exclusions), under ``target``; see the module docstring.
    ``direct=False`` writes everything through the page cache."""
    t0 = time.monotonic()
    nodes_of: Callable[[], Iterable[Node]] = (lambda: manifest.nodes) if isinstance(manifest, Manifest) else manifest
    try:
        plan = survey(nodes_of(), include)
    except Unsorted:  # not in path order: hold them, sorted
        held = sorted(nodes_of(), key=lambda n: n.path)
        nodes_of = lambda: held  # noqa: E731
        plan = survey(held, include)
    check_space(target, plan.bytes)
    final, staging, made = _stage(target)
    tgt = Target(staging or final, staged=made)
    try:
        stats = _restore(nodes_of, plan, repo, tgt, progress, workers, direct, t0)
    except (VaultlinkError, KeyboardInterrupt, OSError) as exc:  # Ctrl-C, SIGTERM, a full disk: told as errors
        e = as_error(exc)
        if staging is not None:  # the target is not there: say where its files are
            e.message += f" (what was restored so far is in {staging!r}: run the same restore again to complete it)"
            e.args = (e.message,)
            e.details.setdefault("partial_target", staging)
        raise e from None
    finally:
        tgt.close()
    if staging is not None:
        try:
            os.rename(staging, final)
        except OSError as e:
            raise Conflict(
                f"the restore is complete in {staging!r} but {final!r} appeared meanwhile ({e.strerror}); "
                "move one of them aside and rename the other yourself"
            ) from None
    if stats.damaged:
        stats.damaged.sort()
        raise CorruptData(
            f"{len(stats.damaged)} file(s) could not be restored intact: {', '.join(stats.damaged[:20])}"
            + (" …" if len(stats.damaged) > 20 else "")
            + f" (what could be read is left as NAME{PARTIAL}); run `vaultlink agent check --read-data`",
            files=stats.damaged,
        )
    return stats


def _stage(target: str | os.PathLike[str]) -> tuple[str, str | None, bool]:
    """Where the restore writes: ``(target, None, False)`` for a directory that exists, or ``(target, staging,
    made)``: a new target is made as ``TARGET.vaultlink-partial`` and renamed when complete (a killed restore's
    is written into again, file by file under temporary names: ``made`` is false). Files in a new staging
    directory are written under their own names, not each under a temporary one renamed once written (those
    renames took as much of a restore of 100k small files as making the files did)."""
    final = os.path.abspath(target)
    if os.path.lexists(final):
        return os.path.realpath(final), None, False
    parent, name = os.path.split(final)
    os.makedirs(parent, exist_ok=True)
    final = os.path.join(os.path.realpath(parent), name)
    staging = final + PARTIAL
    try:
        os.mkdir(staging)
    except FileExistsError:
        return final, staging, False  # a killed restore's (``Target`` refuses it if it is not a directory)
    except OSError as e:
        if e.errno != errno.ENAMETOOLONG:
            raise
        os.mkdir(final)  # no room for the suffix: restored in place, file by file
        return final, None, False
    return final, staging, True


def _batches(nodes: Iterable[Node], plan: Survey) -> Iterator[list[Node]]:
    """The files to restore, a bounded batch at a time (files and chunks)."""
    batch: list[Node] = []
    chunks = 0
    for n in selected(nodes, plan):
        batch.append(n)
        chunks += len(n.chunks)
        if len(batch) >= BATCH_FILES or chunks >= BATCH_CHUNKS:
            yield batch
            batch, chunks = [], 0
    if batch:
        yield batch


def _restore(
    nodes_of: Callable[[], Iterable[Node]],
    plan: Survey,
    repo: Repository,
    tgt: Target,
    progress: Callable[[Progress], None] | None,
    workers: int | None,
    direct: bool,
    t0: float,
) -> RestoreStats:
    """Directories, then the files a batch at a time, then symlinks and the directories' metadata."""
    stats = RestoreStats()
    for n in plan.dirs:
        tgt.ensure_dir(n.path)
    prog = Progress(files_total=plan.files, bytes_total=plan.bytes, files_done=0)
    last = [0.0]
    # mostly small files, many of them: a child process makes them, and three threads fetching and verifying
    # keep it busy (a fourth adds a span buffer and nothing else)
    small_files = plan.files >= CHILD_FILES and plan.bytes < plan.files * SMALL_CHUNK
    child = LazyWriter(tgt.root, tgt.root_fd, small_files)
    threads = workers or (3 if small_files else max(4, 2 * (os.cpu_count() or 2)))
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="vl-restore") as pool:
            for batch in _batches(nodes_of(), plan):
                stats.damaged += _restore_files(batch, plan, repo, tgt, pool, prog, progress, last, direct, t0, child)
        child.finish()  # every small file made before the symlinks, the directories' metadata and the rename
    finally:
        child.kill()
    stats.files, stats.bytes = plan.files, plan.bytes
    root = os.geteuid() == 0
    for n in plan.links:
        dir_rel, name = split_rel(n.path)
        shown = tgt.full(n.path)
        with tgt.dir(dir_rel) as d:
            try:
                st = os.stat(name, dir_fd=d, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None:
                if stat.S_ISDIR(st.st_mode):
                    raise Conflict(f"cannot restore symlink {shown!r}: a directory is in the way")
                os.unlink(name, dir_fd=d)
            os.symlink(n.target or "", name, dir_fd=d)
            if root:
                os.chown(name, n.uid, n.gid, dir_fd=d, follow_symlinks=False)
            os.utime(name, ns=(n.mtime_ns, n.mtime_ns), dir_fd=d, follow_symlinks=False)
        stats.symlinks += 1
    for n in sorted(plan.dirs, key=lambda n: n.path.count("/"), reverse=True):
        with tgt.dir(n.path, create=False) as fd:
            if root:
                os.fchown(fd, n.uid, n.gid)
            os.fchmod(fd, n.mode)
            os.utime(fd, ns=(n.mtime_ns, n.mtime_ns))
        stats.dirs += 1
    stats.duration = time.monotonic() - t0
    if progress:
        prog.elapsed, prog.files_done = stats.duration, plan.files
        progress(prog)
    return stats


def _restore_files(
    files: list[Node],
    plan: Survey,
    repo: Repository,
    tgt: Target,
    pool: ThreadPoolExecutor,
    prog: Progress,
    progress: Callable[[Progress], None] | None,
    last: list[float],
    direct: bool,
    t0: float,
    child: LazyWriter,
) -> list[str]:
    """One batch of files: planned by pack, fetched and written; returns the paths of the damaged ones."""
    outs: list[OutFile] = []
    dests: dict[bytes, list[tuple[OutFile, int]]] = defaultdict(list)
    shared: dict[str, str] = {}  # one string per directory, not one per file
    for n in files:
        dir_rel, name = split_rel(n.path)
        dir_rel = shared.setdefault(dir_rel, dir_rel)
        if tgt.needs_check(dir_rel):
            with tgt.dir(dir_rel) as d:
                check_file_slot(d, name, tgt.full(n.path))
        out = OutFile(n, tgt.root, dir_rel, _tildes(n.path, plan.partial_named), tgt.staged)
        outs.append(out)
        off = 0
        for cid, size in zip(n.chunks, n.sizes, strict=True):
            dests[cid].append((out, off))
            off += size
    by_pack: dict[str, list[tuple[int, int, bytes]]] = defaultdict(list)
    damaged: set[bytes] = set()
    for cid in dests:
        loc = repo.index.lookup(cid)
        if loc is None:
            damaged.add(cid)
        else:
            by_pack[loc.pack].append((loc.offset, loc.length, cid))
    spans = _plan(by_pack)
    lock = threading.Lock()
    small = threading.Lock()
    fs = OpenFiles(tgt, direct)
    reader: Callable[[str, int, memoryview], None] | None = getattr(repo.store, "read_range_into", None)
    local = threading.local()

    def done(out: OutFile, writes: int, bad: bool, held: bool) -> None:
        if fs.release(out, writes, bad, held) and fs.finish(out):
            with lock:
                prog.files_done += 1

    def lost(cid: bytes) -> None:
        with lock:
            damaged.add(cid)
        for out, _ in dests[cid]:
            done(out, 1, True, False)

    def fetch(span: Span) -> None:
        pack, start, length, items = span
        try:
            if reader is not None:
                buf: bytearray | None = getattr(local, "buf", None)
                if buf is None or len(buf) < length:  # grown to the longest span this thread read
                    buf = local.buf = bytearray(length)
                data = memoryview(buf)[:length]
                reader(pack, start, data)
            else:
                data = memoryview(repo.store.get_range(pack, start, length))
        except NotFound:
            for _, _, c in items:
                lost(c)
            return
        # a span of many small chunks (small files) goes one at a time: their writes are a few short system
        # calls each, and threads passing the interpreter lock between every one of them cost more than they gain;
        # in a restore of many files, a child process makes those files (``restore_child``) on another core
        many = len(items) >= SMALL_SPAN and length < len(items) * SMALL_CHUNK
        with small if many else contextlib.nullcontext():
            maker = child.get() if many else None
            for off, ln, cid in items:
                try:
                    plain = open_chunk(repo.keys, cid, data[off - start : off - start + ln], f"chunk in {pack}")
                except VaultlinkError:
                    lost(cid)
                    continue
                whole = 0
                for out, foff in dests[cid]:
                    if fs.whole(out):
                        if maker is not None:
                            maker.write(out.node, out.dir, out.name, out.tmpname, plain)
                            out.left = 0
                        else:
                            fs.write_whole(out, plain)
                        whole += 1
                        continue
                    fs.acquire(out)
                    try:
                        fs.write(out, plain, foff)
                    finally:
                        fs.release(out, 0)
                    done(out, 1, False, False)
                with lock:
                    prog.bytes_done += len(plain) * len(dests[cid])
                    prog.files_done += whole

    pending: set[Any] = set()
    try:
        for cid in list(damaged):
            lost(cid)
        for out in outs:
            if out.left == 0 and not out.damaged:  # empty file
                done(out, 0, False, False)
        pending = {pool.submit(fetch, s) for s in spans}
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            for f in finished:
                if f.exception() is not None:
                    raise f.exception()  # type: ignore[misc]
            if progress and time.monotonic() - last[0] > 0.2:
                last[0] = time.monotonic()
                prog.elapsed = last[0] - t0
                progress(prog)
    except BaseException:  # a worker's error, Ctrl-C, a stopped job: the spans not started are dropped, and the
        wait([p for p in pending if not p.cancel()])  # running ones end before their files are closed
        raise
    finally:
        fs.close_all()
    for out in outs:
        if out.left:  # every span ran: nothing can be left, but never call such a file complete
            raise VaultlinkError(f"internal error: {out.node.path} was not fully restored; restore again")
    return sorted(n.path for n in files if damaged.intersection(n.chunks)) if damaged else []
