"""The service's own maintenance pass: expire recovery points whose lifecycle ended, purge soft-deleted
points whose days passed, prune unreferenced packs. The runtime runs it every ``maintenance_interval``
seconds; ``vaultlink vault prune VAULT`` runs it for one vault now. Each deletion is audited."""

from __future__ import annotations

from typing import Any

from vaultlink.domain.records import find_vaults
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.object_lock import lock_vault
from vaultlink.service.prune import prune_vault, usage
from vaultlink.service.retention import expire_and_purge
from vaultlink.service.retention_items import purge_due
from vaultlink.service.vaults import find_vault, vault_scope
from vaultlink.service.wal_retention import prune_wal

SERVICE_PRINCIPAL = "vaultlink:service"


def maintain_vault(svc: Service, vault_id: str, account_id: str) -> dict[str, Any]:
    now = svc.clock.now()
    out: dict[str, Any] = dict(expire_and_purge(svc, vault_id, now))
    out["purged_items"] = purge_due(svc, vault_id, now)
    out.update((svc.prune_runner or prune_vault)(svc, vault_id, now, svc.config.prune_grace_seconds))
    out["object_locked"] = lock_vault(svc, vault_id)
    out["wal_pruned"] = prune_wal(svc, vault_id)
    for action, key in (("recovery.expire", "expired"), ("recovery.purge", "purged"),
                        ("item.purge", "purged_items"), ("vault.prune", "swept"),
                        ("recovery.object_lock", "object_locked"), ("recovery.wal_prune", "wal_pruned")):
        if out.get(key):
            svc.audit.emit({"plane": "service", "action": action, "principal": SERVICE_PRINCIPAL,
                            "account_id": account_id, "vault": vault_id, "target": vault_id,
                            "decision": "allowed", "message": f"{key} {out[key]}"
                            + (f" ({out['swept_bytes']} bytes)" if key == "swept" else "")})
    return out


def maintain_all(svc: Service) -> dict[str, int]:
    """One pass over every vault (the runtime's periodic task)."""
    total: dict[str, int] = {}
    with svc.store.transaction() as txn:
        vaults = [(v["id"], v["account_id"]) for v in find_vaults(txn)]
    for vault_id, account_id in vaults:
        for k, v in maintain_vault(svc, vault_id, account_id).items():
            total[k] = total.get(k, 0) + int(v)
    return total


def prune_now(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    """``vaultlink vault prune``: the maintenance pass for one vault, now (then its usage)."""
    with svc.store.transaction() as txn:
        vault = find_vault(txn, ref, caller.account_id)
        authorize(txn, caller, "vault.write", vault_scope(vault))
    out = maintain_vault(svc, vault["id"], vault["account_id"])
    return {"vault": vault["name"], **out, "usage": usage(svc, vault["id"])}


def vault_usage(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        vault = find_vault(txn, ref, caller.account_id)
        authorize(txn, caller, "vault.read", vault_scope(vault))
        points = txn.find("recovery_point", parent_id=vault["id"])
    soft = sum(1 for p in points if p.get("status") == "SoftDeleted")
    return {"vault": vault["name"], "recovery_points": len(points) - soft, "soft_deleted_points": soft,
            **usage(svc, vault["id"])}
