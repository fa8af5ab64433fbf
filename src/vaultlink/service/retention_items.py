"""Soft delete of whole protected items and machines (containers), as Azure Backup's "stop protection and
delete data" and "unregister": every recovery point of the item (or of every item of the machine) is
soft-deleted with it and comes back with it; the vault lock is checked for every point first (all or
nothing). A soft-deleted machine's credential is refused (``ContainerSoftDeleted``) and a soft-deleted
item takes no new backup (``ItemSoftDeleted``) until undeleted. The maintenance pass purges them after
the vault's soft-delete days: records, points and, for a machine, every blob of its namespace."""

from __future__ import annotations

from typing import Any, cast

from vaultlink.domain import retention as R
from vaultlink.domain.cursor import check_whole, page_request
from vaultlink.domain.plans import check_tags
from vaultlink.domain.point_packs import delete_point
from vaultlink.domain.records import (
    ContainerRecord,
    RecoveryPointRecord,
    VaultRecord,
    find_containers,
    find_points,
    read_vault,
)
from vaultlink.errors import NotFound, NotSoftDeleted
from vaultlink.ports import Txn
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.dataplane import queue, storage
from vaultlink.service.dataplane.containers import machine_of, public_container, vault_machine
from vaultlink.service.events import ContainersChanged
from vaultlink.service.retention import drop_manifest
from vaultlink.service.vaults import find_vault, vault_scope


def _soft_delete_all(txn: Txn, vault: VaultRecord, points: list[RecoveryPointRecord], tag: str,
                     now: float) -> tuple[bool, list[RecoveryPointRecord]]:
    """Soft-delete (or, with soft delete off, delete) ``points`` after the lock allowed every one of them;
    returns (soft, points removed for good)."""
    live = [p for p in points if not R.is_soft_deleted(p)]
    for p in live:
        R.check_delete(p, vault.get("lock"), now)
    settings = R.soft_delete_of(vault)
    gone = []
    for p in live:
        if R.soft_delete(p, settings, now):
            p["deleted_with"] = tag
            txn.update("recovery_point", p["id"], p)
        else:
            delete_point(txn, p["id"])
            gone.append(p)
    return settings["state"] != "Disabled", gone


def _mark(rec: dict[str, Any], vault: VaultRecord, now: float) -> None:
    rec.update(status="SoftDeleted", deleted=now, purge_after=now + R.soft_delete_of(vault)["days"] * R.DAY)


def _item(txn: Txn, caller: Caller, item_id: str, permission: str = "backup.operate"
          ) -> tuple[dict[str, Any], VaultRecord]:
    item = txn.get("protected_item", item_id)
    vault = read_vault(txn, item["vault_id"]) if item else None
    if item is None or vault is None:
        raise NotFound(f"protected item {item_id!r} does not exist; `vaultlink item list VAULT`.", field="item")
    authorize(txn, caller, permission, vault_scope(vault))
    return item, vault


def _drop_manifests(svc: Service, points: list[RecoveryPointRecord]) -> None:
    for rp in points:
        drop_manifest(svc, rp)


def get_item(svc: Service, caller: Caller, item_id: str) -> dict[str, Any]:
    """One protected item (its machine and paths), if the caller may read its vault."""
    with svc.store.transaction() as txn:
        item, vault = _item(txn, caller, item_id, "backup.read")
    return {**item, "vault_name": vault["name"], "status": item.get("status", "Protected")}


def list_items(svc: Service, caller: Caller, vault_ref: str, container: str | None = None, limit: int | None = None,
               after: str | None = None) -> list[dict[str, Any]]:
    """A vault's protected items (of machine ``container``), oldest first, each with its count of points: with
    ``limit`` a page after the cursor ``after`` (as the job listing), without it every one while there are at most
    ``cursor.MAX_UNPAGED``. The database picks them in one query (not one a machine)."""
    take, start = page_request(limit, after)
    with svc.store.transaction() as txn:
        vault = find_vault(txn, vault_ref, caller.account_id)
        authorize(txn, caller, "backup.read", vault_scope(vault))
        found = machine_of(txn, vault["id"], container) if container is not None else None
        if container is not None and found is None:
            return []
        items = _items(txn, vault, take, start, found["id"] if found is not None else None)
        check_whole(limit, items, "items")
        counts = txn.tally("recovery_point", "protected_item_id", parent_id=vault["id"]) if items else {}
        return [{**it, "status": it.get("status", "Protected"), "recovery_points": counts.get(it["id"], 0)}
                for it in items]


def items_after(svc: Service, caller: Caller, vault_ref: str, after: tuple[float, str],
                limit: int) -> list[dict[str, Any]]:
    """A vault's protected items after ``after`` in the order of ``(created, id)``, the first ``limit`` of them,
    picked by the database (``ListProtectedResources`` from its cursor: every page read every item before)."""
    with svc.store.transaction() as txn:
        vault = find_vault(txn, vault_ref, caller.account_id)
        authorize(txn, caller, "backup.read", vault_scope(vault))
        return _items(txn, vault, limit, after)


def _items(txn: Txn, vault: VaultRecord, limit: int, after: tuple[float, str] | None,
           container_id: str | None = None) -> list[dict[str, Any]]:
    """The vault's items (of one machine), oldest first from ``after``: one query, not one a machine."""
    match = {"vault_id": vault["id"], **({"container_id": container_id} if container_id else {})}
    return txn.oldest("protected_item", "created", limit, after=after, match=match, account_id=vault["account_id"])


