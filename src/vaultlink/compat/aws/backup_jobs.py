"""AWS Backup's recovery points, backup and restore jobs and protected resources, over the service's
handlers (``backup_api.py`` has the vaults). A protected resource is a registered machine's protected item,
``arn:<partition>:backup:<region>:<account>:protected-item:<id>``; ``StartBackupJob`` queues a backup of it
on that machine, which ``vaultlink agent run`` takes.
"""

from __future__ import annotations

import json
from typing import Any

from vaultlink import errors as E
from vaultlink.compat.aws.backup_api import AwsCall, Fetch, cursor_from, cursor_page, regional_vault
from vaultlink.domain.jobs import unreadable_warning
from vaultlink.service import retention, retention_items, vaults
from vaultlink.service.dataplane import grants, manage, ondemand


# --- recovery points --------------------------------------------------------------------------------------
def _rp_id(arn: str) -> str:
    rp_id = arn.rsplit(":", 1)[-1]
    if not rp_id.startswith("rp-"):
        raise E.InvalidInput(f"{arn!r} is not a recovery point ARN (arn:…:recovery-point:rp-…).",
                             field="RecoveryPointArn")
    return rp_id


def _point(call: AwsCall, vault_name: str | None, arn: str) -> dict[str, Any]:
    rp = manage.get_recovery_point(call.svc, call.caller, _rp_id(arn))
    if rp.get("arn") != arn or (vault_name is not None and vault_name not in (rp.get("vault_name"), rp["vault_id"])) \
            or rp.get("status") == "SoftDeleted":
        raise E.RecoveryPointNotFound(f"recovery point {arn} does not exist in vault {vault_name}.")
    return rp


