"""Vaults."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from vaultlink.api.calls import call, service_of
from vaultlink.domain.vaults import vault_arn
from vaultlink.service import replication, vaults

router = APIRouter(tags=["vaults"])


class VaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    region: str
    public_network_access: str | bool = "Enabled"
    cross_region_restore: str | bool = "Disabled"
    tags: dict[str, str] | None = None
    account_id: str | None = None


class VaultPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    public_network_access: str | bool | None = None
    cross_region_restore: str | bool | None = None
    tags: dict[str, str] | None = None
    soft_delete: str | None = None  # Enabled | Disabled | AlwaysOn
    soft_delete_days: int | None = None
    default_retention_days: int | None = None  # null: keep points until deleted
    immutability: str | None = None  # Azure: Disabled | Unlocked | Locked


@router.post("/vaults", status_code=201, name="vault.create")
def create_vault(body: VaultIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(
        request,
        "vault.create",
        lambda c: vaults.create_vault(
            svc,
            c,
            body.name,
            body.region,
            body.public_network_access,
            body.cross_region_restore,
            body.tags,
            body.account_id,
        ),
        target=body.name,
        resource=lambda c: ("backup:CreateBackupVault", _new_vault_arn(svc, body, c)),
    )


def _new_vault_arn(svc: Any, body: VaultIn, caller: Any) -> str:
    reg = svc.catalog.regions.get(body.region)
    part = reg.partition.name if reg else svc.catalog.default_partition().name
    return vault_arn(part, body.region, body.account_id or caller.account_id, body.name)


@router.get("/vaults", name="vault.list")
def list_vaults(request: Request, account_id: str | None = None) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "vault.list", lambda c: vaults.list_vaults(svc, c, account_id))


@router.get("/vaults/{ref}", name="vault.show")
def get_vault(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vault.show", lambda c: replication.with_status(svc, vaults.get_vault(svc, c, ref)),
                target=ref, vault=ref)


@router.post("/vaults/{ref}/replicate", name="vault.replicate")
def replicate(ref: str, request: Request) -> dict[str, Any]:
    """Copy what the paired region's replica lacks, now (the service also does it every
    ``replication_interval`` seconds)."""
    svc = service_of(request)
    return call(request, "vault.replicate", lambda c: replication.replicate_now(svc, c, ref), target=ref, vault=ref)


@router.patch("/vaults/{ref}", name="vault.update")
def update_vault(ref: str, body: VaultPatch, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    changes = body.model_dump(exclude_unset=True)
    return call(
        request, "vault.update", lambda c: vaults.update_vault(svc, c, ref, changes), target=ref, vault=ref
    )


@router.delete("/vaults/{ref}", name="vault.delete")
def delete_vault(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vault.delete", lambda c: vaults.delete_vault(svc, c, ref), target=ref, vault=ref)
