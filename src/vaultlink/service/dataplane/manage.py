"""Management-plane handlers for the data plane: recovery points, jobs, vault credentials files."""

from __future__ import annotations

from typing import Any, cast

from vaultlink.domain.cursor import check_whole, page_request
from vaultlink.domain.point_packs import point_packs
from vaultlink.domain.records import ContainerRecord, VaultRecord, read_vault
from vaultlink.errors import InvalidInput, NotFound, RecoveryPointNotFound
from vaultlink.ports import Txn
from vaultlink.service import replication
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.dataplane.containers import machine_of, public_container, vault_names
from vaultlink.service.dataplane.credentials import DEFAULT_VALID_HOURS, create_registration_secret
from vaultlink.service.dataplane.jobs import listed_point
from vaultlink.service.replication import check_offered_vault
from vaultlink.service.vaults import find_vault, vault_scope

CREDENTIALS_KIND = "vaultlink-vault-credentials"


def vault_credentials(svc: Service, caller: Caller, vault_ref: str, api_port: int,
                      valid_hours: float = DEFAULT_VALID_HOURS, scope: str | None = None,
                      secondary: bool = False) -> dict[str, Any]:
    """The content of a vault credentials file (it holds a secret: keep it private). ``secondary``: for a
    machine in the vault's paired region that restores from its replica (restore-only)."""
    if secondary:
        if scope not in (None, "restore"):
            raise InvalidInput("a credentials file for the paired region is restore-only: drop --scope or use "
                               "--scope restore.", field="scope")
        with svc.store.transaction() as txn:
            vault = find_vault(txn, vault_ref, caller.account_id)
            authorize(txn, caller, "backup.operate", vault_scope(vault))
        check_offered_vault(vault)
    vault, token, rec = create_registration_secret(svc, caller, vault_ref, valid_hours,
                                                   "restore" if secondary else scope or "backup-restore")
    names = vault_names(svc, vault, secondary=secondary)
    return {
        "kind": CREDENTIALS_KIND,
        "version": 1,
        "vault_id": vault["id"],
        "vault_name": vault["name"],
        "vault_arn": vault["arn"],
        "account_id": vault["account_id"],
        "region": names["region"],
        "geo": names["geo"],
        "storage_suffix": names["storage_suffix"],
        "domain": svc.config.domain,
        "backup_service": names["backup_service"],
        "backup_service_privatelink": names["backup_service_privatelink"],
        "api_port": api_port,
        "registration_secret": token,
        "secret_id": rec["id"],
        "issued_by": caller.arn,
        "created": rec["created"],
        "expires": rec["expires"],
        "scope": rec["scope"],
        "tls": bool(svc.ca_pem),
        "ca_pem": svc.ca_pem or None,  # the agent verifies the service against it
    }


def _vault_for(svc: Service, caller: Caller, ref: str, permission: str) -> VaultRecord:
    with svc.store.transaction() as txn:
        vault = find_vault(txn, ref, caller.account_id)
        authorize(txn, caller, permission, vault_scope(vault))
        return vault


def list_recovery_points(svc: Service, caller: Caller, vault_ref: str, container: str | None = None,
                         item: str | None = None, limit: int | None = None,
                         after: str | None = None) -> list[dict[str, Any]]:
    """A vault's points (of machine ``container``, of protected item ``item``), oldest first: with ``limit``, a page
    of them after the cursor ``after`` (``cursor_after(point, "time")`` of the last one shown); without it, every one
    while there are at most ``MAX_UNPAGED`` (InvalidInput past that: the listing must be paged). The database picks
    them: a page reads only itself."""
    vault = _vault_for(svc, caller, vault_ref, "backup.read")
    take, start = page_request(limit, after)
    with svc.store.transaction() as txn:
        match = {"protected_item_id": item} if item is not None else {}
        if container is not None:
            found = machine_of(txn, vault["id"], container)
            match.update({"container_id": found["id"]} if found is not None else {"hostname": container})
        rps = txn.oldest("recovery_point", "time", take, after=start, match=match or None, parent_id=vault["id"])
    check_whole(limit, rps, "recovery points")
    return [{**listed_point(r), "locations": locations(vault, r)} for r in rps]


