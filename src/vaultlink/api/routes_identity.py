"""Accounts, principals, keys, role assignments, regions."""

from __future__ import annotations

from typing import Any, Literal, cast

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from vaultlink.api.calls import call, service_of
from vaultlink.service import identity as ids

router = APIRouter(tags=["identity"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AccountIn(Strict):
    name: str


class PrincipalIn(Strict):
    name: str
    type: Literal["user", "service"] = "user"
    account_id: str | None = None


class KeyIn(Strict):
    principal: str | None = None
    description: str = ""
    aws: bool = False  # an AWS access key id and secret (SigV4) instead of a vlk_ API key
    token_seconds: int | None = None  # a bearer token that expires (ARM clients' get_token)


class RoleIn(Strict):
    principal: str
    role: str
    scope: str | None = None


@router.get("/whoami", name="identity.whoami")
def whoami(request: Request) -> dict[str, Any]:
    return call(
        request,
        "identity.whoami",
        lambda c: {"principal_id": c.principal_id, "arn": c.arn, "account_id": c.account_id, "name": c.name},
    )


@router.post("/accounts", status_code=201, name="account.create")
def create_account(body: AccountIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "account.create", lambda c: ids.create_account(svc, c, body.name), target=body.name)


@router.get("/accounts", name="account.list")
def list_accounts(request: Request) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "account.list", lambda c: ids.list_accounts(svc, c))


@router.get("/accounts/{account_id}", name="account.show")
def get_account(account_id: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "account.show", lambda c: ids.get_account(svc, c, account_id), target=account_id)


@router.post("/principals", status_code=201, name="principal.create")
def create_principal(body: PrincipalIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(
        request,
        "principal.create",
        lambda c: ids.create_principal(svc, c, body.name, body.type, body.account_id),
        target=body.name,
    )


@router.get("/principals", name="principal.list")
def list_principals(request: Request, account_id: str | None = None) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "principal.list",
                lambda c: cast(list[dict[str, Any]], ids.list_principals(svc, c, account_id)))


@router.delete("/principals/{ref}", name="principal.delete")
def delete_principal(ref: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)

    def run(c: ids.Caller) -> dict[str, Any]:
        ids.delete_principal(svc, c, ref)
        return {"principal": ref, "deleted": True}

    return call(request, "principal.delete", run, target=ref)


@router.post("/keys", status_code=201, name="key.create")
def create_key(body: KeyIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(
        request,
        "key.create",
        lambda c: ids.create_key(svc, c, body.principal, body.description, body.aws, body.token_seconds),
        target=body.principal,
    )


@router.get("/keys", name="key.list")
def list_keys(request: Request, principal: str | None = None) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "key.list", lambda c: ids.list_keys(svc, c, principal))


@router.post("/keys/{key_id}/revoke", name="key.revoke")
def revoke_key(key_id: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(request, "key.revoke", lambda c: ids.revoke_key(svc, c, key_id), target=key_id)


@router.post("/role-assignments", status_code=201, name="role.assign")
def assign_role(body: RoleIn, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return call(
        request,
        "role.assign",
        lambda c: cast(dict[str, Any], ids.assign_role(svc, c, body.principal, body.role, body.scope)),
        target=body.scope,
    )


@router.get("/role-assignments", name="role.list")
def list_roles(request: Request, principal: str | None = None) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "role.list", lambda c: ids.list_roles(svc, c, principal))


@router.delete("/role-assignments/{assignment_id}", name="role.remove")
def remove_role(assignment_id: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)

    def run(c: ids.Caller) -> dict[str, Any]:
        ids.remove_role(svc, c, assignment_id)
        return {"id": assignment_id, "deleted": True}

    return call(request, "role.remove", run, target=assignment_id)


@router.get("/regions", name="region.list")
def list_regions(request: Request) -> list[dict[str, Any]]:
    svc = service_of(request)
    return call(request, "region.list", lambda c: [r.to_dict() for r in svc.catalog.list()])
