"""Restore anywhere within a vault: a restore job onto another machine, and the grant it carries.

A principal with restore rights on the vault (``backup.operate``: Owner, Contributor, Backup Operator)
starts a restore job for recovery point P onto machine C; the job lands on C's queue, where
``vaultlink agent run`` takes it. While the job is ``Created`` or ``InProgress`` it grants C read access
to exactly P's data in P's machine's namespace: P's manifest, the key files, and the packs P registered
(``point_packs``), through the read actions only. C asks for it with its own container credential and the
header ``X-Vaultlink-Restore-Job: JOB``; the grant ends with the job (finished, failed or expired).
The passphrase stays on the machines: C needs the source's passphrase to decrypt.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, cast

from vaultlink.data.tree import check_patterns
from vaultlink.domain.point_packs import point_packs
from vaultlink.domain.records import ContainerRecord, RecoveryPointRecord, read_container
from vaultlink.domain.retention import is_soft_deleted
from vaultlink.errors import AccessDenied, InvalidInput, NotFound, RecoveryPointNotFound, RecoveryPointSoftDeleted
from vaultlink.ports import Txn
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.dataplane import queue, storage
from vaultlink.service.dataplane.containers import check_scope_allows, machine_of
from vaultlink.service.replication import check_offered
from vaultlink.service.vaults import vault_scope

JOB_HEADER = "x-vaultlink-restore-job"
GRANT_ACTIONS = ("backup:GetBackupData", "backup:QueryChunkIndex", "backup:DescribeRecoveryPoint")
START_WINDOW = 24 * 3600.0  # a restore job not started within a day expires, and its grant with it
CACHED_POINTS = 8  # the last points granted whose names are kept (a restore asks at every request)
Readable = tuple[frozenset[str], frozenset[str]]  # the names a grant opens, and its points' ``ACCOUNT/packs/HASH``
_readable: OrderedDict[str, Readable] = OrderedDict()
_readable_lock = threading.Lock()


def start_restore_onto(svc: Service, caller: Caller, rp_id: str, machine: str, target: str,
                       include: Sequence[str] | None = None, exclude: Sequence[str] | None = None) -> dict[str, Any]:
    """Queue a restore of ``rp_id`` (only what ``include`` selects, less what ``exclude`` matches, as ``agent
    restore --include/--exclude``) onto ``machine`` (hostname or id) into ``target`` (an absolute path)."""
    if not isinstance(target, str) or not target.startswith("/") or len(target) > 4096:
        raise InvalidInput("target must be an absolute directory path on the machine.", field="target")
    chosen = {k: check_patterns(list(v), k) for k, v in (("include", include), ("exclude", exclude)) if v is not None}
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        rp = cast("RecoveryPointRecord | None", txn.get("recovery_point", rp_id))
        vault = txn.get("vault", rp["vault_id"]) if rp else None
        if rp is None or vault is None:
            raise RecoveryPointNotFound(f"recovery point {rp_id!r} does not exist.")
        authorize(txn, caller, "backup.operate", vault_scope(cast(Any, vault)))
        if is_soft_deleted(rp):
            raise RecoveryPointSoftDeleted(f"recovery point {rp_id} is soft-deleted; undelete it first.")
        if rp.get("packs_referenced") is None:
            raise InvalidInput(f"recovery point {rp_id} was made by an older agent that did not register its "
                               "packs; restore it on its own machine.", field="recovery_point")
        dest = machine_of(txn, vault["id"], machine)
        if dest is None or dest.get("status") == "SoftDeleted":
            raise NotFound(f"machine {machine!r} is not registered with vault {vault['name']}.", field="container")
        check_scope_allows(dest, "backup:StartRestoreJob")
        if dest.get("secondary"):  # a machine of the paired region restores from the replica: replicated only
            check_offered(cast(Any, vault), rp)
        accounts = storage.accounts_of(cast(Any, vault))
        job = {
            "id": "j" + secrets.token_hex(6), "account_id": vault["account_id"], "parent_id": vault["id"],
            "name": None, "type": "Restore", "status": "Created", "vault_id": vault["id"],
            "container_id": dest["id"], "hostname": dest.get("hostname"),
            "protected_item_id": rp.get("protected_item_id"), "recovery_point_id": rp_id,
            "source_container_id": rp["container_id"], "source_hostname": rp.get("hostname"), "target": target,
            "start_by": now + START_WINDOW, "created": now, "start": None, "end": None, "owner": caller.arn,
            **chosen,
        }
        txn.insert("job", job["id"], job)
    queue.put_item(svc, accounts[0], dest, {"kind": "restore", "job_id": job["id"], "recovery_point": rp_id,
                                           "target": target, **chosen})
    return job


def granted_source(svc: Service, caller_container: ContainerRecord, job_id: str, action: str) -> ContainerRecord:
    """The source machine's record, carrying the grant of restore job ``job_id`` for ``caller_container``;
    ``AccessDenied`` unless that job is this machine's, still open, and ``action`` only reads."""
    if caller_container.get("scope") == "backup":
        raise AccessDenied("this machine is registered for backup only: it restores nothing.")
    if action not in GRANT_ACTIONS:
        raise AccessDenied(f"a restore job's grant allows reading the recovery point's data only, not {action}.")
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        job = txn.get("job", job_id)
        if job is None or job.get("container_id") != caller_container["id"] or job.get("type") != "Restore" \
                or not job.get("source_container_id"):
            raise AccessDenied(f"job {job_id} grants this machine nothing.", field="job")
        if job["status"] not in ("Created", "InProgress") or (job["status"] == "Created" and
                                                              now > float(job["start_by"])):
            raise AccessDenied(f"restore job {job_id} is {job['status']}: its grant has ended.", field="job")
        rp = cast("RecoveryPointRecord | None", txn.get("recovery_point", job["recovery_point_id"]))
        source = read_container(txn, job["source_container_id"])
        if rp is None or source is None or is_soft_deleted(rp):
            raise AccessDenied(f"the recovery point of job {job_id} is no longer there.", field="job")
        names, packs = _readable_of(txn, rp)
    out = cast(ContainerRecord, dict(source))
    out["grant"] = {"job_id": job_id, "recovery_point_id": rp["id"], "names": names, "packs": packs}
    return out