def delete_item(svc: Service, caller: Caller, item_id: str) -> dict[str, Any]:
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        item, vault = _item(txn, caller, item_id)
        if item.get("status") == "SoftDeleted":
            return item
        points = find_points(txn, vault["id"], "protected_item_id", item_id)
        soft, gone = _soft_delete_all(txn, vault, points, item_id, now)
        if soft:
            _mark(item, vault, now)
            txn.update("protected_item", item_id, item)
        else:
            txn.delete("protected_item", item_id)
            item["status"] = "Deleted"
    _drop_manifests(svc, gone)
    return item


def undelete_item(svc: Service, caller: Caller, item_id: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        item, vault = _item(txn, caller, item_id)
        if item.get("status") != "SoftDeleted":
            raise NotSoftDeleted(f"protected item {item_id} is not soft-deleted.")
        c = txn.get("container", item["container_id"]) or {}
        if c.get("status") == "SoftDeleted":
            raise NotSoftDeleted(f"its machine {c.get('hostname')} is soft-deleted: undelete the machine instead.")
        for p in find_points(txn, vault["id"], "protected_item_id", item_id):
            if p.get("deleted_with") == item_id:
                R.undelete(p)
                txn.update("recovery_point", p["id"], p)
        item.update(status="Protected", deleted=None, purge_after=None)
        txn.update("protected_item", item_id, item)
        return item


def tag_container(svc: Service, caller: Caller, vault_ref: str, ref: str, tags: Any) -> dict[str, Any]:
    """Replace a machine's tags (backup-plan selections choose machines by them)."""
    clean = check_tags(tags)
    with svc.store.transaction() as txn:
        c, _vault = vault_machine(txn, caller, vault_ref, ref, "backup.operate")
        c["tags"] = clean
        txn.update("container", c["id"], c)
    return public_container(cast(ContainerRecord, c))


def delete_container(svc: Service, caller: Caller, vault_ref: str, ref: str) -> dict[str, Any]:
    """Unregister a machine and soft-delete its data (every item, every point)."""
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        c, vault = vault_machine(txn, caller, vault_ref, ref, "backup.operate")
        if c.get("status") == "SoftDeleted":
            return public_container(cast(ContainerRecord, c))
        soft, gone = _soft_delete_all(txn, vault, find_points(txn, vault["id"], "container_id", c["id"]), c["id"], now)
        for it in txn.find("protected_item", parent_id=c["id"]):
            if soft:
                if it.get("status") != "SoftDeleted":
                    _mark(it, vault, now)
                    it["deleted_with"] = c["id"]
                    txn.update("protected_item", it["id"], it)
            else:
                txn.delete("protected_item", it["id"])
        _mark(c, vault, now)
        txn.update("container", c["id"], c)
    _drop_manifests(svc, gone)
    svc.fire(ContainersChanged())
    if not soft:
        purge_container(svc, c["id"])
        c["status"] = "Deleted"
    return public_container(cast(ContainerRecord, c))


def undelete_container(svc: Service, caller: Caller, vault_ref: str, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        c, vault = vault_machine(txn, caller, vault_ref, ref, "backup.operate")
        if c.get("status") != "SoftDeleted":
            raise NotSoftDeleted(f"machine {c.get('hostname')} is not soft-deleted.")
        for p in find_points(txn, vault["id"], "container_id", c["id"]):
            if p.get("deleted_with") == c["id"]:
                R.undelete(p)
                txn.update("recovery_point", p["id"], p)
        for it in txn.find("protected_item", parent_id=c["id"]):
            if it.get("deleted_with") == c["id"]:
                it.update(status="Protected", deleted=None, purge_after=None, deleted_with=None)
                txn.update("protected_item", it["id"], it)
        c.update(status="Registered", deleted=None, purge_after=None)
        txn.update("container", c["id"], c)
    svc.fire(ContainersChanged())
    return public_container(cast(ContainerRecord, c))


def purge_container(svc: Service, container_id: str) -> None:
    """Remove a machine for good: its records, chunk-index rows and every blob of its namespace."""
    with svc.store.transaction() as txn:
        c = txn.get("container", container_id)
        if c is None:
            return
        vault = read_vault(txn, c["vault_id"])
        for p in find_points(txn, c["vault_id"], "container_id", container_id):
            delete_point(txn, p["id"])
        for it in txn.find("protected_item", parent_id=container_id):
            txn.delete("protected_item", it["id"])
        queue.drop_items(txn, storage.accounts_of(vault) if vault else [], container_id)
        txn.delete("container", container_id)
    packs = {(a, p) for a, p, _records in svc.chunks.packs(c["vault_id"], container_id)}
    svc.chunks.drop_packs(c["vault_id"], container_id, sorted(packs))
    blobs = storage.blobs_of(svc)
    for account in storage.accounts_of(vault) if vault else []:
        for key in list(blobs.list(f"vaults/{c['vault_id']}/{account}/{container_id}/")):
            storage.delete_blob(svc, vault, key)
    svc.fire(ContainersChanged())


def purge_due(svc: Service, vault_id: str, now: float) -> int:
    """Machines and items whose soft-delete days passed: removed for good (the maintenance pass)."""
    purged = 0
    machines: list[str] = []
    gone: list[RecoveryPointRecord] = []
    with svc.store.transaction() as txn:
        for c in find_containers(txn, parent_id=vault_id):
            if c.get("status") == "SoftDeleted" and float(cast(dict[str, Any], c).get("purge_after") or 0) <= now:
                machines.append(c["id"])
            for it in txn.find("protected_item", parent_id=c["id"]):
                if it.get("status") == "SoftDeleted" and float(it.get("purge_after") or 0) <= now and \
                        c.get("status") != "SoftDeleted":
                    for p in find_points(txn, vault_id, "protected_item_id", it["id"]):
                        delete_point(txn, p["id"])
                        gone.append(p)
                    txn.delete("protected_item", it["id"])
                    purged += 1
    _drop_manifests(svc, gone)
    for cid in machines:
        purge_container(svc, cid)
    return purged + len(machines)
