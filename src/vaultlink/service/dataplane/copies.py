"""Copy jobs (AWS ``StartCopyJob``): a recovery point copied to another vault, in any region or account.

A copy asked for is checked at once (the caller's rights on both vaults, the destination's lock) and queued:
a ``Created`` job and an entry in the point's ``copy_pending``, as a plan rule's copy action queues one. The
copy pass (``run_copies``, woken by ``WorkQueued("copies")``, one server at a time) takes each entry: the job
runs (``InProgress``), then ends ``Completed`` with the new point, or ``Failed`` with the refusal's code and
message. A pass cut by a crash, or by the server stopping (it stops between two blobs), leaves the entry
queued: the next pass copies what is missing.

The service copies what the point registered, as stored: its manifest, its packs and the source machine's
key files (the key envelope: the source's passphrase opens the copy; no key or plaintext on the server).
The copy lives in the destination vault under a copy container (one per source machine, no credential),
with the destination's own lifecycle (checked against its lock) and soft delete; it restores on its own,
onto any machine of the destination vault (``vaultlink recovery-point restore``). Blobs already there
(an earlier copy shared them) are not copied again: storage is write-once and content-addressed.
"""

from __future__ import annotations

import secrets
from typing import Any, cast

from vaultlink.domain.point_packs import point_packs, put_point_packs
from vaultlink.domain.records import RecoveryPointRecord, VaultRecord, find_containers, read_vault
from vaultlink.domain.retention import is_soft_deleted
from vaultlink.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    RecoveryPointNotFound,
    RecoveryPointSoftDeleted,
    VaultlinkError,
)
from vaultlink.policy.actions import recovery_point_arn
from vaultlink.ports import CHUNK_RECORD, Txn
from vaultlink.service.core import Caller, Service, Stopping, authorize
from vaultlink.service.dataplane import storage
from vaultlink.service.dataplane.containers import key_visible
from vaultlink.service.events import EndpointsChanged, WorkQueued
from vaultlink.service.retention import lifecycle_for_new_point
from vaultlink.service.vaults import find_vault, vault_scope

MAX_PENDING = 100  # copies queued for one point at a time: a request beyond it is refused, not queued


def _copy_container(txn: Txn, svc: Service, dest: VaultRecord, source: dict[str, Any]) -> dict[str, Any]:
    for c in find_containers(txn, parent_id=dest["id"]):
        if cast(dict[str, Any], c).get("copy_of") == source["id"]:
            return cast(dict[str, Any], c)
    now = svc.clock.now()
    rec = {"id": "c" + secrets.token_hex(6), "account_id": dest["account_id"], "parent_id": dest["id"], "name": None,
           "vault_id": dest["id"], "hostname": f"{source.get('hostname')} (copy)", "status": "Registered",
           "kind": "copy", "copy_of": source["id"], "copy_of_vault": source["vault_id"], "scope": "restore",
           "secret_hash": "", "endpoint_ids": [], "created": now, "registered": now, "registrations": 0}
    txn.insert("container", rec["id"], rec)
    return rec


def _checked(txn: Txn, rp_id: str, dest_id: str, delete_after_days: int | None,
             now: float) -> tuple[RecoveryPointRecord, VaultRecord, VaultRecord, float | None, dict[str, Any]]:
    """The point, its vault, the destination, the copy's expiry and the source machine, or the refusal."""
    rp = cast("RecoveryPointRecord | None", txn.get("recovery_point", rp_id))
    src_vault = read_vault(txn, rp["vault_id"]) if rp else None
    dest = read_vault(txn, dest_id)
    if rp is None or src_vault is None:
        raise RecoveryPointNotFound(f"recovery point {rp_id!r} does not exist.")
    if dest is None:
        raise NotFound(f"the destination vault {dest_id} does not exist.", field="destination_vault")
    if dest["id"] == src_vault["id"]:
        raise InvalidInput("copy a recovery point to another vault.", field="destination_vault")
    if is_soft_deleted(rp):
        raise RecoveryPointSoftDeleted(f"recovery point {rp_id} is soft-deleted; undelete it first.")
    if rp.get("packs_referenced") is None:
        raise InvalidInput(f"recovery point {rp_id} did not register its packs (an older agent): it cannot be "
                           "copied.", field="recovery_point")
    expires = lifecycle_for_new_point(dest, delete_after_days, now)  # the destination's lock decides
    source = txn.get("container", rp["container_id"])
    if source is None:
        raise NotFound(f"the machine of recovery point {rp_id} is gone.", field="recovery_point")
    return rp, src_vault, dest, expires, source


