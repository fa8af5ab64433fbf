"""The storage service: blobs (packs, index files, manifests, the encrypted key file) and the chunk index.

Every blob belongs to one container's namespace inside one storage account of the vault. Writes
count toward the account's size (a full account makes the vault grow a new one; the answer names the
account to write next). Chunk index entries travel as base64 of ``(id[32] | offset u32 | length u32)*``.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Iterable, Iterator
from typing import Any, cast

import blake3

from vaultlink.domain.records import ContainerRecord, VaultRecord, require_vault
from vaultlink.errors import BlobExists, ContentMismatch, InvalidInput, NotFound
from vaultlink.ports import CHUNK_RECORD as ENTRY
from vaultlink.ports import BlobWriter, PackRecords, RangePieces
from vaultlink.ports import ChunkEntry as Entry
from vaultlink.service.core import Service
from vaultlink.service.dataplane import storage

MAX_ENTRIES = 200_000


def encode_entries(entries: list[Entry]) -> str:
    return encode_records(ENTRY.pack(c, o, n) for c, o, n in entries)


def encode_records(records: Iterable[bytes]) -> str:
    """Entries already packed (``ENTRY``) as they travel: base64 of the records one after another."""
    return base64.b64encode(b"".join(records)).decode()


def decode_entries(text: Any) -> list[Entry]:
    try:
        raw = base64.b64decode(text, validate=True) if isinstance(text, str) else None
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or len(raw) % ENTRY.size or len(raw) // ENTRY.size > MAX_ENTRIES:
        raise InvalidInput(
            "entries must be base64 of (chunk id[32] | offset u32 | length u32) records.", field="entries"
        )
    return [ENTRY.unpack_from(raw, i) for i in range(0, len(raw), ENTRY.size)]


def decode_ids(text: Any) -> list[bytes]:
    try:
        raw = base64.b64decode(text, validate=True) if isinstance(text, str) else None
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or len(raw) % 32 or len(raw) // 32 > MAX_ENTRIES:
        raise InvalidInput("ids must be base64 of concatenated 32-byte chunk ids.", field="ids")
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]


def _vault(svc: Service, vault_id: str) -> VaultRecord:
    with svc.store.transaction() as txn:
        return require_vault(txn, vault_id)


CONTENT_ADDRESSED = ("packs/", "index/", "snapshots/")
_put_locks = [threading.Lock() for _ in range(64)]  # one writer per blob name at a time (in this process)


def put_blob(svc: Service, vault_id: str, account: str, container: ContainerRecord, name: str,
             data: bytes) -> dict[str, Any]:
    """Store a blob, write-once: a new name is created; the same name with the same bytes is an idempotent
    retry; the same name with other bytes is refused (``BlobExists``) and the stored bytes stay. Names under
    packs/, index/ and snapshots/ must be the BLAKE3 hash of the bytes (``ContentMismatch``)."""
    storage.check_account(_vault(svc, vault_id), account)
    if name.startswith(CONTENT_ADDRESSED):
        want = name.split("/", 1)[1]
        if blake3.blake3(data).hexdigest() != want:
            raise ContentMismatch(
                f"{name}: the name is not the BLAKE3 hash of the {len(data)} bytes sent; nothing was stored.",
                field="name",
            )
    key = storage.blob_key(vault_id, account, container["id"], name)
    blobs = storage.blobs_of(svc)
    with _put_locks[hash(key) % len(_put_locks)]:
        create = getattr(blobs, "create", None)  # ports.CreateOnly: atomic across processes and servers
        if create is not None:
            existed = not create(key, data)
        else:
            existed = blobs.exists(key)
            if not existed:
                blobs.put(key, data)
        # a content-addressed name already verified its bytes: equal by construction
        if existed and not name.startswith(CONTENT_ADDRESSED) and blobs.get(key) != data:
            raise BlobExists(
                f"blob {name!r} is stored already with other bytes; stored data is write-once, nothing was "
                "changed.",
                field="name",
            )
    current, grew = storage.record_usage(svc, vault_id, account, 0 if existed else len(data))
    return {"name": name, "size": len(data), "storage_account": account, "write_account": current, "grew": grew}


def put_blob_from(svc: Service, vault_id: str, account: str, container: ContainerRecord, name: str,
                  parts: Iterable[bytes]) -> dict[str, Any]:
    """:func:`put_blob` with the bytes arriving a part at a time. A content-addressed name on a store that can
    (``ports.StreamCreate``) is written as it arrives and hashed on the way, then created only if its hash is
    its name (a mismatch or a failure leaves nothing stored); anything else is gathered first."""
    store = storage.blobs_of(svc)
    open_writer = getattr(store, "create_writer", None)
    if open_writer is None or not name.startswith(CONTENT_ADDRESSED):
        return put_blob(svc, vault_id, account, container, name, b"".join(parts))
    storage.check_account(_vault(svc, vault_id), account)
    key = storage.blob_key(vault_id, account, container["id"], name)
    hasher = blake3.blake3()
    writer = cast(BlobWriter, open_writer(key))
    try:
        for part in parts:
            hasher.update(part)
            writer.write(part)
        if hasher.hexdigest() != name.split("/", 1)[1]:
            raise ContentMismatch(
                f"{name}: the name is not the BLAKE3 hash of the {writer.size} bytes sent; nothing was stored.",
                field="name",
            )
        created = writer.commit()
    finally:
        writer.close()
    current, grew = storage.record_usage(svc, vault_id, account, writer.size if created else 0)
    return {"name": name, "size": writer.size, "storage_account": account, "write_account": current, "grew": grew}


def _missing(name: str, account: str) -> NotFound:
    """The store's ``NotFound`` for a blob, said in the caller's terms (its name and storage account)."""
    return NotFound(f"blob {name!r} does not exist in storage account {account}.", field="name")


def get_blob(svc: Service, vault_id: str, account: str, container: ContainerRecord, name: str,
             offset: int | None = None, length: int | None = None) -> bytes:
    """Read a blob: from primary storage, or from the replica when the request came through the paired
    region's names (``container["read_region"]``, set by the data-plane routes)."""
    key = storage.blob_key(vault_id, account, container["id"], name)
    blobs = storage.Reader(svc, container.get("read_region"))
    try:
        if offset is None:
            return blobs.get(key)
        return blobs.get_range(key, offset, length if length is not None else blobs.size(key) - offset)
    except NotFound:
        raise _missing(name, account) from None