def _rp_out(rp: dict[str, Any], vault: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {"RecoveryPointArn": rp.get("arn"), "BackupVaultName": rp.get("vault_name"),
           "BackupVaultArn": vault["arn"] if vault else None, "ResourceArn": _item_arn_of(rp),
           "ResourceType": "Directory", "ResourceName": rp.get("protected_item"), "Status": "COMPLETED",
           "CreationDate": rp.get("time"), "CompletionDate": rp.get("created"),
           "BackupSizeInBytes": rp.get("bytes_total") or rp.get("size"), "IsEncrypted": True,
           "CreatedBy": {"BackupPlanId": rp.get("plan_id")} if rp.get("plan_id") else None,
           "Lifecycle": {"DeleteAfterDays": rp.get("delete_after_days")} if rp.get("delete_after_days") else None,
           "CalculatedLifecycle": {"DeleteAt": rp.get("expires")} if rp.get("expires") else None}
    return out


def _item_arn_of(rp: dict[str, Any]) -> str | None:
    arn = rp.get("arn")
    if not isinstance(arn, str) or not rp.get("protected_item_id"):
        return None
    return arn.rsplit(":", 2)[0] + f":protected-item:{rp['protected_item_id']}"


def list_recovery_points_by_backup_vault(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    """A page of the vault's points, oldest first, from the cursor ``NextToken`` carries (``cursor_page``): a page
    reads about itself, where every page read the vault's every point before."""
    v = regional_vault(call, p["BackupVaultName"])
    arn = p.get("ByResourceArn")
    item = arn.rsplit(":", 1)[-1] if isinstance(arn, str) and ":protected-item:" in arn else None
    if arn and item is None:
        return {"RecoveryPoints": [], "NextToken": None}

    def fetch(after: tuple[float, str], limit: int) -> list[dict[str, Any]]:
        return manage.points_after(call.svc, call.caller, v["id"], after, limit, item)

    def shown(r: dict[str, Any]) -> dict[str, Any] | None:
        return None if r.get("status") == "SoftDeleted" or (arn and _item_arn_of(r) != arn) else _rp_out(r, v)

    since = float(p["ByCreatedAfter"]) if p.get("ByCreatedAfter") is not None else -1e18
    page, token = cursor_page([fetch], "time", cursor_from(p, since), p.get("ByCreatedBefore"), shown, p)
    return {"RecoveryPoints": page, "NextToken": token}


def describe_recovery_point(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    v = regional_vault(call, p["BackupVaultName"])
    return _rp_out(_point(call, v["name"], p["RecoveryPointArn"]), v)


def delete_recovery_point(call: AwsCall, p: dict[str, Any]) -> None:
    v = regional_vault(call, p["BackupVaultName"])
    rp = _point(call, v["name"], p["RecoveryPointArn"])
    retention.delete_recovery_point(call.svc, call.caller, rp["id"])
    return None


def update_recovery_point_lifecycle(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    v = regional_vault(call, p["BackupVaultName"])
    rp = _point(call, v["name"], p["RecoveryPointArn"])
    days = (p.get("Lifecycle") or {}).get("DeleteAfterDays")
    rp = retention.update_lifecycle(call.svc, call.caller, rp["id"], days)
    return {"BackupVaultArn": v["arn"], "RecoveryPointArn": rp["arn"],
            "Lifecycle": {"DeleteAfterDays": days} if days is not None else {},
            "CalculatedLifecycle": {"DeleteAt": rp.get("expires")} if rp.get("expires") else None}


def get_recovery_point_restore_metadata(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    v = regional_vault(call, p["BackupVaultName"])
    rp = _point(call, v["name"], p["RecoveryPointArn"])
    meta = {"machine": str(rp.get("hostname") or rp["container_id"]), "target": "/restore",
            "paths": ",".join(rp.get("paths") or [])}
    return {"BackupVaultArn": v["arn"], "RecoveryPointArn": rp["arn"], "RestoreMetadata": meta,
            "ResourceType": "Directory"}


# --- jobs -----------------------------------------------------------------------------------------------
def _regional_vaults(call: AwsCall, name: str | None = None) -> list[dict[str, Any]]:
    if name:
        return [regional_vault(call, name)]
    return [v for v in vaults.list_vaults(call.svc, call.caller) if v["region"] == call.region]


_JOB_STATES = {"Created": "CREATED", "InProgress": "RUNNING", "Completed": "COMPLETED", "Failed": "FAILED",
               "Aborted": "ABORTED", "EXPIRED": "EXPIRED", "Expired": "EXPIRED"}


def _job_out(job: dict[str, Any], vault: dict[str, Any], call: AwsCall) -> dict[str, Any]:
    rp = job.get("recovery_point_id")
    rp_arn = f"arn:{call.partition}:backup:{vault['region']}:{vault['account_id']}:recovery-point:{rp}" if rp else None
    item = job.get("protected_item_id")
    item_arn = f"arn:{call.partition}:backup:{vault['region']}:{vault['account_id']}:protected-item:{item}" \
        if item else None
    return {"AccountId": vault["account_id"], "BackupJobId": job["id"], "RestoreJobId": job["id"],
            "BackupVaultName": vault["name"], "BackupVaultArn": vault["arn"], "RecoveryPointArn": rp_arn,
            "ResourceArn": item_arn, "ResourceType": "Directory", "CreationDate": job.get("created")
            or job.get("scheduled") or job.get("start"), "CompletionDate": job.get("end"),
            "State": _JOB_STATES.get(str(job.get("status")), str(job.get("status")).upper()),
            "Status": _JOB_STATES.get(str(job.get("status")), str(job.get("status")).upper()),
            "StatusMessage": job.get("error") or unreadable_warning(job), "StartBy": job.get("start_by"),
            "CreatedBy": {"BackupPlanId": job.get("plan_id")} if job.get("plan_id") else None}


LISTED_DAYS = 30  # ListBackupJobs and ListRestoreJobs answer the jobs of the last 30 days, as AWS does


def _wanted(call: AwsCall, v: dict[str, Any], j: dict[str, Any], p: dict[str, Any]) -> dict[str, Any] | None:
    """Job ``j`` as AWS shows it, if it passes the filters the database does not apply."""
    end = j.get("end")
    if p.get("ByCompleteAfter") is not None and (end is None or float(end) < p["ByCompleteAfter"]):
        return None
    if p.get("ByCompleteBefore") is not None and (end is None or float(end) > p["ByCompleteBefore"]):
        return None
    shown = _job_out(j, v, call)
    if (p.get("ByState") and shown["State"] != p["ByState"]) or (p.get("ByStatus") and shown["Status"] != p[
            "ByStatus"]) or (p.get("ByResourceArn") and shown["ResourceArn"] != p["ByResourceArn"]):
        return None
    return shown


def _jobs(call: AwsCall, kind: str, p: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the jobs created in the last ``LISTED_DAYS`` days (and within ``ByCreatedAfter``/``Before``), oldest
    first, from the cursor ``NextToken`` carries (``cursor_page``; by state through the job status index): a page
    reads about itself, where every page read and shaped the whole 30 days before (0.9 s a page at 30,000 jobs)."""
    state = p.get("ByState") or p.get("ByStatus")
    ours = next((k for k, aws in _JOB_STATES.items() if aws == state), None) if state else None
    if state and ours is None:
        return [], None
    since = max(call.svc.clock.now() - LISTED_DAYS * 86400.0, float(p.get("ByCreatedAfter") or 0.0))

    def fetch(v: dict[str, Any]) -> Fetch:
        return lambda after, limit: manage.created_after(call.svc, call.caller, v["id"], after, kind, limit, ours)

    found = {v["id"]: v for v in _regional_vaults(call, p.get("ByBackupVaultName"))}
    return cursor_page([fetch(v) for v in found.values()], "created", cursor_from(p, since), p.get("ByCreatedBefore"),
                       lambda j: _wanted(call, found[j["parent_id"]], j, p), p)


def _job(call: AwsCall, job_id: str, kind: str) -> dict[str, Any]:
    job = manage.get_job(call.svc, call.caller, job_id)
    if job.get("type") != kind:
        raise E.NotFound(f"{kind.lower()} job {job_id} does not exist.", field="job")
    v = vaults.get_vault(call.svc, call.caller, job["vault_id"])
    return _job_out(job, v, call)


def list_backup_jobs(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    page, token = _jobs(call, "Backup", p)
    return {"BackupJobs": page, "NextToken": token}


def describe_backup_job(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    return _job(call, p["BackupJobId"], "Backup")


def start_backup_job(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    v = regional_vault(call, p["BackupVaultName"])
    arn = p["ResourceArn"]
    if ":protected-item:" not in arn:
        raise E.InvalidInput(f"{arn!r} is not a protected resource ARN (ListProtectedResources lists them).",
                             field="ResourceArn")
    days = (p.get("Lifecycle") or {}).get("DeleteAfterDays")
    job = ondemand.start_backup(call.svc, call.caller, arn.rsplit(":", 1)[-1], v["id"], days,
                                p.get("StartWindowMinutes"), p.get("CompleteWindowMinutes"))
    return {"BackupJobId": job["id"], "CreationDate": job["created"], "IsParent": False}


def stop_backup_job(call: AwsCall, p: dict[str, Any]) -> None:
    _job(call, p["BackupJobId"], "Backup")
    ondemand.stop_job(call.svc, call.caller, p["BackupJobId"])
    return None


def start_restore_job(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    arn = p["RecoveryPointArn"]
    rp = _point(call, None, arn)
    meta = p.get("Metadata") or {}
    machine = meta.get("machine") or rp.get("hostname") or rp["container_id"]
    job = grants.start_restore_onto(call.svc, call.caller, rp["id"], str(machine), str(meta.get("target", "")),
                                    _items_to_restore(meta.get("ItemsToRestore")))
    return {"RestoreJobId": job["id"]}


def _items_to_restore(raw: Any) -> list[str] | None:
    """AWS's item-level restore (``Metadata.ItemsToRestore``: a JSON array of paths, ``["/documents/a.txt"]``) as
    the agent's ``--include`` patterns (paths in a point are relative: the leading ``/`` goes)."""
    if raw is None:
        return None
    try:
        items = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        items = None
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i.strip("/") for i in items):
        raise E.InvalidInput('Metadata.ItemsToRestore must be a JSON array of paths in the recovery point, such as '
                             '["/documents"].', field="Metadata.ItemsToRestore")
    return [i.lstrip("/") for i in items]


def describe_restore_job(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    return _job(call, p["RestoreJobId"], "Restore")


def list_restore_jobs(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    page, token = _jobs(call, "Restore", p)
    return {"RestoreJobs": page, "NextToken": token}


# --- protected resources ------------------------------------------------------------------------------------
def _resource_out(call: AwsCall, v: dict[str, Any], it: dict[str, Any]) -> dict[str, Any]:
    arn = f"arn:{call.partition}:backup:{v['region']}:{v['account_id']}:protected-item:{it['id']}"
    return {"ResourceArn": arn, "ResourceType": "Directory",
            "ResourceName": f"{it.get('hostname')}:{', '.join(it.get('paths') or [])}",
            "LastBackupTime": it.get("last_backup"), "LastBackupVaultArn": v["arn"],
            "LastRecoveryPointArn": None if not it.get("last_recovery_point_id") else
            f"arn:{call.partition}:backup:{v['region']}:{v['account_id']}:recovery-point:"
            f"{it['last_recovery_point_id']}"}


def list_protected_resources(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    """A page of the protected items of the region's vaults, oldest first, from the cursor ``NextToken`` carries
    (``cursor_page``): the database picks each page, where every page counted every point of every vault."""
    found = {v["id"]: v for v in _regional_vaults(call)}

    def fetch(v: dict[str, Any]) -> Fetch:
        return lambda after, limit: retention_items.items_after(call.svc, call.caller, v["id"], after, limit)

    def shown(it: dict[str, Any]) -> dict[str, Any] | None:
        return None if it.get("status") == "SoftDeleted" else _resource_out(call, found[it["vault_id"]], it)

    page, token = cursor_page([fetch(v) for v in found.values()], "created", cursor_from(p, -1e18), None, shown, p)
    return {"Results": page, "NextToken": token}


def describe_protected_resource(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    """The item the ARN names (read by its id, where every item of the region was listed to find it), if it is in a
    vault of the signing region and not soft-deleted."""
    gone = E.NotFound(f"protected resource {p['ResourceArn']} does not exist.", field="ResourceArn")
    try:
        it = retention_items.get_item(call.svc, call.caller, str(p["ResourceArn"]).rsplit(":", 1)[-1])
    except E.NotFound:
        raise gone from None
    v = vaults.get_vault(call.svc, call.caller, it["vault_id"])
    out = _resource_out(call, v, it)
    if v["region"] != call.region or it["status"] == "SoftDeleted" or out["ResourceArn"] != p["ResourceArn"]:
        raise gone
    return out


def list_recovery_points_by_resource(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    """A page of the resource's points in every vault of the region, oldest first, from the cursor ``NextToken``
    carries (``cursor_page``; the database picks the item's points: every page read every point before)."""
    arn = p["ResourceArn"]
    describe_protected_resource(call, {"ResourceArn": arn})
    item = arn.rsplit(":", 1)[-1]
    found = {v["id"]: v for v in _regional_vaults(call)}

    def fetch(v: dict[str, Any]) -> Fetch:
        return lambda after, limit: manage.points_after(call.svc, call.caller, v["id"], after, limit, item)

    def shown(r: dict[str, Any]) -> dict[str, Any] | None:
        ok = r.get("status") != "SoftDeleted" and _item_arn_of(r) == arn
        return _rp_out(r, found[r["parent_id"]]) if ok else None

    page, token = cursor_page([fetch(v) for v in found.values()], "time", cursor_from(p, -1e18), None, shown, p)
    return {"RecoveryPoints": page, "NextToken": token}
