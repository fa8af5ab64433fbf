"""Protected items, jobs and recovery points, as the agent drives them (data plane).

A backup job starts (``InProgress``), the agent uploads packs, an index file and the snapshot
manifest, then completes the job: only then does the recovery point exist. A job whose agent died is
marked ``Failed`` when the same container starts its next backup, or by the scheduler's pass once its agent
has said nothing for ``SILENT`` seconds. The recovery point records the
protected item, time, sizes, file count and dedup ratio; the manifest (encrypted) stays in the blob
store and the service checks that it exists before recording the point.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, cast

from vaultlink.domain.point_packs import put_point_packs
from vaultlink.domain.records import ContainerRecord, RecoveryPointRecord, find_points, require_vault
from vaultlink.domain.retention import is_soft_deleted
from vaultlink.domain.vaults import mark_history
from vaultlink.errors import (
    Conflict,
    InvalidInput,
    ItemSoftDeleted,
    NotFound,
    NotReplicated,
    RecoveryPointNotFound,
    RecoveryPointSoftDeleted,
)
from vaultlink.policy.actions import recovery_point_arn
from vaultlink.service.core import Service
from vaultlink.service.dataplane import storage
from vaultlink.service.object_lock import lock_committed
from vaultlink.service.prune import check_commit, refuse_during_sweep
from vaultlink.service.retention import lifecycle_for_new_point

STAT_KEYS = (
    "files",
    "dirs",
    "symlinks",
    "files_unchanged",
    "bytes_total",
    "bytes_read",
    "bytes_new",
    "stored_bytes",
    "packs",
    "duration",
    "dedup_ratio",
    "bytes",
)


WAL_SEGMENT = re.compile(r"^[0-9A-F]{24}$")


def _clean_stats(stats: Any) -> dict[str, Any]:
    if not isinstance(stats, dict):
        raise InvalidInput("stats must be an object.", field="stats")
    out: dict[str, Any] = {}
    for k in STAT_KEYS:
        v = stats.get(k)
        if isinstance(v, bool) or (v is not None and not isinstance(v, (int, float))):
            raise InvalidInput(f"stats.{k} must be a number.", field=f"stats.{k}")
        if v is not None:
            out[k] = v
    errs, count = stats.get("errors"), stats.get("error_count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise InvalidInput("stats.error_count must be a count.", field="stats.error_count")
    if isinstance(errs, list) or count is not None:
        out["errors"] = max(count or 0, len(errs) if isinstance(errs, list) else 0)  # an agent keeps the first 100
    return out


def _check_paths(paths: Any) -> list[str]:
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
        raise InvalidInput("paths must be a non-empty list of the directories backed up.", field="paths")
    if len(paths) > 100 or any(len(p) > 4096 for p in paths):
        raise InvalidInput("at most 100 paths of at most 4096 characters.", field="paths")
    return list(paths)


def _latest_rp(txn: Any, vault_id: str, item_id: str) -> RecoveryPointRecord | None:
    rps = txn.newest("recovery_point", "time", 1, match={"protected_item_id": item_id}, parent_id=vault_id)
    return cast(RecoveryPointRecord, rps[0]) if rps else None  # the database picks it among the vault's points


def _planned(txn: Any, container: ContainerRecord, job_id: str, now: float, job_type: str) -> dict[str, Any]:
    """A queued job ``job_id`` for this machine (a plan's backup, or a restore onto it), still within its
    start window."""
    job = txn.get("job", job_id)
    if job is None or job.get("container_id") != container["id"] or job["type"] != job_type:
        raise NotFound(f"job {job_id} is not a {job_type.lower()} job of this machine.", field="job_id")
    if job["status"] == "Created" and now > float(job["start_by"]):
        raise Conflict(f"job {job_id}'s start window ended; it is EXPIRED (the service expires it).",
                       field="job_id")
    if job["status"] != "Created":
        raise Conflict(f"job {job_id} is {job['status']}; it cannot start again.", field="job_id")
    return dict(job)


SILENT = 900.0  # seconds without a word from its agent after which a running job is taken for dead
AGENT_JOBS = ("Backup", "Restore")  # run by an agent, which reports them (a heartbeat every minute at least)


def start_job(svc: Service, container: ContainerRecord, job_type: str, paths: list[str] | None = None,
              recovery_point_id: str | None = None, job_id: str | None = None) -> dict[str, Any]:
    """Start a Backup job (``paths``; or the scheduler's job ``job_id``) or a Restore job
    (``recovery_point_id``)."""
    vault_id = container["vault_id"]
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        vault = require_vault(txn, vault_id)
        planned = _planned(txn, container, job_id, now, job_type) if job_id else None
        if planned and job_type == "Restore":
            recovery_point_id = planned["recovery_point_id"]
        for j in txn.find("job", parent_id=vault_id, status="InProgress"):  # the running ones, not every job
            if j.get("container_id") == container["id"] and _dead(j, job_type, now):
                j.update(status="Failed", end=now, error="the agent stopped before finishing this job")
                txn.update("job", j["id"], j)
        item: dict[str, Any] | None = None
        rp: RecoveryPointRecord | None = None
        if job_type == "Backup":
            paths = _check_paths(planned["paths"] if planned else paths)
            refuse_during_sweep(txn, container["id"])
            # a lock the lifecycle does not fit: refused now, not after the upload
            lifecycle_for_new_point(vault, planned.get("delete_after_days") if planned else None, now)
            for it in txn.find("protected_item", parent_id=container["id"]):
                if it["paths"] == paths:
                    item = it
            if item is not None and item.get("status") == "SoftDeleted":
                raise ItemSoftDeleted(f"protected item {item['id']} ({', '.join(paths)}) is soft-deleted; undelete "
                                      f"it first (`vaultlink item undelete {item['id']}`).")
            if item is None:
                item = {
                    "id": "i" + secrets.token_hex(6),
                    "account_id": vault["account_id"],
                    "parent_id": container["id"],
                    "name": None,
                    "vault_id": vault_id,
                    "container_id": container["id"],
                    "hostname": container.get("hostname"),
                    "paths": paths,
                    "created": now,
                }
                txn.insert("protected_item", item["id"], item)
            if mark_history(vault, item_protected=True):
                txn.update("vault", vault_id, vault)
            rp = _latest_rp(txn, vault_id, item["id"])
        else:
            rp = cast("RecoveryPointRecord | None", txn.get("recovery_point", recovery_point_id or ""))
            if rp is None or rp.get("vault_id") != vault_id:
                raise RecoveryPointNotFound(f"recovery point {recovery_point_id!r} is not in this vault.")
            if is_soft_deleted(rp):
                raise RecoveryPointSoftDeleted(
                    f"recovery point {rp['id']} is soft-deleted; undelete it first "
                    f"(`vaultlink recovery-point undelete {rp['id']}`).")
        job = planned or {
            "id": "j" + secrets.token_hex(6),
            "account_id": vault["account_id"],
            "parent_id": vault_id,
            "name": None,
            "type": job_type,
            "status": "InProgress",
            "vault_id": vault_id,
            "container_id": container["id"],
            "hostname": container.get("hostname"),
            "protected_item_id": item["id"] if item else rp.get("protected_item_id") if rp else None,
            "recovery_point_id": rp["id"] if (rp and job_type == "Restore") else None,
            "created": now,
            "start": now,
            "end": None,
        }
        if planned:
            job.update(status="InProgress", start=now)
            if item is not None:
                job["protected_item_id"] = item["id"]
            txn.update("job", job["id"], job)
        else:
            txn.insert("job", job["id"], job)
        return {
            "job": job,
            "protected_item": item,
            "recovery_point": rp,
            "previous_totals": _totals(txn, rp) if job_type == "Backup" else None,
            "storage_accounts": storage.accounts_of(vault),
            "write_account": storage.write_account(vault),
        }


def _dead(job: dict[str, Any], starting: str, now: float) -> bool:
    """Is the machine's ``InProgress`` job dead, now that it starts a ``starting`` job? A backup is when another
    backup starts (an agent runs one backup at a time: its state directory's lock). A restore runs beside
    anything (a file restored during the nightly backup must not fail that backup), so it is dead only once it
    has said nothing for ``SILENT`` seconds: a running one reports its progress every few."""
    if job["type"] == "Backup":
        return starting == "Backup"
    return silent(job, now)


def silent(job: dict[str, Any], now: float) -> bool:
    """Has the agent running ``job`` said nothing (its start, a progress report, a heartbeat) for ``SILENT``
    seconds? A running agent reports at least every minute (``agent/job_progress.py``)."""
    progress = job.get("progress")
    last = max(float(job.get("start") or 0), float(progress.get("updated") or 0) if isinstance(progress, dict) else 0)
    return now - last > SILENT


def _totals(txn: Any, rp: RecoveryPointRecord | None) -> dict[str, int] | None:
    """The files and bytes the backup that made ``rp`` found: a new backup's progress totals until it knows
    better, instead of walking the tree twice (once to count it)."""
    job = txn.get("job", rp.get("job_id") or "") if rp else None
    stats = job.get("stats") if job else None
    if not isinstance(stats, dict):
        return None
    files, size = stats.get("files"), stats.get("bytes_total")
    if not isinstance(files, int) or not isinstance(size, int) or files < 0 or size < 0:
        return None
    return {"files": files, "bytes": size}


def _own_job(txn: Any, container: ContainerRecord, job_id: str, open_states: tuple[str, ...] = ("InProgress",)
             ) -> dict[str, Any]:
    job = txn.get("job", job_id)
    if job is None or job.get("container_id") != container["id"]:
        raise NotFound(f"job {job_id} is not a job of this container.", field="job")
    if job["status"] not in open_states:
        why = f": {job['error']}" if job.get("error") else ""
        raise Conflict(f"job {job_id} already ended ({job['status']}{why}); start a new one.", field="job")
    return dict(job)


_PACK = re.compile(r"^[a-z0-9-]{1,63}/packs/[0-9a-f]{64}$")
MAX_PACKS = 400_000  # 3 TiB of 8 MiB packs per point; the body limit bounds it too


def _check_packs(packs: Any, accounts: list[str]) -> list[str] | None:
    """The packs a point references, as ``ACCOUNT/packs/HASH`` of the vault's accounts (None: an agent that
    does not say; prune then leaves the container alone)."""
    if packs is None:
        return None
    if not isinstance(packs, list) or len(packs) > MAX_PACKS or not all(isinstance(p, str) and _PACK.match(p)
                                                                          for p in packs):
        raise InvalidInput(f"pack_refs must be a list of at most {MAX_PACKS} 'ACCOUNT/packs/HASH' names.",
                           field="pack_refs")
    for p in packs:
        if p.split("/", 1)[0] not in accounts:
            raise InvalidInput(f"{p}: {p.split('/', 1)[0]} is not a storage account of this vault.", field="pack_refs")
    return sorted(set(packs))


def complete_backup(svc: Service, container: ContainerRecord, job_id: str, manifest: str, account: str,
                    stats: Any, snapshot_time: float | None = None, pack_refs: Any = None,
                    wal_from: str | None = None) -> dict[str, Any]:
    """Record the recovery point of a finished backup (its manifest must be stored), with the packs it
    references (what prune keeps for it) and its lifecycle (from the vault, checked against its lock)."""
    clean = _clean_stats(stats)
    if wal_from is not None and not WAL_SEGMENT.match(wal_from):
        raise InvalidInput("wal_from must be a WAL segment name (24 hexadecimal digits).", field="wal_from")
    if not isinstance(manifest, str) or not manifest.startswith("snapshots/"):
        raise InvalidInput("manifest must be the snapshot's blob name (snapshots/<hash>).", field="manifest")
    vault_id = container["vault_id"]
    with svc.store.transaction() as txn:
        vault = require_vault(txn, vault_id)
        storage.check_account(vault, account)
    key = storage.blob_key(vault_id, account, container["id"], manifest)
    if not storage.blobs_of(svc).exists(key):
        raise Conflict(
            f"the snapshot {manifest} is not stored in {account}; upload it before completing the job.",
            field="manifest",
        )
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        vault = require_vault(txn, vault_id)
        refs = _check_packs(pack_refs, storage.accounts_of(vault))
        job = _own_job(txn, container, job_id)
        check_commit(txn, svc, container, refs or [], float(job["start"]), now)
        expires = lifecycle_for_new_point(vault, job.get("delete_after_days"), now)
        item = txn.require("protected_item", job["protected_item_id"])
        region = svc.catalog.regions.get(vault["region"])
        part = region.partition.name if region else "aws"
        rp_id = "rp-" + secrets.token_hex(8)
        rp = {
            "id": rp_id,
            "account_id": vault["account_id"],
            "parent_id": vault_id,
            "name": None,
            "arn": recovery_point_arn(part, vault["region"], vault["account_id"], rp_id),
            "vault_id": vault_id,
            "vault_name": vault["name"],
            "container_id": container["id"],
            "hostname": container.get("hostname"),
            "protected_item_id": item["id"],
            "protected_item": ", ".join(item["paths"]),
            "paths": item["paths"],
            "time": float(snapshot_time) if isinstance(snapshot_time, (int, float)) else now,
            "created": now,
            "manifest": manifest,
            "storage_account": account,
            "job_id": job_id,
            "status": "Completed",
            "wal_from": wal_from,
            "expires": expires,
            "copy_pending": list(job.get("copy_to") or []),  # a plan rule's copies: the copy pass makes them
            **clean,
        }
        put_point_packs(txn, rp, refs)
        txn.insert("recovery_point", rp_id, rp)
        job.update(status="Completed", end=now, recovery_point_id=rp_id, stats=clean)
        txn.update("job", job_id, job)
        item["last_backup"] = now
        item["last_recovery_point_id"] = rp_id
        txn.update("protected_item", item["id"], item)
    lock_committed(svc, rp, refs)
    return {"job": job, "recovery_point": rp}


def finish_job(svc: Service, container: ContainerRecord, job_id: str, status: str, error: str | None = None,
               stats: Any = None) -> dict[str, Any]:
    """End a job as ``Completed`` (restores), ``Failed`` or ``Aborted`` (any: interrupted on the machine). A
    queued job its machine could not start (a path of the selection missing, another backup running) fails
    from ``Created``, rather than expiring later with no word of why. Ending a job again as it ended is a no-op
    (a retried request whose answer was lost)."""
    if status not in ("Completed", "Failed", "Aborted"):
        raise InvalidInput("status must be Completed, Failed or Aborted.", field="status")
    with svc.store.transaction() as txn:
        ended = txn.get("job", job_id)
        if ended is not None and ended.get("container_id") == container["id"] and ended["status"] == status:
            return dict(ended)
        job = _own_job(txn, container, job_id, ("InProgress",) if status == "Completed" else ("InProgress", "Created"))
        if status == "Completed" and job["type"] == "Backup":
            raise InvalidInput("complete a backup job with its recovery point (POST /jobs/{id}/complete).")
        job.update(status=status, end=svc.clock.now(), error=(error or "")[:2000] or None)
        if stats is not None:
            job["stats"] = _clean_stats(stats)
        txn.update("job", job_id, job)
        return job


PROGRESS_KEYS = ("files_total", "bytes_total", "files_done", "bytes_done", "bytes_new", "elapsed")


def report_progress(svc: Service, container: ContainerRecord, job_id: str, progress: Any) -> dict[str, Any]:
    """A running job's progress, as its agent last reported it (the console shows it live)."""
    if not isinstance(progress, dict):
        raise InvalidInput("progress must be an object.", field="progress")
    clean: dict[str, Any] = {}
    for k in PROGRESS_KEYS:
        v = progress.get(k)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 2**63:
            raise InvalidInput(f"progress.{k} must be a number from 0.", field="progress")
        clean[k] = v
    with svc.store.transaction() as txn:
        job = _own_job(txn, container, job_id)
        job["progress"] = {**clean, "updated": svc.clock.now()}
        txn.update("job", job_id, job)
        return {"job": job_id, "progress": job["progress"]}


def listed_point(rp: dict[str, Any]) -> dict[str, Any]:
    """A recovery point as listings show it: its pack list (thousands of names for a large machine, kept apart:
    ``point_packs``) counted, not spelled out (``show`` has it)."""
    return {**rp, "packs_referenced": rp.get("packs_referenced")}


def container_recovery_points(svc: Service, container: ContainerRecord) -> list[dict[str, Any]]:
    """The machine's points, oldest first (the database picks them among the vault's: no other machine's is read)."""
    with svc.store.transaction() as txn:
        rps = find_points(txn, container["vault_id"], "container_id", container["id"])
    secondary = bool(container.get("read_region"))  # the paired region offers only what it holds
    return [listed_point(cast(dict[str, Any], r)) for r in rps if not secondary or r.get("replicated_at")]


def container_recovery_point(svc: Service, container: ContainerRecord, rp_id: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        rp = txn.get("recovery_point", rp_id)
    if rp is None or rp.get("vault_id") != container["vault_id"]:
        raise RecoveryPointNotFound(f"recovery point {rp_id!r} is not in this vault.")
    if rp.get("container_id") != container["id"]:
        raise RecoveryPointNotFound(f"recovery point {rp_id!r} belongs to another machine of this vault; "
                                    "restore it here with a restore job (`vaultlink recovery-point restore`).")
    grant = container.get("grant")
    if grant is not None and grant["recovery_point_id"] != rp_id:
        raise RecoveryPointNotFound(f"restore job {grant['job_id']} grants only recovery point "
                                    f"{grant['recovery_point_id']}.")
    if container.get("read_region") and not rp.get("replicated_at"):
        raise NotReplicated(f"recovery point {rp_id} is not replicated to {container['read_region']} yet; restore "
                            "it in the primary region, or wait for replication (`vaultlink vault show`).")
    return rp