def copy_recovery_point(svc: Service, caller: Caller, rp_id: str, dest_ref: str,
                        delete_after_days: int | None = None) -> dict[str, Any]:
    """Queue a copy of ``rp_id`` into vault ``dest_ref`` (name, id or ARN), checked first: the caller needs
    ``backup.operate`` on both vaults, and the destination's lock must allow the lifecycle. Returns the
    ``Created`` copy job."""
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        rp = cast("RecoveryPointRecord | None", txn.get("recovery_point", rp_id))
        src_vault = read_vault(txn, rp["vault_id"]) if rp else None
        if rp is None or src_vault is None:
            raise RecoveryPointNotFound(f"recovery point {rp_id!r} does not exist.")
        authorize(txn, caller, "backup.operate", vault_scope(src_vault))
        dest = find_vault(txn, dest_ref, caller.account_id)
        authorize(txn, caller, "backup.operate", vault_scope(dest))
        rp, src_vault, dest, _expires, _source = _checked(txn, rp_id, dest["id"], delete_after_days, now)
        job = {"id": "j" + secrets.token_hex(6), "account_id": dest["account_id"], "parent_id": dest["id"],
               "name": None, "type": "Copy", "status": "Created", "vault_id": dest["id"], "container_id": None,
               "hostname": None, "recovery_point_id": None, "source_recovery_point": rp["arn"],
               "source_vault_id": src_vault["id"], "created": now, "start": None, "end": None, "owner": caller.arn}
        txn.insert("job", job["id"], job)
        current = cast(dict[str, Any], rp)
        if len(current.get("copy_pending") or ()) >= MAX_PENDING:
            raise Conflict(f"recovery point {rp_id} already has {MAX_PENDING} copies queued; wait for them "
                           "(`vaultlink job list VAULT --type Copy`).", field="recovery_point")
        current["copy_pending"] = [*(current.get("copy_pending") or ()), {
            "vault": dest["id"], "delete_after_days": delete_after_days, "job_id": job["id"], "who": caller.arn}]
        txn.update("recovery_point", rp_id, current)
    svc.fire(WorkQueued("copies"))
    return {"job": job, "recovery_point": None}


