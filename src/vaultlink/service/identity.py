"""Accounts, principals, API keys and role assignments."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from vaultlink.domain.identity import (
    ACCOUNT_RE,
    Scope,
    check_name,
    check_role,
    new_account_id,
    new_id,
    principal_arn,
)
from vaultlink.domain.records import (
    AccountRecord,
    ApiKeyRecord,
    PrincipalRecord,
    RoleAssignmentRecord,
    find_api_keys,
    find_principals,
    read_api_key,
    read_principal,
    require_principal,
)
from vaultlink.errors import (
    AccessDenied,
    InvalidApiKey,
    InvalidInput,
    NotFound,
    TokenExpired,
    Unauthenticated,
)
from vaultlink.ports import Txn
from vaultlink.service.aws_keys import key_record, new_aws_key
from vaultlink.service.core import Caller, Service, allowed, authorize
from vaultlink.service.events import KeysChanged, RolesChanged

KEY_PREFIX = "vlk"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_key(
    txn: Txn, svc: Service, principal: PrincipalRecord, description: str = "", expires: float | None = None
) -> tuple[ApiKeyRecord, str]:
    key_id = "AK" + secrets.token_hex(8).upper()
    secret = secrets.token_urlsafe(32)
    rec = key_record(svc, principal, key_id, description, _hash(secret))
    if expires is not None:
        rec["expires"] = expires
    txn.insert("api_key", key_id, rec)
    return rec, f"{KEY_PREFIX}_{key_id}_{secret}"


def public_key(rec: ApiKeyRecord) -> dict[str, Any]:
    out = {k: rec.get(k) for k in ("id", "account_id", "principal", "description", "status", "created")}
    out["type"] = "aws" if rec.get("aws") else "token" if rec.get("expires") else "api_key"
    if rec.get("expires"):
        out["expires"] = rec["expires"]
    return out


def _create_account(txn: Txn, svc: Service, name: str, is_root: bool = False) -> tuple[AccountRecord, str]:
    account_id = new_account_id()
    while txn.get("account", account_id) is not None:  # pragma: no cover - 1e-12
        account_id = new_account_id()
    part = svc.catalog.default_partition().name
    acct: AccountRecord = {
        "id": account_id,
        "account_id": "",
        "parent_id": "",
        "name": name,
        "root": is_root,
        "created": svc.clock.now(),
    }
    txn.insert("account", account_id, acct)
    owner: PrincipalRecord = {
        "id": new_id("p-"),
        "account_id": account_id,
        "parent_id": "",
        "name": "owner",
        "type": "user",
        "arn": principal_arn(part, account_id, "user", "owner"),
        "created": svc.clock.now(),
    }
    txn.insert("principal", owner["id"], owner)
    _assign(txn, svc, owner, "Owner", Scope(account_id))
    _, token = _new_key(txn, svc, owner, "created with the account")
    return acct, token


def bootstrap(svc: Service) -> tuple[AccountRecord, str] | None:
    """On first start, create the root account, its owner and a key. Returns (account, key) or None."""
    with svc.store.transaction() as txn:
        existing = [a for a in txn.find("account") if a.get("root")]
        if existing:
            return None
        return _create_account(txn, svc, "root", is_root=True)


def authenticate(svc: Service, token: str | None, source_ip: str | None = None) -> Caller:
    """The caller of an API key (``vlk_…``). Agent credentials are not API keys: see ``service.authn``."""
    if not token:
        raise Unauthenticated()
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise InvalidApiKey("the API key is malformed; keys look like vlk_AK…_…. Check VAULTLINK_API_KEY.")
    with svc.store.transaction() as txn:
        rec = read_api_key(txn, parts[1])
        if rec is not None and rec.get("aws"):
            raise InvalidApiKey(f"{parts[1]} is an AWS access key: it signs AWS API requests (SigV4) and is not a "
                                "vaultlink API key; use a vlk_ key here (`vaultlink key create`).")
        if rec is None or not hmac.compare_digest(rec["secret_hash"], _hash(parts[2])):
            raise InvalidApiKey()
        if rec["status"] != "Active":
            raise InvalidApiKey("the API key was revoked; create a new one with `vaultlink key create`.")
        if rec.get("expires") and svc.clock.now() >= float(rec["expires"]):
            raise TokenExpired(f"the token {parts[1]} expired; get a new one (`vaultlink key create --arm-token`).")
        principal = read_principal(txn, rec["parent_id"])
        if principal is None:
            raise InvalidApiKey("the API key's principal was deleted; use another key.")
    return Caller(principal["id"], principal["account_id"], principal["arn"], principal["name"], source_ip,
                  kind="api_key", credential_id=rec["id"], expires=float(rec.get("expires") or 0.0))


# --- accounts ----------------------------------------------------------------
def _root_scope(txn: Txn) -> Scope:
    roots = [a for a in txn.find("account") if a.get("root")]
    return Scope(roots[0]["id"])


def create_account(svc: Service, caller: Caller, name: str) -> dict[str, Any]:
    check_name(name, "name", "account name")
    with svc.store.transaction() as txn:
        root = _root_scope(txn)
        if not allowed(txn, caller, "account.write", root):
            raise AccessDenied("only an Owner of the root account can create accounts.")
        acct, token = _create_account(txn, svc, name)
    out = dict(acct)
    out["owner_api_key"] = token
    out["owner_arn"] = principal_arn(svc.catalog.default_partition().name, acct["id"], "user", "owner")
    return out


def list_accounts(svc: Service, caller: Caller) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        out = []
        for a in txn.find("account"):
            if allowed(txn, caller, "account.read", Scope(a["id"])) or allowed(
                txn, caller, "account.read", _root_scope(txn)
            ):
                out.append(a)
        return out


def get_account(svc: Service, caller: Caller, account_id: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        acct = txn.require("account", account_id)
        authorize(txn, caller, "account.read", Scope(account_id))
        return acct


def resolve_account(caller: Caller, account_id: str | None) -> str:
    acct = account_id or caller.account_id
    if not ACCOUNT_RE.match(acct):
        raise InvalidInput(f"account id {acct!r} must be 12 digits.", field="account_id")
    return acct


# --- principals ----------------------------------------------------------------
def create_principal(
    svc: Service, caller: Caller, name: str, kind: str = "user", account_id: str | None = None
) -> dict[str, Any]:
    check_name(name, "name", "principal name")
    if kind not in ("user", "service"):
        raise InvalidInput(f"principal type {kind!r} is not valid; use 'user' or 'service'.", field="type")
    acct = resolve_account(caller, account_id)
    with svc.store.transaction() as txn:
        txn.require("account", acct)
        authorize(txn, caller, "principal.write", Scope(acct))
        part = svc.catalog.default_partition().name
        rec: PrincipalRecord = {
            "id": new_id("p-"),
            "account_id": acct,
            "parent_id": "",
            "name": name,
            "type": kind,
            "arn": principal_arn(part, acct, kind, name),
            "created": svc.clock.now(),
        }
        txn.insert("principal", rec["id"], rec)
        _, token = _new_key(txn, svc, rec, "created with the principal")
    out = dict(rec)
    out["api_key"] = token
    return out


def list_principals(svc: Service, caller: Caller, account_id: str | None = None) -> list[PrincipalRecord]:
    acct = resolve_account(caller, account_id)
    with svc.store.transaction() as txn:
        authorize(txn, caller, "principal.read", Scope(acct))
        return find_principals(txn, account_id=acct)


def find_principal(txn: Txn, ref: str, account_id: str) -> PrincipalRecord:
    """A principal by id, ARN, or name within ``account_id``."""
    if ref.startswith("p-"):
        rec = read_principal(txn, ref)
        if rec:
            return rec
    if ref.startswith("arn:"):
        for p in find_principals(txn, account_id=ref.split(":")[4] if ref.count(":") >= 5 else account_id):
            if p["arn"] == ref:
                return p
    else:
        found = find_principals(txn, account_id=account_id, name=ref)
        if found:
            return found[0]
    raise NotFound(
        f"principal {ref!r} does not exist; `vaultlink principal list` shows them.", field="principal"
    )


def delete_principal(svc: Service, caller: Caller, ref: str) -> None:
    with svc.store.transaction() as txn:
        p = find_principal(txn, ref, caller.account_id)
        authorize(txn, caller, "principal.write", Scope(p["account_id"]))
        if p["id"] == caller.principal_id:
            raise InvalidInput("you cannot delete the principal you are calling as.", field="principal")
        for k in find_api_keys(txn, parent_id=p["id"]):
            txn.delete("api_key", k["id"])
        for a in txn.find("role_assignment", parent_id=p["id"]):
            txn.delete("role_assignment", a["id"])
        txn.delete("principal", p["id"])
    svc.fire(KeysChanged())


# --- keys -------------------------------------------------------------------------
def create_key(
    svc: Service, caller: Caller, principal_ref: str | None, description: str = "", aws: bool = False,
    token_seconds: int | None = None,
) -> dict[str, Any]:
    """An API key (``vlk_…``), an AWS access key (``aws``), or a bearer token that expires after
    ``token_seconds`` (an ARM token: what an Azure SDK credential's ``get_token`` returns)."""
    if token_seconds is not None and not 1 <= token_seconds <= 24 * 3600:
        raise InvalidInput("a token lives 1 s to 24 h.", field="token_seconds")
    if token_seconds is not None and aws:
        raise InvalidInput("a token is a bearer token, not an AWS access key.", field="aws")
    with svc.store.transaction() as txn:
        p = (
            find_principal(txn, principal_ref, caller.account_id)
            if principal_ref
            else require_principal(txn, caller.principal_id)
        )
        if p["id"] != caller.principal_id:
            authorize(txn, caller, "principal.write", Scope(p["account_id"]))
        if aws:
            rec, secret = new_aws_key(txn, svc, p, description)
        else:
            if token_seconds is not None:  # the principal's expired tokens go as new ones come
                for old in txn.find("api_key", parent_id=p["id"]):
                    if old.get("expires") and float(old["expires"]) < svc.clock.now():
                        txn.delete("api_key", old["id"])
            expires = svc.clock.now() + token_seconds if token_seconds is not None else None
            rec, token = _new_key(txn, svc, p, description, expires)
    out = public_key(rec)
    if aws:
        out["access_key_id"] = rec["id"]
        out["secret_access_key"] = secret
    elif token_seconds is not None:  # as an OAuth2 token endpoint answers
        out.update(access_token=token, token_type="Bearer", expires_in=token_seconds, expires_on=int(rec["expires"]))
    else:
        out["api_key"] = token
    return out


def list_keys(svc: Service, caller: Caller, principal_ref: str | None = None) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        if principal_ref:
            p = find_principal(txn, principal_ref, caller.account_id)
            if p["id"] != caller.principal_id:
                authorize(txn, caller, "principal.read", Scope(p["account_id"]))
            return [public_key(k) for k in find_api_keys(txn, parent_id=p["id"])]
        if allowed(txn, caller, "principal.read", Scope(caller.account_id)):
            return [public_key(k) for k in find_api_keys(txn, account_id=caller.account_id)]
        return [public_key(k) for k in find_api_keys(txn, parent_id=caller.principal_id)]


def revoke_key(svc: Service, caller: Caller, key_id: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        rec = read_api_key(txn, key_id)
        if rec is None:
            raise NotFound(
                f"API key {key_id!r} does not exist; `vaultlink key list` shows them.", field="key_id"
            )
        if rec["parent_id"] != caller.principal_id:
            authorize(txn, caller, "principal.write", Scope(rec["account_id"]))
        rec["status"] = "Revoked"
        rec["revoked"] = svc.clock.now()
        txn.update("api_key", key_id, rec)
    svc.fire(KeysChanged())
    return public_key(rec)


# --- role assignments ----------------------------------------------------------
def _assign(txn: Txn, svc: Service, principal: PrincipalRecord, role: str, scope: Scope) -> RoleAssignmentRecord:
    rec: RoleAssignmentRecord = {
        "id": new_id("ra-"),
        "account_id": scope.account_id,
        "parent_id": principal["id"],
        "name": f"{role}@{scope}",
        "principal": principal["arn"],
        "principal_id": principal["id"],
        "role": role,
        "scope": str(scope),
        "created": svc.clock.now(),
    }
    txn.insert("role_assignment", rec["id"], rec)
    return rec


def assign_role(
    svc: Service, caller: Caller, principal_ref: str, role: str, scope_text: str | None
) -> RoleAssignmentRecord:
    role = check_role(role)
    scope = Scope.parse(scope_text) if scope_text else Scope(caller.account_id)
    with svc.store.transaction() as txn:
        txn.require("account", scope.account_id)
        if scope.kind != "account":
            res = txn.get(scope.kind, scope.resource_id or "")
            if res is None or res["account_id"] != scope.account_id:
                raise NotFound(
                    f"{scope.kind} {scope.resource_id!r} does not exist in account {scope.account_id}.",
                    field="scope",
                )
        authorize(txn, caller, "role.write", scope)
        p = find_principal(txn, principal_ref, caller.account_id)
        rec = _assign(txn, svc, p, role, scope)
    svc.fire(RolesChanged())
    return rec


def list_roles(svc: Service, caller: Caller, principal_ref: str | None = None) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        if principal_ref:
            p = find_principal(txn, principal_ref, caller.account_id)
            rows = txn.find("role_assignment", parent_id=p["id"])
        else:
            rows = txn.find("role_assignment", account_id=caller.account_id)
        return [
            r
            for r in rows
            if r["principal_id"] == caller.principal_id
            or allowed(txn, caller, "role.read", Scope.parse(r["scope"]))
        ]


def remove_role(svc: Service, caller: Caller, assignment_id: str) -> None:
    with svc.store.transaction() as txn:
        rec = txn.get("role_assignment", assignment_id)
        if rec is None:
            raise NotFound(f"role assignment {assignment_id!r} does not exist.", field="assignment_id")
        authorize(txn, caller, "role.write", Scope.parse(rec["scope"]))
        txn.delete("role_assignment", assignment_id)
    svc.fire(RolesChanged())
