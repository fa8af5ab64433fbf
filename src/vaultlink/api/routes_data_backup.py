"""The vault backup service (``<vault-id>.<geo>.backup.<domain>``): registration, chunk index, jobs,
recovery points. Each route's ``name`` is the IAM action the pipeline authorizes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from vaultlink.api.routes_data_common import container_for, data_context, svc_of
from vaultlink.service.dataplane import blobs, containers, jobs
from vaultlink.service.dataplane.context import DataContext

router = APIRouter()
Ctx = Depends(data_context)


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hostname: str
    container_id: str | None = None
    container_token: str | None = None
    agent_kind: str = "mars"  # self-reported (domain/agents.py): compatibility gating, not security
    agent_version: str | None = None  # None: the current vaultlink agent


class ChunksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    storage_account: str
    pack: str
    entries: str


class QueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: str


class BackupJobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paths: list[str]
    job_id: str | None = None  # a job the scheduler queued (its paths and lifecycle are the plan's)


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    manifest: str
    storage_account: str
    stats: dict[str, Any]
    time: float | None = None
    pack_refs: list[str] | None = None  # ACCOUNT/packs/HASH of every pack the point's chunks live in
    wal_from: str | None = None  # a database's base backup: the first WAL segment it needs (retention)


class FinishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str
    error: str | None = None
    stats: dict[str, Any] | None = None


@router.post("/containers/register", name="backup:RegisterContainer")
def register(body: RegisterIn, request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    return containers.register(svc_of(request), ctx, body.hostname, body.container_id, body.container_token,
                               agent=(body.agent_kind, body.agent_version))


@router.get("/containers/self", name="backup:DescribeContainer")
def describe_container(request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    return containers.describe(svc_of(request), ctx, container_for(request, ctx))


@router.get("/chunks", name="backup:QueryChunkIndex")
def all_chunks(request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    return blobs.all_chunks(svc_of(request), container_for(request, ctx))


@router.post("/chunks/query", name="backup:QueryChunkIndex")
def query_chunks(body: QueryIn, request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    return blobs.query_chunks(svc_of(request), container_for(request, ctx), body.ids)


@router.post("/chunks", name="backup:PutBackupData")
def add_chunks(body: ChunksIn, request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    c = container_for(request, ctx)
    return blobs.add_chunks(svc_of(request), c, body.storage_account, body.pack, body.entries)


@router.post("/jobs", name="backup:StartBackupJob")
def start_backup_job(body: BackupJobIn, request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    return jobs.start_job(svc_of(request), container_for(request, ctx), "Backup", paths=body.paths,
                          job_id=body.job_id)


@router.post("/jobs/{job_id}/complete", name="backup:StartBackupJob")
def complete_backup_job(job_id: str, body: CompleteIn, request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    c = container_for(request, ctx)
    return jobs.complete_backup(svc_of(request), c, job_id, body.manifest, body.storage_account, body.stats,
                                body.time, body.pack_refs, body.wal_from)


@router.post("/jobs/{job_id}/finish", name="backup:StopBackupJob")
def finish_job(job_id: str, body: FinishIn, request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    c = container_for(request, ctx)
    return jobs.finish_job(svc_of(request), c, job_id, body.status, body.error, body.stats)


class ProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    progress: dict[str, Any]


@router.post("/jobs/{job_id}/progress", name="backup:StartBackupJob")
def job_progress(job_id: str, body: ProgressIn, request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    c = container_for(request, ctx)
    return jobs.report_progress(svc_of(request), c, job_id, body.progress)


@router.get("/recovery-points", name="backup:ListRecoveryPointsByBackupVault")
def list_recovery_points(request: Request, ctx: DataContext = Ctx) -> list[dict[str, Any]]:
    return jobs.container_recovery_points(svc_of(request), container_for(request, ctx))


@router.get("/recovery-points/{rp_id}", name="backup:DescribeRecoveryPoint")
def get_recovery_point(rp_id: str, request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    return jobs.container_recovery_point(svc_of(request), container_for(request, ctx), rp_id)


class RestoreJobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str | None = None  # a restore job queued onto this machine (of another machine's point)


@router.post("/recovery-points/{rp_id}/restore-jobs", name="backup:StartRestoreJob")
def start_restore_job(rp_id: str, request: Request, body: RestoreJobIn | None = None,
                      ctx: DataContext = Ctx) -> dict[str, Any]:
    c = container_for(request, ctx)
    if body is not None and body.job_id:
        return jobs.start_job(svc_of(request), c, "Restore", job_id=body.job_id)
    jobs.container_recovery_point(svc_of(request), c, rp_id)
    return jobs.start_job(svc_of(request), c, "Restore", recovery_point_id=rp_id)


