"""Vault handlers: create, list, show, update, delete."""

from __future__ import annotations

import time
from typing import Any, cast

from vaultlink.domain import retention
from vaultlink.domain.identity import Scope, check_name, new_id
from vaultlink.domain.records import VaultRecord, find_vaults, read_vault
from vaultlink.domain.vaults import check_toggle, new_protection_history, vault_arn
from vaultlink.domain.vaults import public_view as _public_view
from vaultlink.errors import InvalidInput, NotFound, VaultLocked, VaultNotEmpty
from vaultlink.ports import Txn
from vaultlink.service.core import Caller, Service, allowed, authorize
from vaultlink.service.events import VaultDeleting, VaultsChanged
from vaultlink.service.identity import resolve_account
from vaultlink.service.vault_identity import create_identity, delete_identity


def public_view(vault: VaultRecord, now: float | None = None) -> dict[str, Any]:
    """A vault as users see it, with its soft delete, lock and immutability settings."""
    return {**_public_view(vault), **retention.protection_view(vault, time.time() if now is None else now)}


def lookup_vault(txn: Txn, ref: str, account_id: str) -> VaultRecord | None:
    """A vault by id, by ARN (``arn:…:backup:REGION:ACCOUNT:backup-vault:NAME``) or by name within
    ``account_id``; None when there is none. Callers check rights on what they find."""
    if ref.startswith("arn:"):
        parts = ref.split(":", 6)
        if len(parts) == 7 and parts[2] == "backup" and parts[5] == "backup-vault":
            found = find_vaults(txn, account_id=parts[4], name=parts[6])
            if found and found[0].get("arn") == ref:
                return cast(VaultRecord, found[0])
        return None
    rec = read_vault(txn, ref)
    if rec is not None:
        return cast(VaultRecord, rec)
    found = find_vaults(txn, account_id=account_id, name=ref)
    return cast(VaultRecord, found[0]) if found else None


def find_vault(txn: Txn, ref: str, account_id: str) -> VaultRecord:
    """A vault by id, ARN or by name within ``account_id``."""
    rec = lookup_vault(txn, ref, account_id)
    if rec is not None:
        return rec
    raise NotFound(f"vault {ref!r} does not exist; `vaultlink vault list` shows your vaults.", field="vault")


def vault_scope(vault: VaultRecord) -> Scope:
    return Scope(vault["account_id"], "vault", vault["id"])


def create_vault(
    svc: Service,
    caller: Caller,
    name: str,
    region: str,
    public_network_access: Any = "Enabled",
    cross_region_restore: Any = "Disabled",
    tags: dict[str, str] | None = None,
    account_id: str | None = None,
    resource_group: str | None = None,
) -> dict[str, Any]:
    """A new vault; ``resource_group``: the ARM resource group it is in (``service/resource_groups.py``)."""
    check_name(name, "name", "vault name")
    reg = svc.catalog.get(region)
    pna = check_toggle(public_network_access, "public_network_access")
    crr = check_toggle(cross_region_restore, "cross_region_restore")
    if crr == "Enabled" and not reg.paired:
        raise InvalidInput(
            f"region {region} has no paired region, so cross-region restore cannot be enabled; "
            "pick a region with a pair (`vaultlink region list`).",
            field="cross_region_restore",
        )
    _check_tags(tags)
    acct = resolve_account(caller, account_id)
    with svc.store.transaction() as txn:
        txn.require("account", acct)
        authorize(txn, caller, "vault.write", Scope(acct))
        vid = new_id("v")
        rec: VaultRecord = {
            "id": vid,
            "account_id": acct,
            "parent_id": "",
            "name": name,
            "arn": vault_arn(reg.partition.name, reg.name, acct, name),
            "region": reg.name,
            "geo": reg.geo,
            "secondary_region": reg.paired,
            "public_network_access": pna,
            "cross_region_restore": crr,
            "protection_history": new_protection_history(),
            "storage_accounts": [],
            "tags": dict(tags or {}),
            "created": svc.clock.now(),
            "owner": caller.arn,
        }
        if resource_group is not None:
            rec["resource_group"] = resource_group
        create_identity(txn, svc, rec)
        txn.insert("vault", vid, rec)
    svc.fire(VaultsChanged())
    return public_view(rec)


