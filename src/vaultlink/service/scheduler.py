"""The scheduler: turns backup-plan rules into jobs on each selected machine's queue, and expires the jobs
whose windows passed. Times come from the service's clock, never from an agent.

Each pass looks at the due times since the plan's last pass (``scanned``): a due time whose start window
is still open becomes a ``Created`` job plus a work item on the machine's queue (its first storage
account's queue, which ``vaultlink agent run`` polls through the private endpoint); one whose window
already passed (the service was down) becomes an ``EXPIRED`` job. A ``Created`` job not started within its
start window, and a queued job not finished within its completion window, become ``EXPIRED``; a running job
whose agent said nothing for 15 minutes becomes ``Failed`` (code ``AgentSilent``). Every expiry is audited, and the
job's work item leaves its machine's queue (a machine down for months found no backlog of dead runs there)."""

from __future__ import annotations

import secrets
from typing import Any, cast

from vaultlink.domain import plans as P
from vaultlink.domain.records import ContainerRecord, find_containers, read_vault
from vaultlink.service.core import Service
from vaultlink.service.dataplane import jobs, queue, storage

SERVICE_PRINCIPAL = "vaultlink:service"
SILENT_CODE = "AgentSilent"  # a running job ended because its agent said nothing for ``jobs.SILENT`` seconds


def _machines(containers: list[ContainerRecord], sel: P.Selection) -> list[ContainerRecord]:
    return [c for c in containers if c.get("status") != "SoftDeleted"
            and P.selects(sel, c["id"], c.get("hostname"), dict(cast(dict[str, Any], c).get("tags") or {}))]


def _job(plan: dict[str, Any], rule: P.Rule, sel: P.Selection, c: ContainerRecord, due: float,
         status: str, now: float) -> dict[str, Any]:
    return {
        "id": "j" + secrets.token_hex(6), "account_id": c["account_id"], "parent_id": rule["vault"], "name": None,
        "type": "Backup", "status": status, "vault_id": rule["vault"], "container_id": c["id"],
        "hostname": c.get("hostname"), "protected_item_id": None, "recovery_point_id": None,
        "plan_id": plan["id"], "plan": plan["name"], "rule": rule["name"], "selection": sel["name"],
        "paths": sel["paths"], **_leave_out(sel), "scheduled": due, "created": now,
        "start_by": due + rule["start_window_minutes"] * 60.0,
        "complete_by": due + rule["completion_window_minutes"] * 60.0,
        "delete_after_days": rule["delete_after_days"], "copy_to": rule.get("copy_to") or [], "start": None,
        "end": None,
        "error": None if status == "Created" else "the start window passed while the service was not running",
    }


def _leave_out(sel: Any) -> dict[str, Any]:
    """A selection's (or its job's) exclude patterns and ``one_file_system``, when it has them."""
    return {k: sel[k] for k in ("exclude", "one_file_system") if k in sel}


def _audit_expired(svc: Service, job: dict[str, Any]) -> None:
    """An expired job as ``job.expire`` (code ``EXPIRED``), a silent agent's as ``job.fail`` (``AgentSilent``)."""
    failed = job["status"] == "Failed"
    svc.audit.emit({"plane": "service", "action": "job.fail" if failed else "job.expire",
                    "principal": SERVICE_PRINCIPAL, "account_id": job["account_id"], "vault": job["vault_id"],
                    "target": job["id"], "decision": "denied", "code": SILENT_CODE if failed else "EXPIRED",
                    "message": job.get("error")})


def schedule(svc: Service, now: float) -> dict[str, int]:
    """One pass: queue due runs, expire missed ones. Returns counts."""
    out = {"queued": 0, "expired": 0, "skipped": 0}
    with svc.store.transaction() as txn:
        plan_ids = [p["id"] for p in txn.find("backup_plan")]
    for pid in plan_ids:
        queued: list[tuple[str, ContainerRecord, dict[str, Any]]] = []
        expired: list[dict[str, Any]] = []
        with svc.store.transaction() as txn:
            plan = txn.get("backup_plan", pid)
            if plan is None:
                continue
            for rule in cast(list[P.Rule], plan["rules"]):
                vault = read_vault(txn, rule["vault"])
                if vault is None:
                    continue
                times, skipped = P.latest_due(rule, float(plan["scanned"]), now)
                out["skipped"] += skipped
                machines = find_containers(txn, parent_id=vault["id"])
                accounts = storage.accounts_of(vault)
                for due in times:
                    for sel in cast(list[P.Selection], plan["selections"]):
                        for c in _machines(machines, sel) if accounts else []:
                            late = now > due + rule["start_window_minutes"] * 60.0
                            job = _job(plan, rule, sel, c, due, "EXPIRED" if late else "Created", now)
                            txn.insert("job", job["id"], job)
                            if late:
                                expired.append(job)
                            else:
                                queued.append((accounts[0], c, job))
            plan["scanned"] = now
            txn.update("backup_plan", pid, plan)
        for account, c, job in queued:
            queue.put_item(svc, account, c, {"kind": "backup", "job_id": job["id"], "paths": job["paths"],
                                             **_leave_out(job), "plan": job["plan"], "rule": job["rule"]})
        out["queued"] += len(queued)
        for job in expired:
            _audit_expired(svc, job)
        out["expired"] += len(expired)
    out["expired"] += expire_jobs(svc, now)
    return out


def expire_jobs(svc: Service, now: float) -> int:
    """Queued jobs whose start (or, for a plan's, completion) window passed become ``EXPIRED``; a running job whose
    agent has said nothing for ``jobs.SILENT`` seconds (killed, its machine down) becomes ``Failed``."""
    gone: list[dict[str, Any]] = []
    with svc.store.transaction() as txn:
        for job in [*txn.find("job", status="Created"), *txn.find("job", status="InProgress")]:  # the open ones
            queued = job.get("start_by") is not None  # queued jobs have windows: a plan's, AWS's on demand, a restore
            running = job["status"] == "InProgress"
            if queued and job["status"] == "Created" and now > float(job["start_by"]):
                job.update(status="EXPIRED", end=now, error="no machine started the job within its start window")
            elif queued and running and job.get("complete_by") and now > float(job["complete_by"]):
                job.update(status="EXPIRED", end=now, error="the job did not finish within its completion window")
            elif running and job["type"] in jobs.AGENT_JOBS and jobs.silent(job, now):
                job.update(status="Failed", end=now, error_code=SILENT_CODE, error=(
                    f"no word from the agent for {jobs.SILENT / 60:g} minutes (a running agent reports every minute): "
                    "it stopped before finishing this job (killed, or its machine went down); run the job again"))
            else:
                continue
            txn.update("job", job["id"], job)
            gone.append(job)
        for job in gone:
            vault = read_vault(txn, job["vault_id"])
            if vault is not None and job.get("container_id"):
                queue.drop_items(txn, storage.accounts_of(vault), job["container_id"], job_id=job["id"])
    for job in gone:
        _audit_expired(svc, job)
    return len(gone)
