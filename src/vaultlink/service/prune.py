"""Prune: the service removes packs that no recovery point references, without reading any backup.

The service cannot read manifests, so every recovery point registers, when it is committed, the packs
its chunks live in (``point_packs``: pack names reveal nothing). A container's pack is
*reclaimable* when no point of the container references it: live and soft-deleted points both count.

Two phases, safe against a backup running at the same moment:

1. **Mark.** Each pass records when each stored pack was first seen unreferenced
   (``container["condemned"]``); a pack referenced again (by a point committed meanwhile) is forgiven.
2. **Sweep.** Packs unreferenced for the grace period are swept, but only while the container has no
   backup job in progress (the fence: a running backup may have deduplicated against them or uploaded
   them and not committed yet). The sweep first writes its list as a lease on the container (a crash
   resumes it; new backup jobs wait with ``PruneInProgress``), then forgets the packs' chunk-index rows
   (no later backup deduplicates against them), deletes the blobs, and clears the lease.

A backup committing a point re-checks, in its transaction, that none of its packs is leased or gone
(``PackMissing``): on SQLite transactions are serial, so a point never references a swept pack.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from vaultlink.domain.point_packs import point_packs
from vaultlink.domain.records import ContainerRecord, find_containers, find_points
from vaultlink.errors import PackMissing, PruneInProgress
from vaultlink.ports import SizedList, Txn
from vaultlink.service.core import Service
from vaultlink.service.dataplane import storage

LEASE = "prune_lease"
FENCE_SECONDS = 86400.0  # a backup job in progress for longer than this (its agent died) no longer fences
CONDEMNED = "condemned"


def pack_ref(account: str, pack: str) -> str:
    return f"{account}/{pack}"


def _split(ref: str) -> tuple[str, str]:
    account, _, pack = ref.partition("/")
    return account, pack


def referenced(txn: Txn, container: ContainerRecord) -> set[str] | None:
    """Every pack any recovery point of the container references (soft-deleted points included); None when
    a point did not register its packs (made by an older agent): then nothing of the container is pruned."""
    out: set[str] = set()
    for rec in find_points(txn, container["vault_id"], "container_id", container["id"]):
        packs = point_packs(txn, rec)
        if packs is None:
            return None
        out.update(packs)
    return out


def stored_packs(svc: Service, container: ContainerRecord, accounts: Iterable[str]) -> dict[str, int]:
    """Every pack blob of the container in the vault's storage accounts, with its size."""
    blobs = cast(SizedList, storage.blobs_of(svc))  # every store of the server lists sizes (no HEAD per pack)
    out: dict[str, int] = {}
    for account in accounts:
        base = f"vaults/{container['vault_id']}/{account}/{container['id']}/"
        for key, size in blobs.sized(base + "packs/"):
            out[pack_ref(account, key[len(base):])] = size
    return out


def check_commit(txn: Txn, svc: Service, container: ContainerRecord, packs: list[str], job_start: float,
                 now: float) -> None:
    """In the transaction that commits a point: none of its packs is being swept, or was swept while the job
    ran; the ones marked unreferenced are forgiven (the new point references them).

    A job younger than the fence held every sweep of its container off while it ran, so only packs marked
    now need a look; a job older than that may have run through sweeps: each of its packs must exist."""
    rec = cast(dict[str, Any], txn.get("container", container["id"]) or {})
    leased = set((rec.get(LEASE) or {}).get("packs") or ())
    condemned: dict[str, float] = dict(rec.get(CONDEMNED) or {})
    blobs = storage.blobs_of(svc)
    old_job = job_start <= now - FENCE_SECONDS
    for ref in packs:
        account, pack = _split(ref)
        if ref in leased or ((old_job or ref in condemned) and not blobs.exists(
                storage.blob_key(container["vault_id"], account, container["id"], pack))):
            raise PackMissing(f"{pack} was pruned while this backup ran; run the backup again (it uploads it anew).",
                              field="pack_refs")
    forgiven = condemned.keys() & set(packs)
    if forgiven:
        for ref in forgiven:
            del condemned[ref]
        rec[CONDEMNED] = condemned
        txn.update("container", container["id"], rec)


def refuse_during_sweep(txn: Txn, container_id: str) -> None:
    """A backup job does not start while the container's packs are being swept (the agent retries)."""
    rec = txn.get("container", container_id) or {}
    if rec.get(LEASE):
        raise PruneInProgress()


