"""Recovery points, jobs, containers and vault credentials files (management API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict

from vaultlink.api.calls import call, paged, service_of
from vaultlink.service import retention
from vaultlink.service.dataplane import copies, grants, manage, ondemand
from vaultlink.service.dataplane.credentials import DEFAULT_VALID_HOURS
from vaultlink.service.dataplane.jobs import AGENT_JOBS

router = APIRouter(tags=["recovery"])


class CredentialsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    valid_hours: float = DEFAULT_VALID_HOURS
    scope: str | None = None  # backup-restore (the default) | backup | restore: what its machines may do
    secondary: bool = False  # for a machine in the paired region, restoring from the replica (restore-only)


def _local_port(request: Request) -> int:
    server = request.scope.get("server")
    if server and len(server) > 1 and server[1]:
        return int(server[1])
    return int(service_of(request).config.api_port)


@router.post("/vaults/{ref}/credentials", name="vault.credentials")
def vault_credentials(ref: str, body: CredentialsIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    port = _local_port(request)
    return call(request, "vault.credentials",
                lambda c: manage.vault_credentials(svc, c, ref, port, body.valid_hours, body.scope,
                                                   body.secondary),
                target=ref, vault=ref)


@router.get("/vaults/{ref}/recovery-points", name="recovery.list")
def list_recovery_points(ref: str, request: Request, response: Response, container: str | None = None,
                         item: str | None = None, limit: int | None = None,
                         after: str | None = None) -> list[dict[str, Any]]:
    """Oldest first; with ``limit`` (at most 1,000) a page, the next one from ``after`` (``X-Next-After``)."""
    svc = service_of(request)
    rows = call(request, "recovery.list",
                lambda c: manage.list_recovery_points(svc, c, ref, container, item, limit, after), target=ref,
                vault=ref)
    return paged(response, rows, limit, "time")


@router.get("/recovery-points/{rp_id}", name="recovery.show")
def get_recovery_point(rp_id: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "recovery.show", lambda c: manage.get_recovery_point(svc, c, rp_id), target=rp_id)


@router.delete("/recovery-points/{rp_id}", name="recovery.delete")
def delete_recovery_point(rp_id: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "recovery.delete", lambda c: retention.delete_recovery_point(svc, c, rp_id), target=rp_id)


@router.get("/vaults/{ref}/jobs", name="job.list")
def list_jobs(ref: str, request: Request, response: Response, status: str | None = None,
              type: str | None = None, newest: int | None = None, limit: int | None = None,
              after: str | None = None) -> list[dict[str, Any]]:
    """Oldest created first; with ``limit`` (at most 1,000) a page, the next one from ``after`` (``X-Next-After``);
    with ``newest`` the last started, newest first."""
    svc = service_of(request)
    rows = call(request, "job.list", lambda c: manage.list_jobs(svc, c, ref, status, type, newest, limit, after),
                target=ref, vault=ref)
    return paged(response, rows, limit, "created")


@router.get("/jobs/{job_id}", name="job.show")
def get_job(job_id: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "job.show", lambda c: manage.get_job(svc, c, job_id), target=job_id)


@router.post("/jobs/{job_id}/stop", name="job.stop")
def stop_job(job_id: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "job.stop", lambda c: ondemand.stop_job(svc, c, job_id, AGENT_JOBS), target=job_id)


@router.get("/vaults/{ref}/containers", name="container.list")
def list_containers(ref: str, request: Request, response: Response, limit: int | None = None,
                    after: str | None = None) -> list[dict[str, Any]]:
    """Oldest registered first; with ``limit`` (at most 1,000) a page, the next one from ``after``."""
    svc = service_of(request)
    rows = call(request, "container.list", lambda c: manage.list_containers(svc, c, ref, limit, after), target=ref,
                vault=ref)
    return paged(response, rows, limit, "created")


class RestoreOntoIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    container: str  # the machine to restore onto (hostname or id)
    target: str  # an absolute directory on that machine
    include: list[str] | None = None  # only what these patterns select (as `agent restore --include`)
    exclude: list[str] | None = None  # less what these match (as `agent restore --exclude`)


@router.post("/recovery-points/{rp_id}/restore", name="recovery.restore")
def restore_onto(rp_id: str, body: RestoreOntoIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "recovery.restore", lambda c: grants.start_restore_onto(
        svc, c, rp_id, body.container, body.target, body.include, body.exclude), target=rp_id)


class CopyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    destination_vault: str  # name, id or ARN (another region or account)
    delete_after_days: int | None = None  # the copy's lifecycle (default: the destination vault's)


@router.post("/recovery-points/{rp_id}/copy", name="recovery.copy")
def copy_point(rp_id: str, body: CopyIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "recovery.copy", lambda c: copies.copy_recovery_point(
        svc, c, rp_id, body.destination_vault, body.delete_after_days), target=rp_id)
