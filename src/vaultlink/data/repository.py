"""A repository of encrypted, deduplicated chunks over a BlobStore.

Layout in the blob store::

    keys/key               the key file (master keys wrapped by the passphrase); keys/key.N later versions
                           (the same keys under a changed passphrase, written beside, never over)
    packs/<hex>            packs of about 8 MiB (content-addressed: hex = BLAKE3 of the pack)
    index/<hex>            sealed lists of pack entries (written by ``flush``)
    snapshots/<hex>        sealed snapshot manifests (written last by a backup)

The chunk index (id -> pack range) answers dedup queries. ``MemoryChunkIndex``
is built from ``index/`` files, plus the headers of any pack that no index file
lists yet (a backup that crashed after uploading packs): so a re-run reuses them.
The service implements the same ``ChunkIndex`` over SQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import replace

from vaultlink.data.chunk_index import ChunkIndex, Location, MemoryChunkIndex
from vaultlink.data.chunker import Chunker, ChunkerParams
from vaultlink.data.crypto import DEFAULT_SCRYPT_LOG_N, Keys, create_key_file, open_key_file
from vaultlink.data.formats import (
    ENTRY,
    PACK_MAGIC,
    PACK_TRAILER,
    ZSTD_LEVEL,
    PackEntry,
    content_name,
    decode_chunk,
    decode_pack_header,
    encode_chunk_into,
    encode_index,
    encode_pack_tail,
    index_entries,
    pack_header_length,
)
from vaultlink.data.key_names import KEY_NAME, key_version, newest_first
from vaultlink.data.manifest import (
    Manifest,
    Node,
    decode_manifest,
    encode_manifest,
    iter_manifest_nodes,
    iter_opened_nodes,
    open_manifest,
)
from vaultlink.data.pack_buffer import PackBuffer, PackBuffers
from vaultlink.errors import AlreadyExists, CorruptData, NotFound, WrongPassphrase
from vaultlink.ports import BlobStore


def key_versions(store: BlobStore) -> list[str]:
    """The key files of a repository, newest version first."""
    return newest_first(store.list("keys/"))


def has_keys(store: BlobStore) -> bool:
    """Does ``store`` hold a repository (any key version: ``keys/key`` itself may be retired)?"""
    return bool(key_versions(store))


# 8 MiB: the agent holds up to three packs at once (two uploading, one filling or, full, waiting for a slot); at
# 16 MiB they were half of its peak memory, and halving them cost no speed (bench/README-backup.md, run 11)
PACK_SIZE = 8 * 1024 * 1024


class _PackBuilder:
    """The open pack, built in one reused buffer (``pack_buffer.py``): each chunk is copied in as it comes
    (and its own bytes freed), so a full pack is uploaded as it is, without a joined copy beside its parts."""

    def __init__(self, buf: PackBuffer) -> None:
        self.buf: PackBuffer | None = buf
        self.entries: list[PackEntry] = []
        buf.append(PACK_MAGIC)

    @property
    def size(self) -> int:
        return self.buf.used if self.buf is not None else 0

    def add(self, cid: bytes, blob: bytes | bytearray | memoryview) -> None:
        assert self.buf is not None
        self.entries.append(PackEntry(cid, self.buf.append(blob), len(blob)))


def _stored(fut: Future[None]) -> bool:
    return fut.done() and not fut.cancelled() and fut.exception() is None


class Repository:
    """Reads and writes chunks, packs, index files and manifests. Thread-safe for writers."""

    def __init__(
        self,
        store: BlobStore,
        keys: Keys,
        index: ChunkIndex | None = None,
        *,
        pack_size: int = PACK_SIZE,
        chunker_params: ChunkerParams | None = None,
        zstd_level: int | None = ZSTD_LEVEL,
        upload_workers: int = 2,
    ) -> None:
        self.store = store
        self.keys = keys
        self.index: ChunkIndex = index if index is not None else MemoryChunkIndex()
        self.pack_size = pack_size
        self.zstd_level = zstd_level
        self.chunker = Chunker(replace(chunker_params or ChunkerParams(), seed=keys.chunker_seed))
        self._lock = threading.Lock()
        self._local = threading.local()  # each writer thread's buffer for sealing chunks
        self._fill = threading.Lock()  # the open pack (held while a full one waits for an upload slot)
        self._pending: set[bytes] = set()
        # the open pack and one per upload slot; a pack ends past its size by at most an encoded chunk
        largest = self.chunker.params.max_size + self.chunker.params.max_size // 64 + (64 << 10)
        self._buffers = PackBuffers(pack_size, largest, upload_workers + 1)
        self._builder = _PackBuilder(self._buffers.take())
        self._unindexed: dict[str, Sequence[PackEntry] | bytes] = {}  # packed: a pack's entries are 40 B each
        self._uploads: list[Future[None]] = []
        self._error: BaseException | None = None  # a failed upload's error, raised by the next check
        self._slots = threading.BoundedSemaphore(upload_workers)
        self._pool = ThreadPoolExecutor(upload_workers, thread_name_prefix="vl-upload")
        self.packs_written = 0
        self.stored_bytes = 0

    # --- opening -------------------------------------------------------------------------------------
    @classmethod
    def init(
        cls, store: BlobStore, passphrase: str, *, log_n: int = DEFAULT_SCRYPT_LOG_N, **kw: object
    ) -> Repository:
        """Create a new repository (fresh keys) in an empty store."""
        if has_keys(store):
            raise AlreadyExists("this storage already holds a repository; open it with its passphrase")
        data, keys = create_key_file(passphrase, log_n=log_n)
        store.put(KEY_NAME, data)
        return cls(store, keys, **kw)  # type: ignore[arg-type]

    @classmethod
    def open(cls, store: BlobStore, passphrase: str, *, load_index: bool = True, **kw: object) -> Repository:
        """Unlock an existing repository with any of its key versions (newest first) and load its index."""
        names = key_versions(store)
        if not names:
            raise NotFound("no repository here: the key file keys/key is missing")
        keys = None
        for name in names:
            try:
                keys = open_key_file(store.get(name), passphrase, name)
                break
            except WrongPassphrase:
                continue
        if keys is None:
            raise WrongPassphrase()
        repo = cls(store, keys, **kw)  # type: ignore[arg-type]
        if load_index:
            repo.load_index()
        return repo

    def add_key(self, passphrase: str, *, log_n: int = DEFAULT_SCRYPT_LOG_N) -> str:
        """A passphrase change: the same master keys wrapped under ``passphrase`` in a new key version
        (``keys/key.N``), written beside the others, never over one (storage is write-once)."""
        names = key_versions(self.store)
        newest = max((key_version(n) for n in names), default=1)
        name = f"{KEY_NAME}.{newest + 1}"
        data, _keys = create_key_file(passphrase, self.keys, log_n=log_n)
        self.store.put(name, data)
        return name

    def load_index(self) -> int:
        """Load ``index/`` files, then index packs that no index file lists. Returns packs found unindexed."""
        for name in list(self.store.list("index/")):
            for pack, raw in index_entries(self.keys, self.store.get(name), name):
                self.index.add(pack, raw)
        known = self.index.packs()
        orphans = [p for p in self.store.list("packs/") if p not in known]
        for pack in orphans:
            entries = self.read_pack_header(pack)
            self.index.add(pack, entries)
            with self._lock:
                self._unindexed[pack] = entries
        return len(orphans)

    def read_pack_header(self, pack: str) -> list[PackEntry]:
        size = self.store.size(pack)
        if size < len(PACK_MAGIC) + PACK_TRAILER.size:
            raise CorruptData(f"{pack}: too short to be a pack ({size} bytes)", object=pack)
        hlen = pack_header_length(
            self.store.get_range(pack, size - PACK_TRAILER.size, PACK_TRAILER.size), size, pack
        )
        start = size - PACK_TRAILER.size - hlen
        return decode_pack_header(self.keys, self.store.get_range(pack, start, hlen), start, pack)

    # --- writing -------------------------------------------------------------------------------------
    def reserve(self, chunk_id: bytes) -> bool:
        """True if the caller must store this chunk (not stored, not being stored by another thread)."""
        with self._lock:
            if chunk_id in self._pending:
                return False
        if self.index.have([chunk_id]):
            return False
        with self._lock:
            if chunk_id in self._pending:
                return False
            self._pending.add(chunk_id)
            return True

    def store_chunk(self, data: bytes | memoryview) -> tuple[bytes, int]:
        """Id, dedup, compress, seal and pack one chunk. Returns ``(chunk_id, stored bytes added)``."""
        cid = self.keys.chunk_id(data)
        if not self.reserve(cid):
            return cid, 0
        scratch: bytearray | None = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = bytearray()
        with encode_chunk_into(self.keys, cid, data, scratch, self.zstd_level) as blob:  # sealed in the thread's
            self.add_blob(cid, blob)  # buffer, copied into the pack from there
            return cid, len(blob)

    def add_blob(self, chunk_id: bytes, blob: bytes | bytearray | memoryview) -> None:
        """Append an encoded chunk to the open pack; a full pack is uploaded in the background. A full pack
        waits for an upload slot as the open one (writers wait with it): the packs in memory are the
        uploading ones and the open one, never a queue of full ones besides."""
        with self._fill:
            self._builder.add(chunk_id, blob)
            if self._builder.size < self.pack_size:
                return
            self._take_slot()
            full, self._builder = self._builder, _PackBuilder(self._buffers.take())
        self._start(full)

    def _take_slot(self) -> None:
        # Every path releases what it took: a failed upload surfaces here (while waiting for a slot too), so a
        # lasting failure fails the backup, never hangs it.
        while not self._slots.acquire(timeout=0.5):
            self._raise_failed()
        try:
            self._raise_failed()
        except BaseException:
            self._slots.release()
            raise

    def _start(self, builder: _PackBuilder) -> None:
        """Upload ``builder`` in the background, in the slot the caller took."""
        try:
            fut = self._pool.submit(self._upload, builder)
        except BaseException:
            self._slots.release()
            raise
        fut.add_done_callback(self._upload_done)
        with self._lock:  # the stored ones are forgotten; a failed one stays for flush (its callback may not have
            self._uploads = [f for f in self._uploads if not _stored(f)]  # run yet when it reads as done)
            self._uploads.append(fut)

    def _upload_done(self, fut: Future[None]) -> None:
        error = CancelledError() if fut.cancelled() else fut.exception()
        if error is not None and self._error is None:
            self._error = error  # kept apart from the futures (a new upload forgets the finished ones), and
        self._slots.release()  # set before the slot is free: a thread waiting for it sees the failure

    def check_uploads(self) -> None:
        """Raise the error of a failed background upload, or the one ``stop`` was given, if any (a backup stops at
        once)."""
        self._raise_failed()

    def stop(self, error: BaseException) -> None:
        """Stop what writes here: the next ``check_uploads`` (every file of a backup, every piece of a stream) and
        the next full pack raise ``error`` (its job ended on the service while it ran)."""
        if self._error is None:
            self._error = error

    def _raise_failed(self) -> None:
        if self._error is not None:  # called for every file of a backup: no lock, no walk over the uploads
            raise self._error

    def _upload(self, b: _PackBuilder) -> None:
        buf = b.buf
        assert buf is not None
        buf.append(encode_pack_tail(self.keys, b.entries))
        data = buf.view()
        name, size = content_name("packs", data), len(data)
        self.store.put(name, data)  # raises: the buffer is dropped, not reused (the store may still hold it)
        del data
        b.buf = None  # the pack is held until it is stored
        self._buffers.give(buf)
        raw = b"".join(ENTRY.pack(e.chunk_id, e.offset, e.length) for e in b.entries)  # once, for both
        self.index.add(name, raw)
        with self._lock:
            self._unindexed[name] = raw
            self._pending.difference_update(e.chunk_id for e in b.entries)
            self.packs_written += 1
            self.stored_bytes += size

    def flush(self) -> None:
        """Upload the open pack, wait for every upload, then write an index file for the new packs."""
        full = None
        with self._fill:
            if self._builder.entries:  # an empty open pack stays open, its buffer with it
                full, self._builder = self._builder, _PackBuilder(self._buffers.take())
        if full is not None:
            self._take_slot()
            self._start(full)
        while True:
            with self._lock:
                futs, self._uploads = self._uploads, []
            if not futs:
                break
            for f in futs:
                f.result()
        self._raise_failed()  # one that failed before the wait, its future already forgotten
        with self._lock:
            packs, self._unindexed = self._unindexed, {}
        if packs:
            data = encode_index(self.keys, packs)
            self.store.put(content_name("index", data), data)

    def abort(self) -> None:
        """After a failed backup: wait for running uploads (ignoring their errors), drop the open pack."""
        with self._fill:
            if self._builder.buf is not None:
                self._buffers.give(self._builder.buf)
            self._builder = _PackBuilder(self._buffers.take())
        with self._lock:
            futs, self._uploads = self._uploads, []
        for f in futs:
            f.exception()
        with self._lock:
            self._pending.clear()
            self._error = None

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # --- reading -------------------------------------------------------------------------------------
    def locate(self, chunk_id: bytes) -> Location:
        loc = self.index.lookup(chunk_id)
        if loc is None:
            raise CorruptData(f"chunk {chunk_id.hex()} is not in the index", object=chunk_id.hex())
        return loc

    def read_chunk(self, chunk_id: bytes) -> bytes:
        """Fetch and verify one chunk (GCM tag and recomputed id)."""
        loc = self.locate(chunk_id)
        try:
            blob = self.store.get_range(loc.pack, loc.offset, loc.length)
        except NotFound:
            raise CorruptData(f"{loc.pack} is missing", object=loc.pack) from None
        return decode_chunk(self.keys, chunk_id, blob, f"chunk {chunk_id.hex()[:16]} in {loc.pack}")

    # --- manifests -----------------------------------------------------------------------------------
    def save_manifest(self, manifest: Manifest | bytes | bytearray) -> str:
        """Store a snapshot (a ``Manifest``, or the stored form a ``ManifestWriter`` finished)."""
        data = encode_manifest(self.keys, manifest) if isinstance(manifest, Manifest) else manifest
        name = content_name("snapshots", data)
        self.store.put(name, data)
        return name

    def load_manifest(self, name: str) -> Manifest:
        return decode_manifest(self.keys, self.store.get(name), name)

    def manifest_nodes(self, name: str) -> Iterator[Node]:
        """A snapshot's nodes in path order, decoded as they are read (a snapshot of many files is never
        held whole): ``CorruptData`` where it goes wrong."""
        return iter_manifest_nodes(self.keys, self.store.get(name), name)

    def manifest_reader(self, name: str) -> Callable[[], Iterator[Node]]:
        """``manifest_nodes`` for a reader that reads the nodes more than once (a restore): the stored
        snapshot is fetched and opened once (only its compressed text is kept), each call reads its nodes
        afresh from that."""
        opened = open_manifest(self.keys, self.store.get(name), name)
        return lambda: iter_opened_nodes(opened, name)

    def list_manifests(self) -> list[str]:
        return list(self.store.list("snapshots/"))
