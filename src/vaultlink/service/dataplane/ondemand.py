"""On-demand jobs a principal starts (AWS ``StartBackupJob``, ``StopBackupJob``): a backup of one
protected item queued on its machine, which ``vaultlink agent run`` takes like a plan's job."""

from __future__ import annotations

import secrets
from typing import Any, cast

from vaultlink.domain.records import read_vault
from vaultlink.domain.retention import is_soft_deleted
from vaultlink.errors import Conflict, InvalidInput, NotFound
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.dataplane import queue, storage
from vaultlink.service.retention import lifecycle_for_new_point
from vaultlink.service.vaults import vault_scope

DEFAULT_START_WINDOW = 8 * 60  # minutes (AWS's default for on-demand jobs: 8 hours)
DEFAULT_COMPLETION_WINDOW = 7 * 24 * 60


def start_backup(svc: Service, caller: Caller, item_id: str, vault_ref: str | None = None,
                 delete_after_days: int | None = None, start_window_minutes: int | None = None,
                 completion_window_minutes: int | None = None) -> dict[str, Any]:
    """Queue a backup of protected item ``item_id`` on its machine; ``vault_ref`` must be the item's vault."""
    start_w = DEFAULT_START_WINDOW if start_window_minutes is None else int(start_window_minutes)
    done_w = DEFAULT_COMPLETION_WINDOW if completion_window_minutes is None else int(completion_window_minutes)
    if start_w < 60 or done_w < start_w:
        raise InvalidInput("the start window is at least 60 minutes and the completion window at least as long.",
                           field="start_window_minutes")
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        item = txn.get("protected_item", item_id)
        vault = read_vault(txn, item["vault_id"]) if item is not None else None
        if item is None or vault is None:
            raise NotFound(f"protected resource {item_id!r} does not exist; list them with "
                           "`vaultlink item list VAULT`.", field="resource")
        authorize(txn, caller, "backup.operate", vault_scope(vault))
        if vault_ref is not None and vault_ref not in (vault["name"], vault["id"], vault["arn"]):
            raise InvalidInput(f"protected resource {item_id} is backed up to vault {vault['name']}, not "
                               f"{vault_ref}.", field="vault")
        if is_soft_deleted(cast(Any, item)):
            raise Conflict(f"protected resource {item_id} is soft-deleted; undelete it first.", field="resource")
        machine = txn.get("container", item["container_id"])
        if machine is None or machine.get("status") == "SoftDeleted":
            raise Conflict(f"the machine of {item_id} is no longer registered.", field="resource")
        lifecycle_for_new_point(vault, delete_after_days, now)  # a lock the lifecycle does not fit: refused now
        accounts = storage.accounts_of(vault)
        if not accounts:
            raise Conflict(f"vault {vault['name']} has no storage yet; register the machine first.", field="vault")
        job = {
            "id": "j" + secrets.token_hex(6), "account_id": vault["account_id"], "parent_id": vault["id"],
            "name": None, "type": "Backup", "status": "Created", "vault_id": vault["id"],
            "container_id": machine["id"], "hostname": machine.get("hostname"), "protected_item_id": None,
            "recovery_point_id": None, "plan_id": None, "plan": None, "rule": None, "paths": item["paths"],
            "scheduled": now, "start_by": now + start_w * 60.0, "complete_by": now + done_w * 60.0,
            "delete_after_days": delete_after_days, "copy_to": [], "start": None, "end": None, "error": None,
            "owner": caller.arn, "created": now,
        }
        txn.insert("job", job["id"], job)
    queue.put_item(svc, accounts[0], cast(Any, machine), {"kind": "backup", "job_id": job["id"], "paths": item["paths"],
                                              "plan": None, "rule": None})
    return job


def stop_job(svc: Service, caller: Caller, job_id: str, types: tuple[str, ...] = ("Backup",)) -> dict[str, Any]:
    """Stop a job of one of ``types`` that has not finished: ``Created`` ones never start; a running one is marked,
    its agent stops at its next report (``agent/job_progress.py``) and its completion is refused."""
    with svc.store.transaction() as txn:
        job = txn.get("job", job_id)
        vault = read_vault(txn, job["vault_id"]) if job is not None else None
        if job is None or vault is None:
            raise NotFound(f"job {job_id!r} does not exist.", field="job")
        authorize(txn, caller, "backup.operate", vault_scope(vault))
        if job["type"] not in types:
            raise Conflict(f"job {job_id} is a {job['type']} job, which the service runs itself; only "
                           f"{' and '.join(types)} jobs, which agents run, can be stopped.", field="job")
        if job["status"] not in ("Created", "InProgress"):
            raise Conflict(f"job {job_id} is {job['status']}; only a job that has not finished can be stopped.",
                           field="job")
        queued = job["status"] == "Created"
        job.update(status="Aborted", end=svc.clock.now(), error=f"stopped by {caller.arn}")
        txn.update("job", job_id, job)
        if queued and job.get("container_id"):  # never taken: its work item leaves the machine's queue
            queue.drop_items(txn, storage.accounts_of(vault), job["container_id"], job_id=job_id)
    return dict(job)