def copy_point(svc: Service, rp_id: str, entry: dict[str, Any], who: str) -> dict[str, Any]:
    """Make the copy ``entry`` of ``rp_id``'s ``copy_pending`` asks for (``vault``, ``delete_after_days``, and
    ``job_id`` when a caller asked: that job runs and ends here; a plan's copy makes its job when done)."""
    now = svc.clock.now()
    grew = False
    job_id = entry.get("job_id")
    with svc.store.transaction() as txn:
        rp, src_vault, dest, expires, source = _checked(txn, rp_id, entry["vault"], entry.get("delete_after_days"),
                                                        now)
        if job_id and (job := txn.get("job", job_id)) is not None:
            txn.update("job", job_id, {**job, "status": "InProgress", "start": now})
        if not storage.accounts_of(dest):
            storage.add_account(txn, svc, dest)
            grew = True
        account = cast(str, storage.write_account(dest))
        box = _copy_container(txn, svc, dest, source)
        src_accounts = storage.accounts_of(src_vault)
        refs = point_packs(txn, rp) or []
    if grew:
        svc.fire(EndpointsChanged())
    blobs = storage.blobs_of(svc)
    names: list[tuple[str, str]] = [(rp["storage_account"], rp["manifest"])]
    for a in src_accounts:  # every key version the source's passphrase opens (not one its agent retired)
        base = f"vaults/{rp['vault_id']}/{a}/{source['id']}/"
        names += [(a, key[len(base):]) for key in blobs.list(base + "keys/") if key_visible(source, key[len(base):])]
    for ref in refs:
        a, _, pack = ref.partition("/")
        names.append((a, pack))
    copied = 0
    for src_account, name in names:
        if svc.stopping.is_set():  # the entry stays queued: the next pass copies what is still missing
            raise Stopping()
        dst = storage.blob_key(dest["id"], account, box["id"], name)
        if blobs.exists(dst):
            continue
        data = blobs.get(storage.blob_key(rp["vault_id"], src_account, source["id"], name))
        blobs.put(dst, data)
        storage.record_usage(svc, dest["id"], account, len(data))
        copied += len(data)
    packs = {ref.split("/", 1)[1] for ref in refs}
    for _a, pack, records in svc.chunks.packs(rp["vault_id"], source["id"]):
        if pack in packs:
            svc.chunks.add(dest["id"], box["id"], account, pack, list(CHUNK_RECORD.iter_unpack(records)))
    region = svc.catalog.regions.get(dest["region"])
    new_id = "rp-" + secrets.token_hex(8)
    copy: dict[str, Any] = {
        **{k: v for k, v in rp.items()
           if k not in ("copies", "deleted", "purge_after", "deleted_with", "copy_pending", "copy_errors",
                     "replicated_at", "packs_referenced")},
        "id": new_id, "account_id": dest["account_id"], "parent_id": dest["id"],
        "arn": recovery_point_arn(region.partition.name if region else "aws", dest["region"], dest["account_id"],
                                  new_id),
        "vault_id": dest["id"], "vault_name": dest["name"], "container_id": box["id"], "hostname": box["hostname"],
        "storage_account": account, "expires": expires,
        "created": now, "status": "Completed", "copied_from": rp["arn"], "copied_bytes": copied,
    }
    with svc.store.transaction() as txn:
        queued = txn.get("job", job_id) if job_id else None
        job = {**(queued or {"id": "j" + secrets.token_hex(6), "account_id": dest["account_id"],
                             "parent_id": dest["id"], "name": None, "type": "Copy", "vault_id": dest["id"],
                             "source_recovery_point": rp["arn"], "created": now, "start": now, "owner": who}),
               "status": "Completed", "container_id": box["id"], "hostname": box["hostname"],
               "recovery_point_id": new_id, "copied_bytes": copied, "end": svc.clock.now()}
        copy["job_id"] = job["id"]
        put_point_packs(txn, copy, sorted(f"{account}/{p}" for p in packs))
        txn.insert("recovery_point", new_id, copy)
        (txn.update if queued else txn.insert)("job", job["id"], job)
        current = cast(dict[str, Any], txn.get("recovery_point", rp_id) or {})
        if current:
            current["copies"] = [*current.get("copies", []), {"vault": dest["name"], "id": new_id,
                                                              "region": dest["region"], "arn": copy["arn"]}]
            current["copy_pending"] = [c for c in current.get("copy_pending") or () if c != entry]
            txn.update("recovery_point", rp_id, current)
    return {"job": job, "recovery_point": copy}


def run_copies(svc: Service, who: str) -> int:
    """The copy pass: every queued copy (``copy_pending``: a plan rule's, or one a caller asked for). A copy
    refused now (the destination's lock changed, a vault gone) is recorded on the point, ends its job
    ``Failed`` with the refusal's code and message, and is audited; it is not retried."""
    with svc.store.transaction() as txn:
        pending = [(r["id"], r["account_id"], r["vault_id"], list(r.get("copy_pending") or ()))
                   for r in txn.listing("recovery_point", "copy_pending")]  # not every point, each pass
    done = 0
    for rp_id, account_id, vault_id, entries in pending:
        for c in entries:
            try:
                copy_point(svc, rp_id, c, str(c.get("who") or who))
                done += 1
            except Stopping:
                return done
            except VaultlinkError as exc:
                _refused(svc, rp_id, c, exc)
                svc.audit.emit({"plane": "service", "action": "recovery.copy", "principal": str(c.get("who") or who),
                                "account_id": account_id, "vault": vault_id, "target": rp_id, "decision": "denied",
                                "code": exc.code, "message": exc.message})
    return done


def _refused(svc: Service, rp_id: str, entry: dict[str, Any], exc: VaultlinkError) -> None:
    with svc.store.transaction() as txn:
        rp = txn.get("recovery_point", rp_id)
        if rp is not None:
            rp["copy_pending"] = [x for x in rp.get("copy_pending") or () if x != entry]
            rp["copy_errors"] = [*rp.get("copy_errors", []), {"vault": entry["vault"], "code": exc.code,
                                                               "message": exc.message}][-10:]
            txn.update("recovery_point", rp_id, rp)
        job = txn.get("job", entry["job_id"]) if entry.get("job_id") else None
        if job is not None:
            txn.update("job", job["id"], {**job, "status": "Failed", "end": svc.clock.now(), "error": exc.message,
                                          "error_code": exc.code})
