"""Vault access policies and identity policies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from vaultlink.api.calls import call, service_of
from vaultlink.service import policies

router = APIRouter(tags=["policies"])


@router.put("/vaults/{ref}/access-policy", name="vault.set-access-policy")
def set_vault_policy(ref: str, request: Request, doc: Any = Body(...)) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vault.set-access-policy", lambda c: policies.set_vault_policy(svc, c, ref, doc),
                target=ref, vault=ref)


@router.get("/vaults/{ref}/access-policy", name="vault.get-access-policy")
def get_vault_policy(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vault.get-access-policy", lambda c: policies.get_vault_policy(svc, c, ref),
                target=ref, vault=ref)


@router.delete("/vaults/{ref}/access-policy", name="vault.delete-access-policy")
def delete_vault_policy(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "vault.delete-access-policy", lambda c: policies.delete_vault_policy(svc, c, ref),
                target=ref, vault=ref)


@router.put("/principals/{ref}/policies", name="principal.set-policies")
def set_identity_policies(ref: str, request: Request, docs: Any = Body(...)) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "principal.set-policies",
                lambda c: policies.set_identity_policies(svc, c, ref, docs), target=ref)


@router.get("/principals/{ref}/policies", name="principal.get-policies")
def get_identity_policies(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "principal.get-policies", lambda c: policies.get_identity_policies(svc, c, ref),
                target=ref)
