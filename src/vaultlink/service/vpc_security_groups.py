"""Security groups as objects of a vnet (EC2's ``CreateSecurityGroup``, ``AuthorizeSecurityGroupIngress``…),
attached to endpoints.

An endpoint keeps the inbound rules the request pipeline checks (``security_group.rules``, one matcher for
every endpoint). An endpoint with groups attached (``security_group_ids``) has as its rules the union of
its groups' rules, written onto it whenever a group or the attachment changes, so the pipeline's check
stays one lookup; an endpoint without groups keeps the rules set on it directly (``vl endpoint sg``).
"""

from __future__ import annotations

import secrets
from typing import Any, cast

from vaultlink.domain import security_groups as sgs
from vaultlink.domain.records import EndpointRecord, find_endpoints
from vaultlink.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from vaultlink.ports import Txn
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.endpoints import find_endpoint, scope_of
from vaultlink.service.events import EndpointsChanged
from vaultlink.service.networks import find_vnet, vnet_scope

KIND = "security_group"
MAX_GROUPS_PER_ENDPOINT = 5  # as AWS allows by default


def _group(txn: Txn, caller: Caller, gid: str, permission: str) -> dict[str, Any]:
    rec = txn.get(KIND, gid)
    if rec is None or rec["account_id"] != caller.account_id:
        raise NotFound(f"security group {gid!r} does not exist.", field="group", aws_code="InvalidGroup.NotFound")
    vnet = find_vnet(txn, rec["parent_id"], caller.account_id)
    authorize(txn, caller, permission, vnet_scope(vnet))
    return dict(rec)


def public_group(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: rec.get(k) for k in ("id", "name", "description", "vnet_id", "account_id", "rules", "created")}


def create_group(svc: Service, caller: Caller, vnet_ref: str, name: str, description: str) -> dict[str, Any]:
    if not isinstance(name, str) or not 1 <= len(name) <= 255 or name.startswith("sg-"):
        raise InvalidInput("a security group's name is 1-255 characters and does not start with sg-.", field="name")
    if not isinstance(description, str) or len(description) > 255:
        raise InvalidInput("description is at most 255 characters.", field="description")
    with svc.store.transaction() as txn:
        vnet = find_vnet(txn, vnet_ref, caller.account_id)
        authorize(txn, caller, "network.write", vnet_scope(vnet))
        if any(g.get("group_name") == name for g in txn.find(KIND, parent_id=vnet["id"])):
            raise AlreadyExists(f"vnet {vnet['name']} already has a security group named {name!r}.", field="name",
                                aws_code="InvalidGroup.Duplicate")
        rec = {"id": "sg-" + secrets.token_hex(8), "account_id": vnet["account_id"], "parent_id": vnet["id"],
               "name": None, "group_name": name, "description": description, "vnet_id": vnet["id"], "rules": [],
               "created": svc.clock.now()}
        txn.insert(KIND, rec["id"], rec)
    return public_group({**rec, "name": name})


def list_groups(svc: Service, caller: Caller) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        out = []
        for rec in txn.find(KIND, account_id=caller.account_id):
            vnet = find_vnet(txn, rec["parent_id"], caller.account_id)
            authorize(txn, caller, "network.read", vnet_scope(vnet))
            out.append(public_group({**rec, "name": rec.get("group_name")}))
        return out


def _attached(txn: Txn, gid: str, vnet_id: str) -> list[EndpointRecord]:
    return [e for e in find_endpoints(txn, parent_id=vnet_id) if gid in (e.get("security_group_ids") or [])]


def _materialize(txn: Txn, e: EndpointRecord) -> None:
    """Write the union of the endpoint's groups' rules onto it (what the pipeline checks)."""
    rules: dict[str, Any] = {}
    for gid in e.get("security_group_ids") or []:
        g = txn.get(KIND, gid)
        for r in (g or {}).get("rules", []):
            rules.setdefault(r["id"], r)
    sgs.check_gateway_rules(e.get("service"), list(rules.values()))
    e["security_group"] = {"rules": list(rules.values())}
    txn.update("endpoint", e["id"], e)


def change_rules(svc: Service, caller: Caller, gid: str, add: list[Any], remove: list[Any]) -> dict[str, Any]:
    """Add and remove inbound rules of group ``gid`` (each rule as ``security_groups.parse_rule`` reads it);
    every endpoint it is attached to follows at once."""
    adding, removing = [sgs.parse_rule(r) for r in add], {sgs.parse_rule(r)["id"] for r in remove}
    with svc.store.transaction() as txn:
        rec = _group(txn, caller, gid, "network.write")
        have = {r["id"]: r for r in rec["rules"]}
        for r in adding:
            if r["id"] in have:
                raise AlreadyExists(f"security group {gid} already has that rule.", field="rule",
                                    aws_code="InvalidPermission.Duplicate")
            have[r["id"]] = r
        for rid in removing:
            if rid not in have:
                raise NotFound(f"security group {gid} has no such rule.", field="rule",
                               aws_code="InvalidPermission.NotFound")
            del have[rid]
        if len(have) > sgs.MAX_RULES:
            raise InvalidInput(f"at most {sgs.MAX_RULES} rules per security group.", field="rule",
                               aws_code="RulesPerSecurityGroupLimitExceeded")
        rec["rules"] = list(have.values())
        txn.update(KIND, gid, rec)
        for e in _attached(txn, gid, rec["parent_id"]):
            _materialize(txn, e)
    svc.fire(EndpointsChanged())
    return public_group({**rec, "name": rec.get("group_name")})


def delete_group(svc: Service, caller: Caller, gid: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        rec = _group(txn, caller, gid, "network.write")
        users = _attached(txn, gid, rec["parent_id"])
        if users:
            raise Conflict(f"security group {gid} is attached to endpoint {users[0]['id']}; detach it first.",
                           field="group")
        txn.delete(KIND, gid)
    return {"id": gid, "deleted": True}


def set_endpoint_groups(svc: Service, caller: Caller, endpoint_ref: str, group_ids: list[str]) -> dict[str, Any]:
    """Attach exactly ``group_ids`` (groups of the endpoint's vnet) to an endpoint; its rules become theirs."""
    if len(set(group_ids)) > MAX_GROUPS_PER_ENDPOINT:
        raise InvalidInput(f"at most {MAX_GROUPS_PER_ENDPOINT} security groups per endpoint.", field="groups",
                           aws_code="SecurityGroupsPerInterfaceLimitExceeded")
    with svc.store.transaction() as txn:
        e = find_endpoint(txn, endpoint_ref, caller.account_id)
        authorize(txn, caller, "network.write", scope_of(e))
        for gid in group_ids:
            if _group(txn, caller, gid, "network.read")["parent_id"] != e["vnet_id"]:
                raise InvalidInput(f"security group {gid} belongs to another vnet than endpoint {e['id']}.",
                                   field="groups", aws_code="InvalidGroup.NotFound")
        e = cast(EndpointRecord, dict(e))
        e["security_group_ids"] = list(dict.fromkeys(group_ids))
        _materialize(txn, e)
    svc.fire(EndpointsChanged())
    return {"endpoint_id": e["id"], "security_group_ids": list(dict.fromkeys(group_ids))}
