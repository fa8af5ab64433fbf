"""AWS Backup plans, selections and copy jobs over the service's plans and copies (``service/plans.py``,
``service/dataplane/copies.py``): the plan the scheduler runs is the one made here.

A rule's ``TargetBackupVaultName`` and ``CopyActions`` name vaults; its schedule is AWS's ``cron(…)``. A
selection's ``Resources`` are protected-resource ARNs (``ListProtectedResources``): each becomes a selection
of that resource's machine and paths, named ``<selection id>-<n>``. Tag conditions select machines by tag
but have no paths to back up, so they are refused with a message saying so.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from vaultlink import errors as E
from vaultlink.compat.aws.backup_api import AwsCall, Fetch, cursor_from, cursor_page, page_of, regional_vault
from vaultlink.domain.plans import aws_schedule
from vaultlink.service import plans, retention_items, vaults
from vaultlink.service.dataplane import copies, manage


def _vault_name(call: AwsCall, vault_id: str) -> str:
    return str(vaults.get_vault(call.svc, call.caller, vault_id)["name"])


def _rule_in(call: AwsCall, r: dict[str, Any]) -> dict[str, Any]:
    regional_vault(call, r["TargetBackupVaultName"])
    out: dict[str, Any] = {"name": r["RuleName"], "vault": r["TargetBackupVaultName"],
                           "schedule": r.get("ScheduleExpression") or "cron(0 5 ? * * *)",
                           "timezone": r.get("ScheduleExpressionTimezone") or "UTC"}
    if r.get("StartWindowMinutes") is not None:
        out["start_window_minutes"] = r["StartWindowMinutes"]
    if r.get("CompletionWindowMinutes") is not None:
        out["completion_window_minutes"] = r["CompletionWindowMinutes"]
    if (r.get("Lifecycle") or {}).get("DeleteAfterDays") is not None:
        out["delete_after_days"] = r["Lifecycle"]["DeleteAfterDays"]
    out["copy_to"] = [{"vault": c["DestinationBackupVaultArn"],
                       "delete_after_days": (c.get("Lifecycle") or {}).get("DeleteAfterDays")}
                      for c in r.get("CopyActions") or []]
    return out


def _rule_out(call: AwsCall, plan_id: str, r: dict[str, Any]) -> dict[str, Any]:
    out = {"RuleName": r["name"], "TargetBackupVaultName": _vault_name(call, r["vault"]),
           "ScheduleExpression": aws_schedule(r["schedule"]),
           "ScheduleExpressionTimezone": r.get("timezone"), "StartWindowMinutes": r.get("start_window_minutes"),
           "CompletionWindowMinutes": r.get("completion_window_minutes"),
           "RuleId": hashlib.sha256(f"{plan_id}/{r['name']}".encode()).hexdigest()[:36],
           "CopyActions": [{"DestinationBackupVaultArn": vaults.get_vault(call.svc, call.caller, c["vault"])["arn"],
                            "Lifecycle": {"DeleteAfterDays": c["delete_after_days"]} if c.get("delete_after_days")
                            else {}} for c in r.get("copy_to") or []]}
    if r.get("delete_after_days"):
        out["Lifecycle"] = {"DeleteAfterDays": r["delete_after_days"]}
    return out


def _plan(call: AwsCall, plan_id: str) -> dict[str, Any]:
    return plans.get_plan(call.svc, call.caller, plan_id)


def create_backup_plan(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    doc = p["BackupPlan"]
    plan = plans.create_plan(call.svc, call.caller, doc["BackupPlanName"],
                             {"rules": [_rule_in(call, r) for r in doc["Rules"]], "selections": []})
    return {"BackupPlanId": plan["id"], "BackupPlanArn": plan["arn"], "CreationDate": plan["created"],
            "VersionId": plan["version_id"]}


def get_backup_plan(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    plan = _plan(call, p["BackupPlanId"])
    rules, version = plan["rules"], plan.get("version_id")
    if p.get("VersionId") and p["VersionId"] != version:
        old = [v for v in plan.get("versions", []) if v["version_id"] == p["VersionId"]]
        if not old:
            raise E.NotFound(f"backup plan {plan['id']} has no version {p['VersionId']}.", field="VersionId")
        rules, version = old[0]["rules"], old[0]["version_id"]
    return {"BackupPlan": {"BackupPlanName": plan["name"], "Rules": [_rule_out(call, plan["id"], r) for r in rules]},
            "BackupPlanId": plan["id"], "BackupPlanArn": plan["arn"], "VersionId": version,
            "CreationDate": plan["created"], "LastExecutionDate": plan.get("scanned")}


def update_backup_plan(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    doc = p["BackupPlan"]
    plan = _plan(call, p["BackupPlanId"])
    if doc["BackupPlanName"] != plan["name"]:
        raise E.InvalidInput("a plan's name does not change; create another plan.", field="BackupPlanName")
    plan = plans.update_rules(call.svc, call.caller, plan["id"], [_rule_in(call, r) for r in doc["Rules"]])
    return {"BackupPlanId": plan["id"], "BackupPlanArn": plan["arn"], "CreationDate": plan["created"],
            "VersionId": plan["version_id"]}


def delete_backup_plan(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    plan = _plan(call, p["BackupPlanId"])
    if plan.get("selections"):
        raise E.Conflict("the plan's selections must be deleted before the plan (DeleteBackupSelection).",
                         field="BackupPlanId")
    plans.delete_plan(call.svc, call.caller, plan["id"])
    return {"BackupPlanId": plan["id"], "BackupPlanArn": plan["arn"], "DeletionDate": call.svc.clock.now(),
            "VersionId": plan.get("version_id")}


def _listed(plan: dict[str, Any], version: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"BackupPlanArn": plan["arn"], "BackupPlanId": plan["id"], "BackupPlanName": plan["name"],
            "CreationDate": (version or plan).get("created"),
            "VersionId": (version or {}).get("version_id") or plan.get("version_id")}


def list_backup_plans(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    page, token = page_of([_listed(x) for x in plans.list_plans(call.svc, call.caller)], p)
    return {"BackupPlansList": page, "NextToken": token}


def list_backup_plan_versions(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    plan = _plan(call, p["BackupPlanId"])
    listed = [_listed(plan, v) for v in plan.get("versions", [])] + [_listed(plan)]
    page, token = page_of(listed[::-1], p)
    return {"BackupPlanVersionsList": page, "NextToken": token}


# --- selections -----------------------------------------------------------------------------------------------
def create_backup_selection(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    plan = _plan(call, p["BackupPlanId"])
    sel = p["BackupSelection"]
    if sel.get("ListOfTags") or sel.get("Conditions") or sel.get("NotResources"):
        raise E.InvalidInput("select protected resources by ARN (Resources): a tag condition names machines but "
                             "not the paths to back up.", field="BackupSelection.ListOfTags")
    if not sel.get("Resources"):
        raise E.MissingField("BackupSelection.Resources lists the protected resources (ListProtectedResources).",
                             field="BackupSelection.Resources")
    sid = secrets.token_hex(12)
    mine = []
    for n, arn in enumerate(sel["Resources"]):
        if ":protected-item:" not in arn:
            raise E.InvalidInput(f"{arn!r} is not a protected resource ARN.", field="BackupSelection.Resources")
        item = retention_items.get_item(call.svc, call.caller, arn.rsplit(":", 1)[-1])
        mine.append({"name": f"{sid}-{n}", "container": item["container_id"], "paths": item["paths"]})
    meta = {"id": sid, "name": sel["SelectionName"], "iam_role": sel["IamRoleArn"], "resources": sel["Resources"],
            "created": call.svc.clock.now(), "creator_request_id": p.get("CreatorRequestId")}
    plans.set_selections(call.svc, call.caller, plan["id"], [*plan.get("selections", []), *mine],
                         [*plan.get("aws_selections", []), meta])
    return {"SelectionId": sid, "BackupPlanId": plan["id"], "CreationDate": meta["created"]}


def _selection(plan: dict[str, Any], sid: str) -> dict[str, Any]:
    for s in plan.get("aws_selections", []):
        if s["id"] == sid:
            return dict(s)
    raise E.NotFound(f"backup plan {plan['id']} has no selection {sid}.", field="SelectionId")


def get_backup_selection(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    plan = _plan(call, p["BackupPlanId"])
    s = _selection(plan, p["SelectionId"])
    return {"BackupSelection": {"SelectionName": s["name"], "IamRoleArn": s["iam_role"], "Resources": s["resources"]},
            "SelectionId": s["id"], "BackupPlanId": plan["id"], "CreationDate": s["created"],
            "CreatorRequestId": s.get("creator_request_id")}


def list_backup_selections(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    plan = _plan(call, p["BackupPlanId"])
    listed = [{"SelectionId": s["id"], "SelectionName": s["name"], "BackupPlanId": plan["id"],
               "CreationDate": s["created"], "IamRoleArn": s["iam_role"]} for s in plan.get("aws_selections", [])]
    page, token = page_of(listed, p)
    return {"BackupSelectionsList": page, "NextToken": token}


def delete_backup_selection(call: AwsCall, p: dict[str, Any]) -> None:
    plan = _plan(call, p["BackupPlanId"])
    sid = _selection(plan, p["SelectionId"])["id"]
    keep = [s for s in plan.get("selections", []) if not str(s.get("name", "")).startswith(f"{sid}-")]
    plans.set_selections(call.svc, call.caller, plan["id"], keep,
                         [s for s in plan.get("aws_selections", []) if s["id"] != sid])
    return None


# --- copy jobs ---------------------------------------------------------------------------------------------------
# AWS's CopyJobState: a copy is queued (CREATED), runs (RUNNING), then ends
COPY_STATES = {"Created": "CREATED", "InProgress": "RUNNING", "Completed": "COMPLETED", "Failed": "FAILED"}


def _copy_out(call: AwsCall, job: dict[str, Any], dest: dict[str, Any] | None = None) -> dict[str, Any]:
    dest = dest or vaults.get_vault(call.svc, call.caller, job["vault_id"])
    rp = job.get("recovery_point_id")
    src = str(job.get("source_recovery_point") or "")
    return {"CopyJobId": job["id"], "AccountId": dest["account_id"], "SourceRecoveryPointArn": src,
            "SourceBackupVaultArn": None, "DestinationBackupVaultArn": dest["arn"],
            "DestinationRecoveryPointArn": f"{dest['arn'].split(':backup-vault:')[0]}:recovery-point:{rp}" if rp
            else None, "CreationDate": job.get("created") or job.get("start"), "CompletionDate": job.get("end"),
            "State": COPY_STATES.get(job["status"], str(job["status"]).upper()),
            "StatusMessage": job.get("error"), "ResourceType": "Directory",
            "BackupSizeInBytes": job.get("copied_bytes")}


def start_copy_job(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    src = regional_vault(call, p["SourceBackupVaultName"])
    rp_id = p["RecoveryPointArn"].rsplit(":", 1)[-1]
    rp = manage.get_recovery_point(call.svc, call.caller, rp_id)
    if rp.get("arn") != p["RecoveryPointArn"] or rp["vault_id"] != src["id"]:
        raise E.RecoveryPointNotFound(f"recovery point {p['RecoveryPointArn']} is not in vault {src['name']}.")
    call.allow("backup:CopyIntoBackupVault", p["DestinationBackupVaultArn"])
    days = (p.get("Lifecycle") or {}).get("DeleteAfterDays")
    out = copies.copy_recovery_point(call.svc, call.caller, rp_id, p["DestinationBackupVaultArn"], days)
    return {"CopyJobId": out["job"]["id"], "CreationDate": out["job"]["created"], "IsParent": False}


def describe_copy_job(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    job = manage.get_job(call.svc, call.caller, p["CopyJobId"])
    if job.get("type") != "Copy":
        raise E.NotFound(f"copy job {p['CopyJobId']} does not exist.", field="CopyJobId")
    return {"CopyJob": _copy_out(call, job)}


def list_copy_jobs(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    """A page of the copy jobs into the region's vaults (or into ``ByDestinationVaultArn``), oldest first, from the
    cursor ``NextToken`` carries: the database picks each page (where every page read every copy job)."""
    found = {v["id"]: v for v in vaults.list_vaults(call.svc, call.caller)
             if (v["region"] == call.region and not p.get("ByDestinationVaultArn"))
             or p.get("ByDestinationVaultArn") == v["arn"]}

    def fetch(v: dict[str, Any]) -> Fetch:
        return lambda after, limit: manage.created_after(call.svc, call.caller, v["id"], after, "Copy", limit)

    page, token = cursor_page([fetch(v) for v in found.values()], "created", cursor_from(p, -1e18), None,
                              lambda j: _copy_out(call, j, found[j["parent_id"]]), p)
    return {"CopyJobs": page, "NextToken": token}
