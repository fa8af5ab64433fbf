"""Vault access policies (resource policies) and principals' identity policies.

Both are IAM policy documents, validated with the evaluator's parser on write
and enforced by the request pipeline (DESIGN.md §5 step 10).
"""

from __future__ import annotations

from typing import Any

from vaultlink.domain.identity import Scope
from vaultlink.errors import InvalidInput
from vaultlink.policy import compile_policy
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.events import RolesChanged, VaultsChanged
from vaultlink.service.identity import find_principal
from vaultlink.service.vaults import find_vault, vault_scope

MAX_IDENTITY_POLICIES = 10


def _validate(doc: Any, kind: str) -> dict[str, Any]:
    compile_policy(doc, kind)  # raises PolicyInvalid / PolicyTooLarge
    if isinstance(doc, str):
        import json

        doc = json.loads(doc)
    return dict(doc)


def set_vault_policy(svc: Service, caller: Caller, ref: str, doc: Any) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        v = find_vault(txn, ref, caller.account_id)
        authorize(txn, caller, "vault.write", vault_scope(v))
        v["access_policy"] = _validate(doc, "resource")
        txn.update("vault", v["id"], v)
    svc.fire(VaultsChanged())
    return {"vault": v["id"], "policy": v["access_policy"]}


def get_vault_policy(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        v = find_vault(txn, ref, caller.account_id)
        authorize(txn, caller, "vault.read", vault_scope(v))
        return {"vault": v["id"], "policy": v.get("access_policy")}


def delete_vault_policy(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        v = find_vault(txn, ref, caller.account_id)
        authorize(txn, caller, "vault.write", vault_scope(v))
        v["access_policy"] = None
        txn.update("vault", v["id"], v)
    svc.fire(VaultsChanged())
    return {"vault": v["id"], "policy": None}


def set_identity_policies(svc: Service, caller: Caller, ref: str, docs: list[Any]) -> dict[str, Any]:
    if not isinstance(docs, list) or len(docs) > MAX_IDENTITY_POLICIES:
        raise InvalidInput(f"policies must be a list of at most {MAX_IDENTITY_POLICIES} documents.", field="policies")
    checked = [_validate(d, "identity") for d in docs]
    with svc.store.transaction() as txn:
        p = find_principal(txn, ref, caller.account_id)
        authorize(txn, caller, "principal.write", Scope(p["account_id"]))
        p["policies"] = checked
        txn.update("principal", p["id"], p)
    svc.fire(RolesChanged())
    return {"principal": p["arn"], "policies": checked}


def get_identity_policies(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        p = find_principal(txn, ref, caller.account_id)
        if p["id"] != caller.principal_id:
            authorize(txn, caller, "principal.read", Scope(p["account_id"]))
        return {"principal": p["arn"], "policies": p.get("policies") or []}
