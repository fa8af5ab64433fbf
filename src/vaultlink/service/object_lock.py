"""Compliance-locked vaults on a blob store with S3 Object Lock: the store itself keeps their data.

The vault lock (``domain/retention.py``) is the service's promise; once it is in compliance mode the
blob store is asked to keep the same promise below the service, so that nobody with the bucket's own
credentials can delete or overwrite a point's data either. Each recovery point of such a vault puts its
snapshot manifest and every pack it references (``point_packs``) under a COMPLIANCE retention until the
point's earliest delete time (the end of its lifecycle, else the lock's minimum retention). The point
records how far its data is kept (``object_lock_until``): it is locked when it is committed, and the
maintenance pass locks what is not yet (a vault that just turned compliance, a lifecycle that grew, a
store that was away at the commit). A pack shared by several points ends with the latest date.
"""

from __future__ import annotations

import logging
from typing import Any

from vaultlink.domain.point_packs import point_packs
from vaultlink.domain.records import require_vault
from vaultlink.domain.retention import earliest_delete, lock_mode
from vaultlink.errors import VaultlinkError
from vaultlink.service.core import Service
from vaultlink.service.dataplane import storage

log = logging.getLogger("vaultlink.object_lock")


def _keys(rp: dict[str, Any], refs: list[str] | None) -> list[str]:
    vault_id, container = rp["vault_id"], rp["container_id"]
    keys = [storage.blob_key(vault_id, rp["storage_account"], container, rp["manifest"])]
    for ref in refs or []:
        account, pack = str(ref).split("/", 1)
        keys.append(storage.blob_key(vault_id, account, container, pack))
    return keys


def due(vault: dict[str, Any], rp: dict[str, Any], now: float) -> float | None:
    """Until when ``rp``'s data must be locked now and is not yet; None when nothing is due."""
    lock = vault.get("lock")
    if lock is None or lock_mode(lock, now) != "compliance" or not rp.get("manifest"):
        return None
    until = earliest_delete(rp, lock)  # type: ignore[arg-type]
    if until <= now or float(rp.get("object_lock_until") or 0.0) >= until:
        return None
    return until


def lock_point(svc: Service, vault: dict[str, Any], rp: dict[str, Any], refs: list[str] | None = None) -> bool:
    """Put ``rp``'s blobs under the store's retention if due (its packs: ``refs``, or read); True when it did."""
    blobs = storage.blobs_of(svc)
    if not getattr(blobs, "object_lock", False):
        return False
    until = due(vault, rp, svc.clock.now())
    if until is None:
        return False
    if refs is None:
        with svc.store.transaction() as txn:
            refs = point_packs(txn, rp)
    for key in _keys(rp, refs):
        blobs.retain(key, until)  # type: ignore[attr-defined]
    with svc.store.transaction() as txn:
        current = txn.get("recovery_point", rp["id"])
        if current is not None:
            current["object_lock_until"] = max(until, float(current.get("object_lock_until") or 0.0))
            txn.update("recovery_point", rp["id"], current)
    return True


def lock_committed(svc: Service, rp: dict[str, Any], refs: list[str] | None) -> None:
    """At a point's commit (its packs: ``refs``): lock it now if its vault is in compliance; a store that fails is
    retried by the next maintenance pass (the point is committed either way)."""
    if not getattr(storage.blobs_of(svc), "object_lock", False):
        return
    try:
        with svc.store.transaction() as txn:
            vault = require_vault(txn, rp["vault_id"])
        lock_point(svc, dict(vault), rp, refs)
    except VaultlinkError as exc:
        log.warning("object lock of recovery point %s deferred to the maintenance pass: %s", rp["id"], exc)


def lock_vault(svc: Service, vault_id: str) -> int:
    """Every point of the vault whose lock is due (the maintenance pass); how many were locked."""
    if not getattr(storage.blobs_of(svc), "object_lock", False):
        return 0
    with svc.store.transaction() as txn:
        vault = require_vault(txn, vault_id)
        points = txn.find("recovery_point", parent_id=vault_id)
    return sum(1 for rp in points if lock_point(svc, dict(vault), rp))  # lock_point skips what is not due