def _check_tags(tags: Any) -> None:
    if tags is None:
        return
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise InvalidInput("tags must be an object of string keys to string values.", field="tags")
    if len(tags) > 50:
        raise InvalidInput("at most 50 tags.", field="tags")


def list_vaults(svc: Service, caller: Caller, account_id: str | None = None) -> list[dict[str, Any]]:
    acct = resolve_account(caller, account_id)
    with svc.store.transaction() as txn:
        return [
            public_view(v)
            for v in find_vaults(txn, account_id=acct)
            if allowed(txn, caller, "vault.read", vault_scope(v))
        ]


def get_vault(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        v = find_vault(txn, ref, caller.account_id)
        authorize(txn, caller, "vault.read", vault_scope(v))
        out = public_view(v)
        out["recovery_points"] = txn.count("recovery_point", parent_id=v["id"])
        return out


def update_vault(svc: Service, caller: Caller, ref: str, changes: dict[str, Any]) -> dict[str, Any]:
    allowed_keys = {"public_network_access", "cross_region_restore", "tags", "soft_delete", "soft_delete_days",
                    "default_retention_days", "immutability"}
    unknown = set(changes) - allowed_keys
    if unknown:
        field = sorted(unknown)[0]
        read_only = {"protection_history", "region", "id", "name", "storage_accounts", "identity"}
        why = "is read-only" if field in read_only else "is not a vault property"
        raise InvalidInput(f"{field} {why}; you can change: {', '.join(sorted(allowed_keys))}.", field=field)
    with svc.store.transaction() as txn:
        v = find_vault(txn, ref, caller.account_id)
        authorize(txn, caller, "vault.write", vault_scope(v))
        if "public_network_access" in changes:
            v["public_network_access"] = check_toggle(
                changes["public_network_access"], "public_network_access"
            )
        if "cross_region_restore" in changes:
            crr = check_toggle(changes["cross_region_restore"], "cross_region_restore")
            if crr == "Enabled" and not v.get("secondary_region"):
                raise InvalidInput(
                    f"region {v['region']} has no paired region.", field="cross_region_restore"
                )
            v["cross_region_restore"] = crr
        if "tags" in changes:
            _check_tags(changes["tags"])
            v["tags"] = dict(changes["tags"] or {})
        retention.apply_settings(v, changes, svc.clock.now())
        txn.update("vault", v["id"], v)
    svc.fire(VaultsChanged())
    return public_view(v, svc.clock.now())


def delete_vault(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        v = find_vault(txn, ref, caller.account_id)
        authorize(txn, caller, "vault.delete", vault_scope(v))
        rps = txn.find("recovery_point", parent_id=v["id"])
        lock = v.get("lock")
        if rps and lock is not None and retention.lock_mode(lock, svc.clock.now()) == "compliance":
            raise VaultLocked(f"vault {v['name']} is locked in compliance mode and holds {len(rps)} recovery "
                              "point(s): it can be deleted once their retention has ended and they are gone.")
        if rps:
            soft = sum(1 for r in rps if r.get("status") == "SoftDeleted")
            raise VaultNotEmpty(
                f"vault {v['name']} holds {len(rps)} recovery point(s)"
                + (f", {soft} of them soft-deleted (kept until their soft-delete days pass)" if soft else "")
                + "; delete them first (`vaultlink recovery-point delete`), then delete the vault.",
                recovery_points=len(rps), soft_deleted=soft,
            )
        svc.fire(VaultDeleting(txn, v))
        delete_identity(txn, v)
        txn.delete("vault", v["id"])
    svc.fire(VaultsChanged(deleted=v["id"]))
    return {"id": v["id"], "name": v["name"], "deleted": True}
