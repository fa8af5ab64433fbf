"""The vault backup service (``<vault-id>.<geo>.backup.<domain>``): registration, chunk index, jobs,
recovery points. Each route's ``name`` is the IAM action the pipeline authorizes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from vaultlink.api.data_kit import DataRequest, DataRouter, Reply
from vaultlink.api.routes_data_common import container_for
from vaultlink.index_wire import INDEX_MEDIA, encode_index
from vaultlink.service.dataplane import blobs, containers, jobs, key_versions

router = DataRouter()


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


@router.route("POST", "/containers/register", "backup:RegisterContainer", body=RegisterIn)
def register(r: DataRequest) -> dict[str, Any]:
    b: RegisterIn = r.body
    return containers.register(r.svc, r.ctx, b.hostname, b.container_id, b.container_token,
                               agent=(b.agent_kind, b.agent_version))


@router.route("GET", "/containers/self", "backup:DescribeContainer")
def describe_container(r: DataRequest) -> dict[str, Any]:
    return containers.describe(r.svc, r.ctx, container_for(r))


@router.route("GET", "/chunks", "backup:QueryChunkIndex")
def all_chunks(r: DataRequest) -> dict[str, Any] | Reply:
    """The container's whole index: binary (``index_wire``, built here in the handler's thread) when asked for
    with ``accept``, else JSON."""
    if r.headers.get("accept") == INDEX_MEDIA:
        return Reply(encode_index(blobs.index_packs(r.svc, container_for(r))), media_type=INDEX_MEDIA)
    return blobs.all_chunks(r.svc, container_for(r))


@router.route("POST", "/chunks/query", "backup:QueryChunkIndex", body=QueryIn)
def query_chunks(r: DataRequest) -> dict[str, Any]:
    return blobs.query_chunks(r.svc, container_for(r), r.body.ids)


@router.route("POST", "/chunks", "backup:PutBackupData", body=ChunksIn)
def add_chunks(r: DataRequest) -> dict[str, Any]:
    b: ChunksIn = r.body
    return blobs.add_chunks(r.svc, container_for(r), b.storage_account, b.pack, b.entries)


@router.route("POST", "/jobs", "backup:StartBackupJob", body=BackupJobIn)
def start_backup_job(r: DataRequest) -> dict[str, Any]:
    b: BackupJobIn = r.body
    return jobs.start_job(r.svc, container_for(r), "Backup", paths=b.paths, job_id=b.job_id)


@router.route("POST", "/jobs/{job_id}/complete", "backup:StartBackupJob", body=CompleteIn)
def complete_backup_job(r: DataRequest) -> dict[str, Any]:
    b: CompleteIn = r.body
    return jobs.complete_backup(r.svc, container_for(r), r.params["job_id"], b.manifest, b.storage_account,
                                b.stats, b.time, b.pack_refs, b.wal_from)


@router.route("POST", "/jobs/{job_id}/finish", "backup:StopBackupJob", body=FinishIn)
def finish_job(r: DataRequest) -> dict[str, Any]:
    b: FinishIn = r.body
    return jobs.finish_job(r.svc, container_for(r), r.params["job_id"], b.status, b.error, b.stats)


class ProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    progress: dict[str, Any]


@router.route("POST", "/jobs/{job_id}/progress", "backup:StartBackupJob", body=ProgressIn)
def job_progress(r: DataRequest) -> dict[str, Any]:
    return jobs.report_progress(r.svc, container_for(r), r.params["job_id"], r.body.progress)


@router.route("GET", "/recovery-points", "backup:ListRecoveryPointsByBackupVault")
def list_recovery_points(r: DataRequest) -> list[dict[str, Any]]:
    return jobs.container_recovery_points(r.svc, container_for(r))


@router.route("GET", "/recovery-points/{rp_id}", "backup:DescribeRecoveryPoint")
def get_recovery_point(r: DataRequest) -> dict[str, Any]:
    return jobs.container_recovery_point(r.svc, container_for(r), r.params["rp_id"])


class RestoreJobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str | None = None  # a restore job queued onto this machine (of another machine's point)


@router.route("POST", "/recovery-points/{rp_id}/restore-jobs", "backup:StartRestoreJob", body=RestoreJobIn,
              optional=True)
def start_restore_job(r: DataRequest) -> dict[str, Any]:
    c = container_for(r)
    body: RestoreJobIn | None = r.body
    if body is not None and body.job_id:
        return jobs.start_job(r.svc, c, "Restore", job_id=body.job_id)
    jobs.container_recovery_point(r.svc, c, r.params["rp_id"])
    return jobs.start_job(r.svc, c, "Restore", recovery_point_id=r.params["rp_id"])


class RetireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keep: str  # the key version the agent just wrote (its newest): every other one is retired


@router.route("POST", "/keys/retire", "backup:RetireKeyVersions", body=RetireIn)
def retire_keys(r: DataRequest) -> dict[str, Any]:
    return key_versions.retire(r.svc, r.ctx.caller, container_for(r), r.body.keep)
