"""Storage accounts: partitions of a vault's backup data, each with its own blob and queue names.

A vault gets its first account at its first container registration and a new one whenever the
current (last) account passes ``config.storage_account_max_bytes``. The vault record lists the names
(``storage_accounts``, oldest first; the last one takes new writes); a ``storage_account`` record per
account counts its bytes. Blobs live in ``svc.blobs`` under
``vaults/<vault>/<account>/<container>/<name>``.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any, cast

from vaultlink.domain.records import VaultRecord, require_vault
from vaultlink.errors import NotFound, ServiceUnavailable
from vaultlink.ports import BlobStore, RangePieces, Txn, check_name
from vaultlink.service.core import Service
from vaultlink.service.endpoints import add_storage_account
from vaultlink.service.events import EndpointsChanged


def new_account_name() -> str:
    return "s" + secrets.token_hex(6)


def blobs_of(svc: Service) -> BlobStore:
    if svc.blobs is None:
        raise ServiceUnavailable("this server has no blob store configured (blob_url); it cannot hold backups.")
    return svc.blobs


def replica_of(svc: Service) -> BlobStore:
    if svc.replica is None:
        raise ServiceUnavailable("this server has no replica blob store (replica_blob_url); it cannot replicate.")
    return svc.replica


def replica_key(region: str, key: str) -> str:
    """Where the paired region ``region`` keeps its copy of blob ``key`` in the replica store."""
    return f"{check_name(region)}/{key}"


class Reader:
    """Where a request reads a vault's blobs: its primary storage, or (through the paired region's names)
    the replica in the secondary region. Keys are the primary's; the replica's are derived."""

    def __init__(self, svc: Service, secondary_region: str | None = None) -> None:
        self.region = secondary_region
        self.store = replica_of(svc) if secondary_region else blobs_of(svc)

    def key(self, key: str) -> str:
        return replica_key(self.region, key) if self.region else key

    def get(self, key: str) -> bytes:
        return self.store.get(self.key(key))

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self.store.get_range(self.key(key), offset, length)

    def pieces(self, key: str, offset: int, length: int) -> RangePieces | None:
        """The range a piece at a time (opened and checked now), or None when the store reads only whole ranges."""
        read = getattr(self.store, "read_pieces", None)
        return None if read is None else cast(RangePieces, read(self.key(key), offset, length))

    def size(self, key: str) -> int:
        return self.store.size(self.key(key))

    def exists(self, key: str) -> bool:
        return self.store.exists(self.key(key))

    def list(self, prefix: str) -> list[str]:
        """Primary keys (the replica's prefix taken off)."""
        strip = len(self.key(""))
        return [k[strip:] for k in self.store.list(self.key(prefix))]


def delete_blob(svc: Service, vault: VaultRecord | dict[str, Any] | None, key: str) -> None:
    """The service removes a blob (purge, prune): from primary storage and from the paired region's replica."""
    with contextlib.suppress(NotFound):
        blobs_of(svc).delete(key)
    region = (vault or {}).get("secondary_region")
    if region and svc.replica is not None:
        with contextlib.suppress(NotFound):
            svc.replica.delete(replica_key(str(region), key))


def blob_key(vault_id: str, account: str, container_id: str, name: str) -> str:
    return f"vaults/{vault_id}/{account}/{container_id}/{check_name(name)}"


def accounts_of(vault: VaultRecord) -> list[str]:
    return [a if isinstance(a, str) else str(a["name"]) for a in vault.get("storage_accounts") or []]


def write_account(vault: VaultRecord) -> str | None:
    accts = accounts_of(vault)
    return accts[-1] if accts else None


def add_account(txn: Txn, svc: Service, vault: VaultRecord) -> str:
    """Give ``vault`` a new storage account (in ``txn``); endpoints of the vault gain IPs for it.

    The caller fires ``endpoints`` after commit (names, listeners and DNS records follow).
    """
    name = new_account_name()
    while txn.get("storage_account", name) is not None:  # pragma: no cover - 2^-48
        name = new_account_name()
    vault.setdefault("storage_accounts", [])
    vault["storage_accounts"] = [*accounts_of(vault), name]
    txn.insert(
        "storage_account",
        name,
        {
            "id": name,
            "account_id": vault["account_id"],
            "parent_id": vault["id"],
            "name": name,
            "vault_id": vault["id"],
            "bytes": 0,
            "blobs": 0,
            "created": svc.clock.now(),
        },
    )
    add_storage_account(txn, svc, vault, name, as_identity=True)
    txn.update("vault", vault["id"], vault)
    return name


def check_account(vault: VaultRecord, account: str | None) -> str:
    if account is None or account not in accounts_of(vault):
        raise NotFound(
            f"storage account {account!r} does not belong to vault {vault.get('name')}; the agent learns the "
            "vault's accounts at registration and from every backup job.",
            field="storage_account",
        )
    return account


def record_usage(svc: Service, vault_id: str, account: str, nbytes: int) -> tuple[str, bool]:
    """Count ``nbytes`` new bytes in ``account``; grow the vault when its write account is full.

    Returns ``(current write account, grew)``.
    """
    grew = False
    with svc.store.transaction() as txn:
        vault = require_vault(txn, vault_id)
        rec = txn.get("storage_account", account)
        if rec is not None and nbytes:
            rec["bytes"] = int(rec.get("bytes", 0)) + nbytes
            rec["blobs"] = int(rec.get("blobs", 0)) + 1
            txn.update("storage_account", account, rec)
        current = write_account(vault)
        if current is not None:
            cur = rec if current == account else txn.get("storage_account", current)
            if cur is not None and int(cur.get("bytes", 0)) >= svc.config.storage_account_max_bytes:
                current = add_account(txn, svc, vault)
                grew = True
    if grew:
        svc.fire(EndpointsChanged())
    return current or account, grew


def account_usage(svc: Service, vault_id: str) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        vault = require_vault(txn, vault_id)
        out = []
        for name in accounts_of(vault):
            rec = txn.get("storage_account", name) or {}
            out.append({"name": name, "bytes": int(rec.get("bytes", 0)), "blobs": int(rec.get("blobs", 0))})
        return out
