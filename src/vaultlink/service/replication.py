"""Cross-region restore: a vault's backup data replicated to its paired region, asynchronously.

A vault with cross-region restore enabled keeps a copy of every blob in its paired (secondary) region: in
the replica blob store (``Service.replica``, config ``replica_blob_url``), under
``<secondary region>/vaults/<vault>/<account>/<container>/<name>``. A pass (the runtime's every
``replication_interval`` seconds, or ``vaultlink vault replicate VAULT`` now) takes the vault's recovery
points not yet replicated, copies every blob of the vault's primary storage the replica lacks (blobs are
write-once: a name present is complete), and only then marks those points ``replicated_at``: a point's
blobs are all stored before it is committed, so every point read before the listing is whole in the
replica. The secondary region offers only replicated points.

The paired region's names (``<vault>.<secondary geo>.backup.D``, ``<account>-secondary.blob.D``) serve
the replica through ``AzureBackup_secondary`` endpoints: reads only (``DataContext.secondary``).
Deletions by the service (purge, prune) remove the replica's copy too (``storage.delete_blob``).
"""

from __future__ import annotations

from typing import Any, cast

from vaultlink.domain.records import (
    ContainerRecord,
    RecoveryPointRecord,
    VaultRecord,
    find_vaults,
    require_vault,
)
from vaultlink.errors import CrossRegionRestoreDisabled, NotFound, NotReplicated
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.dataplane import storage
from vaultlink.service.vaults import find_vault, vault_scope

MAX_BLOB_BYTES = 1 << 30  # a blob larger than this is not a blob this service wrote


def enabled(vault: VaultRecord | dict[str, Any]) -> bool:
    return bool(vault.get("secondary_region")) and vault.get("cross_region_restore") == "Enabled"


def replicate_vault(svc: Service, vault_id: str) -> dict[str, int]:
    """One pass over one vault: copy what the replica lacks, then mark the points it made whole."""
    out = {"replicated_points": 0, "copied_blobs": 0, "copied_bytes": 0}
    with svc.store.transaction() as txn:
        vault = cast("VaultRecord | None", txn.get("vault", vault_id))
        if vault is None or not enabled(vault):
            return out
        lacking = txn.lacking("recovery_point", "replicated_at", parent_id=vault_id)
    pending = [rp["id"] for rp in lacking]
    # only the machines with a point pending: a machine's new blobs belong to its next point (listing every
    # machine's storage in both regions after each backup cost a pass time in proportion to the whole vault)
    containers = sorted({str(rp["container_id"]) for rp in lacking})
    if not pending:
        return out
    region = str(vault["secondary_region"])
    primary, replica = storage.blobs_of(svc), storage.replica_of(svc)
    for account in storage.accounts_of(vault):
        for cid in containers:
            base = f"vaults/{vault_id}/{account}/{cid}/"
            have = set(replica.list(storage.replica_key(region, base)))
            for key in primary.list(base):
                if svc.stopping.is_set():  # the server stops: the points stay pending, the next pass goes on
                    return out
                target = storage.replica_key(region, key)
                if target in have:
                    continue
                try:
                    data = primary.get(key)
                except NotFound:  # pruned meanwhile: no point this pass marks needs it
                    continue
                replica.put(target, data)
                out["copied_blobs"] += 1
                out["copied_bytes"] += len(data)
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        for rp_id in pending:
            rec = txn.get("recovery_point", rp_id)
            if rec is not None and not rec.get("replicated_at"):
                rec["replicated_at"] = now
                txn.update("recovery_point", rp_id, rec)
                out["replicated_points"] += 1
    return out


def replicate_all(svc: Service) -> dict[str, int]:
    """The runtime's periodic pass: every vault with cross-region restore enabled."""
    total = {"replicated_points": 0, "copied_blobs": 0, "copied_bytes": 0}
    with svc.store.transaction() as txn:
        ids = [v["id"] for v in find_vaults(txn) if enabled(v)]
    for vid in ids:
        if svc.stopping.is_set():
            break
        for k, v in replicate_vault(svc, vid).items():
            total[k] += v
    return total


def replicate_now(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    """``vaultlink vault replicate VAULT``: a replication pass for one vault, now."""
    with svc.store.transaction() as txn:
        vault = find_vault(txn, ref, caller.account_id)
        authorize(txn, caller, "vault.write", vault_scope(vault))
    check_offered_vault(vault)
    out = replicate_vault(svc, vault["id"])
    return {"vault": vault["name"], **out, "replication": status(svc, vault)}


def status(svc: Service, vault: VaultRecord | dict[str, Any]) -> dict[str, Any] | None:
    """What ``vault show`` says of replication: the paired region, the last replicated point, the lag."""
    if not enabled(vault):
        return None
    with svc.store.transaction() as txn:  # the database picks: the waiting points, then the newest replicated
        waiting = txn.lacking("recovery_point", "replicated_at", parent_id=vault["id"])
        # at most len(waiting) points are newer than the newest replicated one
        newest = txn.newest("recovery_point", "created", len(waiting) + 1, parent_id=vault["id"])
    last = next((p for p in newest if p.get("replicated_at")), None)
    now = svc.clock.now()
    return {
        "secondary_region": vault["secondary_region"],
        "state": "Replicating" if waiting else "UpToDate",
        "pending_points": len(waiting),
        "lag_seconds": round(max((now - float(p["created"]) for p in waiting), default=0.0), 3),
        "last_replicated_point": last["id"] if last else None,
        "last_replicated_at": last.get("replicated_at") if last else None,
    }


def secondary_view(svc: Service, container: ContainerRecord) -> ContainerRecord:
    """A machine's record as a request through the paired region's names sees it: reading the replica
    (``read_region``), and under a restore grant only a point replicated there."""
    with svc.store.transaction() as txn:
        vault = require_vault(txn, container["vault_id"])
        grant = container.get("grant")
        rp = txn.get("recovery_point", grant["recovery_point_id"]) if grant else None
    check_offered_vault(vault)
    if rp is not None:
        check_offered(vault, rp)
    out = cast(ContainerRecord, dict(container))
    out["read_region"] = str(vault["secondary_region"])
    return out


def with_status(svc: Service, shown: dict[str, Any]) -> dict[str, Any]:
    """``vault show``: the vault with its replication status (None when it does not replicate)."""
    shown["replication"] = status(svc, shown)
    return shown


def check_offered_vault(vault: VaultRecord | dict[str, Any]) -> None:
    if not enabled(vault):
        raise CrossRegionRestoreDisabled(
            f"vault {vault.get('name')} has cross-region restore disabled: its paired region holds no data; "
            f"enable it (`vaultlink vault update {vault.get('name')} --cross-region-restore Enabled`).")


def check_offered(vault: VaultRecord | dict[str, Any], rp: RecoveryPointRecord | dict[str, Any]) -> None:
    """Through the paired region, only a replicated point of a vault that replicates."""
    check_offered_vault(vault)
    if not rp.get("replicated_at"):
        raise NotReplicated(
            f"recovery point {rp['id']} is not replicated to {vault.get('secondary_region')} yet; restore it in "
            "the primary region, or wait for replication (`vaultlink vault show` gives the lag).")