def _readable_of(txn: Txn, rp: RecoveryPointRecord) -> Readable:
    """What a grant of point ``rp`` opens: its manifest and packs. A point's packs never change once it is committed
    (they go with it), and a restore asks at each of its requests (a 100 GiB machine's 12,800 names: 4.8 ms a
    request), so the last ``CACHED_POINTS`` points' are kept; the job, the point and the machine are read each time."""
    with _readable_lock:
        got = _readable.get(rp["id"])
        if got is not None:
            _readable.move_to_end(rp["id"])
            return got
    refs = point_packs(txn, rp) or []
    got = (frozenset({rp["manifest"], *(ref.split("/", 1)[1] for ref in refs)}), frozenset(refs))
    with _readable_lock:
        _readable[rp["id"]] = got
        while len(_readable) > CACHED_POINTS:
            _readable.popitem(last=False)
    return got


def grant_allows(container: ContainerRecord, name: str) -> bool:
    """Without a grant, anything of the machine's own; under one, the point's manifest, packs and key files."""
    grant = container.get("grant")
    return grant is None or name.startswith("keys/") or name in grant["names"]


def check_grant_read(container: ContainerRecord, name: str) -> None:
    grant = container.get("grant")
    if grant is not None and not grant_allows(container, name):
        raise AccessDenied(f"restore job {grant['job_id']} grants {name!r} no access: only the data of "
                           f"recovery point {grant['recovery_point_id']}.", field="name")
