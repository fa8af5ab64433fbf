"""Endpoint settings: the endpoint policy and the security group (inbound rules).

Policies are validated by ``vaultlink.policy.compile_policy(doc, "endpoint")``; the default
is full access. Disconnected endpoints refuse changes (``EndpointDisconnected``). Every
committed change fires ``endpoints``.
"""

from __future__ import annotations

from typing import Any

from vaultlink.domain import endpoints as dom
from vaultlink.domain import security_groups as sgs
from vaultlink.errors import AlreadyExists, InvalidInput, NotFound
from vaultlink.ports import Txn
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.endpoints import find_endpoint, scope_of

# --- policy -------------------------------------------------------------------------------------


def _mutable(txn: Txn, caller: Caller, ref: str, permission: str) -> dict[str, Any]:
    e = find_endpoint(txn, ref, caller.account_id)
    authorize(txn, caller, permission, scope_of(e))
    dom.ensure_live(e)
    return e


def set_policy(svc: Service, caller: Caller, ref: str, doc: Any) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        e = _mutable(txn, caller, ref, "policy.write")
        e["policy"] = dom.check_policy(doc)
        txn.update("endpoint", e["id"], e)
    svc.fire("endpoints")
    return {"endpoint_id": e["id"], "policy": e["policy"], "default": e["policy"] == dom.DEFAULT_POLICY}


def reset_policy(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    return set_policy(svc, caller, ref, dom.DEFAULT_POLICY)


def get_policy(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        e = find_endpoint(txn, ref, caller.account_id)
        authorize(txn, caller, "network.read", scope_of(e))
        return {"endpoint_id": e["id"], "policy": e["policy"], "default": e["policy"] == dom.DEFAULT_POLICY}


# --- security group ----------------------------------------------------------------------------


def _sg_view(e: dict[str, Any]) -> dict[str, Any]:
    return {"endpoint_id": e["id"], "rules": e["security_group"]["rules"]}


def get_security_group(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        e = find_endpoint(txn, ref, caller.account_id)
        authorize(txn, caller, "network.read", scope_of(e))
        return _sg_view(e)


def add_rule(svc: Service, caller: Caller, ref: str, rule: Any) -> dict[str, Any]:
    parsed = sgs.parse_rule(rule)
    with svc.store.transaction() as txn:
        e = _mutable(txn, caller, ref, "network.write")
        rules = e["security_group"]["rules"]
        if any(r["id"] == parsed["id"] for r in rules):
            raise AlreadyExists(f"the security group already has that rule ({parsed['id']}).", field="rule")
        if len(rules) >= sgs.MAX_RULES:
            raise InvalidInput(f"at most {sgs.MAX_RULES} rules per security group.", field="rule")
        rules.append(parsed)
        txn.update("endpoint", e["id"], e)
    svc.fire("endpoints")
    return _sg_view(e)


def remove_rule(svc: Service, caller: Caller, ref: str, rule_id: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        e = _mutable(txn, caller, ref, "network.write")
        rules = e["security_group"]["rules"]
        keep = [r for r in rules if r["id"] != rule_id]
        if len(keep) == len(rules):
            raise NotFound(
                f"rule {rule_id!r} is not in the security group; `vaultlink endpoint sg show` lists them.",
                field="rule",
            )
        sgs.check_gateway_rules(e.get("service"), keep)
        e["security_group"]["rules"] = keep
        txn.update("endpoint", e["id"], e)
    svc.fire("endpoints")
    return _sg_view(e)