def prune_container(svc: Service, container_id: str, now: float, grace: float) -> dict[str, int]:
    """One mark-and-sweep pass over one container; returns counts and bytes."""
    stats = {"swept": 0, "swept_bytes": 0, "condemned": 0, "resumed": 0, "unknown": 0}
    with svc.store.transaction() as txn:
        c = cast("ContainerRecord | None", txn.get("container", container_id))
        if c is None:
            return stats
        lease = (cast(dict[str, Any], c).get(LEASE) or {}).get("packs")
    with svc.store.transaction() as txn:
        vault = cast(dict[str, Any], txn.require("vault", c["vault_id"]))
        accounts = storage.accounts_of(cast(Any, vault))
    if lease:  # a sweep that a crash interrupted: finish it first
        stats["resumed"] = len(lease)
        _sweep(svc, vault, c, list(lease), stats)
    sizes = stored_packs(svc, c, accounts)
    with svc.store.transaction() as txn:
        rec = cast(dict[str, Any], txn.require("container", container_id))
        refs = referenced(txn, cast(ContainerRecord, rec))
        if refs is None:
            stats["unknown"] = 1
            return stats
        old: dict[str, float] = dict(rec.get(CONDEMNED) or {})
        condemned = {ref: old.get(ref, now) for ref in sizes if ref not in refs}
        running = any(j.get("container_id") == container_id and j["type"] == "Backup"
                      and float(j["start"]) > now - FENCE_SECONDS
                      for j in txn.find("job", parent_id=rec["vault_id"], status="InProgress"))
        due = [] if running else sorted(r for r, t in condemned.items() if t + grace <= now)
        for ref in due:
            del condemned[ref]
        rec[CONDEMNED] = condemned
        if due:
            rec[LEASE] = {"packs": due, "started": now}
        txn.update("container", container_id, rec)
    stats["condemned"] = len(condemned)
    if due:
        _sweep(svc, vault, cast(ContainerRecord, rec), due, stats, sizes)
    return stats


def _sweep(svc: Service, vault: dict[str, Any], c: ContainerRecord, refs: list[str], stats: dict[str, int],
           sizes: dict[str, int] | None = None) -> None:
    svc.chunks.drop_packs(c["vault_id"], c["id"], [_split(r) for r in refs])
    for ref in refs:
        account, pack = _split(ref)
        storage.delete_blob(svc, vault, storage.blob_key(c["vault_id"], account, c["id"], pack))
        stats["swept"] += 1
        stats["swept_bytes"] += (sizes or {}).get(ref, 0)
    with svc.store.transaction() as txn:
        rec = cast(dict[str, Any], txn.get("container", c["id"]))
        if rec is not None:
            rec[LEASE] = None
            txn.update("container", c["id"], rec)


def prune_vault(svc: Service, vault_id: str, now: float, grace: float) -> dict[str, int]:
    total = {"swept": 0, "swept_bytes": 0, "condemned": 0, "resumed": 0, "unknown": 0}
    with svc.store.transaction() as txn:
        ids = [c["id"] for c in find_containers(txn, parent_id=vault_id)]
    for cid in ids:
        for k, v in prune_container(svc, cid, now, grace).items():
            total[k] += v
    return total


def usage(svc: Service, vault_id: str) -> dict[str, Any]:
    """Bytes of packs that live points need, that only soft-deleted points need, and that nothing needs. A machine
    at a time: its points' pack lists are read one by one into the sets of its packs (holding every point's list
    at once took hundreds of MB for a vault of large machines)."""
    out = {"live_bytes": 0, "soft_deleted_bytes": 0, "reclaimable_bytes": 0, "unknown_bytes": 0, "packs": 0}
    with svc.store.transaction() as txn:
        vault = cast(dict[str, Any], txn.require("vault", vault_id))
        containers = find_containers(txn, parent_id=vault_id)
    accounts = storage.accounts_of(cast(Any, vault))
    for c in containers:
        live: set[str] = set()
        soft: set[str] = set()
        known = True
        with svc.store.transaction() as txn:
            for rp in find_points(txn, vault_id, "container_id", c["id"]):
                refs = point_packs(txn, rp)
                known = known and refs is not None
                (soft if rp.get("status") == "SoftDeleted" else live).update(refs or ())
        for ref, size in stored_packs(svc, c, accounts).items():
            out["packs"] += 1
            key = ("live_bytes" if ref in live else "soft_deleted_bytes" if ref in soft
                   else "reclaimable_bytes" if known else "unknown_bytes")
            out[key] += size
    return out