def points_after(svc: Service, caller: Caller, vault_ref: str, after: tuple[float, str], limit: int,
                 item: str | None = None) -> list[dict[str, Any]]:
    """A vault's point records (of protected item ``item``) after ``after`` in the order of ``(time, id)``, the
    first ``limit`` of them, picked by the database (AWS's listings, from a cursor: each shapes its points)."""
    vault = _vault_for(svc, caller, vault_ref, "backup.read")
    with svc.store.transaction() as txn:
        return txn.oldest("recovery_point", "time", limit, after=after,
                          match={"protected_item_id": item} if item else None, parent_id=vault["id"])


def recovery_points_page(svc: Service, caller: Caller, vault_ref: str, page: int,
                         per_page: int) -> tuple[int, int, list[dict[str, Any]]]:
    """One page of a vault's points, newest first, as ``list_recovery_points`` shows each: (how many there
    are, the page shown — the last one when ``page`` is past it —, its points). Only that page is read."""
    vault = _vault_for(svc, caller, vault_ref, "backup.read")
    with svc.store.transaction() as txn:
        total = txn.count("recovery_point", parent_id=vault["id"])
        at = max(0, min(page, max(total - 1, 0) // per_page))
        rps = txn.newest("recovery_point", "time", per_page, at * per_page, parent_id=vault["id"])
    return total, at, [{**listed_point(r), "locations": locations(vault, r)} for r in rps]


def locations(vault: VaultRecord, rp: dict[str, Any]) -> dict[str, Any]:
    """Where a point lives (its vault's region, the paired region once replicated, its copies) and what it can
    be restored to."""
    sec = vault.get("secondary_region") if replication.enabled(vault) else None
    replicated = bool(sec and rp.get("replicated_at"))
    restore_to = ["any machine of the vault in its region (`vaultlink recovery-point restore`)"]
    if replicated:
        restore_to.append(f"a machine of {sec} registered with `vaultlink vault credentials --secondary`")
    restore_to += [f"from its copy {c.get('id')} in vault {c.get('vault')}" for c in rp.get("copies") or []]
    return {
        "primary": vault["region"],
        "secondary": sec if replicated else None,
        "replication": None if not sec else "Replicated" if replicated else "Pending",
        "copies": [{"vault": c.get("vault"), "id": c.get("id"), "region": c.get("region")}
                   for c in rp.get("copies") or []],
        "restore_to": restore_to,
    }


def _rp(svc: Service, caller: Caller, rp_id: str, permission: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        rp = txn.get("recovery_point", rp_id)
        if rp is not None:
            vault = read_vault(txn, rp["vault_id"])
            if vault is not None:
                authorize(txn, caller, permission, vault_scope(vault))
                return rp
    raise RecoveryPointNotFound(f"recovery point {rp_id!r} does not exist; `vaultlink recovery-point list VAULT`.")


def get_recovery_point(svc: Service, caller: Caller, rp_id: str) -> dict[str, Any]:
    """One point, with its pack list (``pack_refs``: None when its agent did not register it)."""
    rp = _rp(svc, caller, rp_id, "backup.read")
    with svc.store.transaction() as txn:
        rp["pack_refs"] = point_packs(txn, rp)
    return rp


JOB_STATUSES = ("Created", "InProgress", "Completed", "Failed", "Aborted", "EXPIRED")
JOB_TYPES = ("Backup", "Restore", "Copy")
MAX_NEWEST = 10_000


def list_jobs(svc: Service, caller: Caller, vault_ref: str, status: str | None = None,
              job_type: str | None = None, newest: int | None = None, limit: int | None = None,
              after: str | None = None) -> list[dict[str, Any]]:
    """A vault's jobs, oldest created first (``status`` and ``job_type`` in any case); with ``limit``, a page of them
    after the cursor ``after`` (``cursor_after(job, "created")`` of the last one shown); without it, every one while
    there are at most ``MAX_UNPAGED``. With ``newest``: only the ``newest`` last started, newest first (queued ones
    not started yet last). The database picks them through the status index: a page reads only itself."""
    vault = _vault_for(svc, caller, vault_ref, "backup.read")
    known = next((s for s in JOB_STATUSES if status is not None and s.lower() == status.lower()), None)
    kind = next((t for t in JOB_TYPES if job_type is not None and t.lower() == job_type.lower()), None)
    if newest is not None and not 1 <= newest <= MAX_NEWEST:
        raise InvalidInput(f"newest must be 1 to {MAX_NEWEST}.", field="newest")
    if newest is not None and (limit is not None or after is not None):
        raise InvalidInput("newest lists the last started jobs; limit and after page the whole listing: give one "
                           "or the other.", field="newest")
    take, start = page_request(limit, after)
    if (status is not None and known is None) or (job_type is not None and kind is None):
        return []
    eq: dict[str, Any] = {"parent_id": vault["id"], **({"status": known} if known else {})}
    match = {"type": kind} if kind else None
    with svc.store.transaction() as txn:
        if newest is not None:
            return txn.newest("job", "start", newest, match=match, **eq)
        jobs = txn.oldest("job", "created", take, after=start, match=match, **eq)
    check_whole(limit, jobs, "jobs")
    return jobs


def completed_since(svc: Service, caller: Caller, vault_ref: str, since: float, job_type: str,
                    page: int = 10_000) -> list[dict[str, Any]]:
    """A vault's ``job_type`` jobs completed at ``since`` or later, newest first: picked by the database through the
    status index and their end (not every job the vault ever completed)."""
    vault = _vault_for(svc, caller, vault_ref, "backup.read")
    with svc.store.transaction() as txn:
        return _newest_since(txn, "end", since, page, job_type, parent_id=vault["id"], status="Completed")


def created_after(svc: Service, caller: Caller, vault_ref: str, after: tuple[float, str], job_type: str,
                  limit: int, status: str | None = None) -> list[dict[str, Any]]:
    """A vault's ``job_type`` jobs (with ``status``: in that status) that come after ``after`` in the order of
    ``(created, id)``, the first ``limit`` of them, picked by the database (``ListBackupJobs``, a page at a time from
    its cursor: each page reads only itself, where every page read the whole 30 days before)."""
    vault = _vault_for(svc, caller, vault_ref, "backup.read")
    eq = {"parent_id": vault["id"], **({"status": status} if status else {})}
    with svc.store.transaction() as txn:
        return txn.oldest("job", "created", limit, after=after, match={"type": job_type}, **eq)


def _newest_since(txn: Txn, by: str, since: float, page: int, job_type: str, **eq: Any) -> list[dict[str, Any]]:
    """Jobs of ``job_type`` whose ``by`` is ``since`` or later, newest first: the database picks and sorts them
    (``Txn.newest`` with ``at_least``), handed over a page at a time."""
    out: list[dict[str, Any]] = []
    for offset in range(0, 10_000_000, page):
        rows = txn.newest("job", by, page, offset, match={"type": job_type}, at_least=since, **eq)
        out += rows
        if len(rows) < page:
            break
    return out


def recent_jobs(svc: Service, caller: Caller, vault_ref: str, limit: int) -> list[dict[str, Any]]:
    """A vault's ``limit`` most recently started jobs, newest first (only those are read)."""
    vault = _vault_for(svc, caller, vault_ref, "backup.read")
    with svc.store.transaction() as txn:
        return txn.newest("job", "start", limit, parent_id=vault["id"])


def get_job(svc: Service, caller: Caller, job_id: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        job = txn.get("job", job_id)
        if job is not None:
            vault = read_vault(txn, job["vault_id"])
            if vault is not None:
                authorize(txn, caller, "backup.read", vault_scope(vault))
                return job
    raise NotFound(f"job {job_id!r} does not exist; `vaultlink job list VAULT` lists a vault's jobs.", field="job")


def list_containers(svc: Service, caller: Caller, vault_ref: str, limit: int | None = None,
                    after: str | None = None) -> list[dict[str, Any]]:
    """A vault's machines, oldest registered first: with ``limit`` a page after the cursor ``after`` (as
    ``list_jobs``), without it every one while there are at most ``cursor.MAX_UNPAGED``."""
    vault = _vault_for(svc, caller, vault_ref, "backup.read")
    take, start = page_request(limit, after)
    with svc.store.transaction() as txn:
        found = txn.oldest("container", "created", take, after=start, parent_id=vault["id"])
    check_whole(limit, found, "machines")
    return [public_container(cast(ContainerRecord, c)) for c in found]