def blob_pieces(svc: Service, vault_id: str, account: str, container: ContainerRecord, name: str, offset: int,
                length: int) -> RangePieces | None:
    """:func:`get_blob`'s range a piece at a time (the route sends each while the next is read); None when the
    store reads only whole ranges. A missing blob or a range outside it is refused now, before any byte."""
    key = storage.blob_key(vault_id, account, container["id"], name)
    try:
        return storage.Reader(svc, container.get("read_region")).pieces(key, offset, length)
    except NotFound:
        raise _missing(name, account) from None


def blob_size(svc: Service, vault_id: str, account: str, container: ContainerRecord, name: str) -> int:
    try:
        return storage.Reader(svc, container.get("read_region")).size(
            storage.blob_key(vault_id, account, container["id"], name))
    except NotFound:
        raise _missing(name, account) from None


def list_blobs(svc: Service, vault_id: str, account: str, container: ContainerRecord, prefix: str = "") -> list[str]:
    if prefix and any(seg in ("..", ".") for seg in prefix.split("/")):
        raise InvalidInput("prefix must not contain '.' or '..' segments.", field="prefix")
    base = f"vaults/{vault_id}/{account}/{container['id']}/"
    return [n[len(base) :] for n in storage.Reader(svc, container.get("read_region")).list(base + prefix)]


# --- chunk index ------------------------------------------------------------------------------
def add_chunks(svc: Service, container: ContainerRecord, account: str, pack: str, entries: Any) -> dict[str, Any]:
    """Record a stored pack's entries; the pack must exist in ``account``."""
    vault_id = container["vault_id"]
    ents = decode_entries(entries)
    storage.check_account(_vault(svc, vault_id), account)
    if not isinstance(pack, str) or not pack.startswith("packs/"):
        raise InvalidInput("pack must be a pack blob name (packs/<hash>).", field="pack")
    if not storage.blobs_of(svc).exists(storage.blob_key(vault_id, account, container["id"], pack)):
        raise NotFound(f"pack {pack} is not stored in {account}; upload it first.", field="pack")
    new = svc.chunks.add(vault_id, container["id"], account, pack, ents)
    return {"pack": pack, "entries": len(ents), "new": new}


def query_chunks(svc: Service, container: ContainerRecord, ids: Any) -> dict[str, Any]:
    """The dedup query: which of these chunk ids are already stored."""
    want = decode_ids(ids)
    have = svc.chunks.have(container["vault_id"], container["id"], want)
    return {"asked": len(want), "have": base64.b64encode(b"".join(i for i in want if i in have)).decode()}


def index_packs(svc: Service, container: ContainerRecord) -> Iterator[PackRecords]:
    """Every pack of the container's index with its entries (a row a pack: ``VaultChunkIndex.packs``); under a
    restore grant, only its recovery point's packs."""
    granted = (container.get("grant") or {}).get("packs")
    for a, p, records in svc.chunks.packs(container["vault_id"], container["id"]):
        if granted is None or f"{a}/{p}" in granted:
            yield a, p, records


def all_chunks(svc: Service, container: ContainerRecord) -> dict[str, Any]:
    """``index_packs`` as JSON (base64 entries); agents ask for ``index_wire``'s binary answer instead."""
    return {
        "packs": [
            {"storage_account": a, "pack": p, "entries": base64.b64encode(records).decode()}
            for a, p, records in index_packs(svc, container)
        ]
    }
