"""Soft delete, vault lock and lifecycles of recovery points (management API), and the service's own
expiry of points (the maintenance pass). The rules are in ``domain/retention.py``; this module reads and
writes records and blobs."""

from __future__ import annotations

import contextlib
from typing import Any, cast

from vaultlink.domain import retention as R
from vaultlink.domain.point_packs import delete_point
from vaultlink.domain.records import RecoveryPointRecord, VaultRecord, read_vault
from vaultlink.errors import NotSoftDeleted, RecoveryPointNotFound
from vaultlink.ports import Txn
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.dataplane import storage
from vaultlink.service.events import VaultsChanged
from vaultlink.service.vaults import find_vault, vault_scope


def _vault(svc: Service, txn: Txn, caller: Caller, ref: str, permission: str) -> VaultRecord:
    vault = find_vault(txn, ref, caller.account_id)
    authorize(txn, caller, permission, vault_scope(vault))
    return vault


def get_lock(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        vault = _vault(svc, txn, caller, ref, "vault.read")
    return {"vault": vault["name"], **R.protection_view(vault, svc.clock.now())}


def put_lock(svc: Service, caller: Caller, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        vault = _vault(svc, txn, caller, ref, "vault.write")
        lock = R.put_lock(vault.get("lock"), now, body.get("min_retention_days"), body.get("max_retention_days"),
                          body.get("changeable_for_days"))
        if vault.get("default_retention_days") is not None:
            R.check_retention(vault.get("default_retention_days"), lock)
        vault["lock"] = lock
        txn.update("vault", vault["id"], vault)
    svc.fire(VaultsChanged())
    return {"vault": vault["name"], **R.protection_view(vault, now)}


def delete_lock(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        vault = _vault(svc, txn, caller, ref, "vault.write")
        R.remove_lock(vault.get("lock"), now)
        vault["lock"] = None
        txn.update("vault", vault["id"], vault)
    svc.fire(VaultsChanged())
    return {"vault": vault["name"], **R.protection_view(vault, now)}


# --- recovery points ---------------------------------------------------------------------------------
def _point(txn: Txn, caller: Caller, rp_id: str, permission: str) -> tuple[RecoveryPointRecord, VaultRecord]:
    rp = cast("RecoveryPointRecord | None", txn.get("recovery_point", rp_id))
    vault = read_vault(txn, rp["vault_id"]) if rp is not None else None
    if rp is None or vault is None:
        raise RecoveryPointNotFound(f"recovery point {rp_id!r} does not exist; `vaultlink recovery-point list VAULT`.")
    authorize(txn, caller, permission, vault_scope(vault))
    return rp, vault


def drop_manifest(svc: Service, rp: RecoveryPointRecord) -> None:
    """Delete a point's manifest blob (the point is gone for good; its packs go at the next prune)."""
    if svc.blobs is not None:
        with svc.store.transaction() as txn:
            vault = read_vault(txn, rp["vault_id"])
        with contextlib.suppress(Exception):  # its data is unreferenced either way: prune sweeps it later
            storage.delete_blob(svc, vault, storage.blob_key(rp["vault_id"], rp["storage_account"],
                                                             rp["container_id"], rp["manifest"]))


def delete_recovery_point(svc: Service, caller: Caller, rp_id: str) -> dict[str, Any]:
    """Delete a point: refused while the vault lock keeps it; soft-deleted when the vault's soft delete is on
    (its data stays until ``purge_after``), removed for good otherwise (its packs go at the next prune)."""
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        rp, vault = _point(txn, caller, rp_id, "backup.operate")
        if R.is_soft_deleted(rp):
            return {"id": rp_id, "deleted": True, "status": "SoftDeleted", "purge_after": rp.get("purge_after")}
        R.check_delete(rp, vault.get("lock"), now)
        if R.soft_delete(rp, R.soft_delete_of(vault), now):
            txn.update("recovery_point", rp_id, rp)
            return {"id": rp_id, "deleted": True, "status": "SoftDeleted", "purge_after": rp["purge_after"]}
        delete_point(txn, rp_id)
    drop_manifest(svc, rp)
    return {"id": rp_id, "deleted": True, "status": "Deleted"}


def undelete_recovery_point(svc: Service, caller: Caller, rp_id: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        rp, _vault = _point(txn, caller, rp_id, "backup.operate")
        owner = rp.get("deleted_with")
        if owner and R.is_soft_deleted(rp):
            kind = "container" if owner == rp["container_id"] else "protected_item"
            if (txn.get(kind, str(owner)) or {}).get("status") == "SoftDeleted":
                raise NotSoftDeleted(f"recovery point {rp_id} was deleted with its {kind.replace('_', ' ')} "
                                     f"{owner}: undelete that instead.")
        R.undelete(rp)
        txn.update("recovery_point", rp_id, rp)
    return dict(rp)


def update_lifecycle(svc: Service, caller: Caller, rp_id: str, days: Any) -> dict[str, Any]:
    """AWS ``UpdateRecoveryPointLifecycle``: delete the point ``days`` after it was taken (None: keep)."""
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        rp, vault = _point(txn, caller, rp_id, "backup.operate")
        d = R.retention_days(days)
        R.check_lifecycle_change(rp, d, vault.get("lock"), now)
        rp["expires"] = R.expires_at(float(rp["time"]), d)
        txn.update("recovery_point", rp_id, rp)
    return dict(rp)


def lifecycle_for_new_point(vault: VaultRecord, days: int | None, time: float) -> float | None:
    """The expiry of a point being committed (its rule's lifecycle, else the vault's default), checked
    against the lock."""
    d = days if days is not None else vault.get("default_retention_days")
    R.check_retention(d, vault.get("lock"))
    return R.expires_at(time, d)


def expire_and_purge(svc: Service, vault_id: str, now: float) -> dict[str, int]:
    """The service's own deletions: points whose lifecycle ended (for good: a lifecycle is the retention the
    owner chose, as in both clouds), and soft-deleted points whose soft-delete days passed."""
    gone: list[RecoveryPointRecord] = []
    expired = purged = 0
    with svc.store.transaction() as txn:
        for rec in txn.find("recovery_point", parent_id=vault_id):
            rp = cast(RecoveryPointRecord, rec)
            if R.is_soft_deleted(rp) and float(rp.get("purge_after") or 0) <= now:
                purged += 1
            elif not R.is_soft_deleted(rp) and rp.get("expires") is not None and float(rp["expires"] or 0) <= now:
                expired += 1
            else:
                continue
            delete_point(txn, rp["id"])
            gone.append(rp)
    for rp in gone:
        drop_manifest(svc, rp)
    return {"expired": expired, "purged": purged}
