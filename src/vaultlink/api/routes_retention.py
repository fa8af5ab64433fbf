"""Soft delete, vault lock, lifecycles, prune and usage (management API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from vaultlink.api.calls import call, service_of
from vaultlink.service import maintenance, retention

router = APIRouter(tags=["retention"])


class LockIn(BaseModel):
    """AWS ``PutBackupVaultLockConfiguration`` (snake_case)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    min_retention_days: int | None = None
    max_retention_days: int | None = None
    changeable_for_days: int | None = None


class LifecycleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    retention_days: int | None


@router.get("/vaults/{ref}/lock", name="vault.lock.show")
def get_lock(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vault.lock.show", lambda c: retention.get_lock(svc, c, ref), target=ref, vault=ref)


@router.put("/vaults/{ref}/lock", name="vault.lock.put")
def put_lock(ref: str, body: LockIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vault.lock.put", lambda c: retention.put_lock(svc, c, ref, body.model_dump()),
                target=ref, vault=ref)


@router.delete("/vaults/{ref}/lock", name="vault.lock.delete")
def delete_lock(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vault.lock.delete", lambda c: retention.delete_lock(svc, c, ref), target=ref, vault=ref)


@router.post("/recovery-points/{rp_id}/undelete", name="recovery.undelete")
def undelete(rp_id: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "recovery.undelete", lambda c: retention.undelete_recovery_point(svc, c, rp_id),
                target=rp_id)


@router.patch("/recovery-points/{rp_id}", name="recovery.update")
def update_lifecycle(rp_id: str, body: LifecycleIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "recovery.update",
                lambda c: retention.update_lifecycle(svc, c, rp_id, body.retention_days), target=rp_id)


@router.post("/vaults/{ref}/prune", name="vault.prune")
def prune(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vault.prune", lambda c: maintenance.prune_now(svc, c, ref), target=ref, vault=ref)


@router.get("/vaults/{ref}/usage", name="vault.usage")
def usage(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vault.usage", lambda c: maintenance.vault_usage(svc, c, ref), target=ref, vault=ref)
