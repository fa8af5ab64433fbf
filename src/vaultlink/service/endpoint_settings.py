"""Endpoint settings: the endpoint policy, the security group (inbound rules), the IP sync and the private
DNS zone group (ARM's ``privateDnsZoneGroups``).

Policies are validated by ``vaultlink.policy.compile_policy(doc, "endpoint")``; the default
is full access. A rule's source is a CIDR or ``VirtualNetwork`` (the endpoint's vnet and its
peers); the security-group view shows what the tag stands for now (``virtual_network``).
:func:`sync_endpoint` gives a resource endpoint the blob and queue IPs it lacks for the vault's
storage accounts (``vaultlink endpoint sync``). Disconnected endpoints refuse changes
(``EndpointDisconnected``). Every committed change fires ``endpoints``.
"""

from __future__ import annotations

from typing import Any

from vaultlink.dns import names
from vaultlink.domain import connections as conns
from vaultlink.domain import endpoint_names as epnames
from vaultlink.domain import endpoints as dom
from vaultlink.domain import security_groups as sgs
from vaultlink.domain.identity import Scope
from vaultlink.domain.records import (
    EndpointRecord,
    find_endpoints,
    find_zones,
    read_vnet,
    require_endpoint,
    require_vault,
)
from vaultlink.errors import AlreadyExists, InvalidInput, NotFound, PrivateDnsConflict
from vaultlink.ports import Txn
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.endpoints import add_storage_account, find_endpoint, public_view, scope_of
from vaultlink.service.events import EndpointsChanged
from vaultlink.service.vault_identity import grant

# --- policy -------------------------------------------------------------------------------------


def _mutable(txn: Txn, caller: Caller, ref: str, permission: str) -> EndpointRecord:
    e = find_endpoint(txn, ref, caller.account_id)
    authorize(txn, caller, permission, scope_of(e))
    conns.ensure_live(e)
    return e


def set_policy(svc: Service, caller: Caller, ref: str, doc: Any) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        e = _mutable(txn, caller, ref, "policy.write")
        e["policy"] = dom.check_policy(doc)
        txn.update("endpoint", e["id"], e)
    svc.fire(EndpointsChanged())
    return {"endpoint_id": e["id"], "policy": e["policy"], "default": e["policy"] == dom.DEFAULT_POLICY}


def reset_policy(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    return set_policy(svc, caller, ref, dom.DEFAULT_POLICY)


def get_policy(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        e = find_endpoint(txn, ref, caller.account_id)
        authorize(txn, caller, "network.read", scope_of(e))
        return {"endpoint_id": e["id"], "policy": e["policy"], "default": e["policy"] == dom.DEFAULT_POLICY}


def set_private_dns(svc: Service, caller: Caller, ref: str, enabled: bool) -> dict[str, Any]:
    """Turn a service endpoint's private DNS on or off (the regional name answers its IP inside its vnet);
    one endpoint per service and vnet may have it."""
    with svc.store.transaction() as txn:
        e = _mutable(txn, caller, ref, "network.write")
        if e.get("kind") != "service":
            raise InvalidInput("private DNS is a setting of service endpoints; a resource endpoint's names come "
                               "from its DNS zone integration.", field="private_dns")
        if enabled and any(o["id"] != e["id"] and o.get("kind") == "service" and o.get("service") == e.get("service")
                           and o.get("private_dns_enabled") for o in find_endpoints(txn, parent_id=e["vnet_id"])):
            raise PrivateDnsConflict(f"another {e.get('service')} endpoint of this vnet has private DNS enabled; "
                                     "disable it there first.", field="private_dns")
        e["private_dns_enabled"] = bool(enabled)
        txn.update("endpoint", e["id"], e)
    svc.fire(EndpointsChanged())
    return {"endpoint_id": e["id"], "private_dns_enabled": bool(enabled)}


# --- security group ----------------------------------------------------------------------------


def _sg_view(txn: Txn, e: EndpointRecord) -> dict[str, Any]:
    """The rules, and the CIDRs ``VirtualNetwork`` stands for now (the vnet's and its peers')."""
    vnet = read_vnet(txn, e["vnet_id"])
    peers = {pid: read_vnet(txn, pid) for pid in (vnet.get("peerings") or [] if vnet else [])}
    by_id = {pid: v for pid, v in peers.items() if v is not None}
    return {
        "endpoint_id": e["id"],
        "rules": e["security_group"]["rules"],
        "virtual_network": sgs.virtual_network_spaces(vnet, by_id),
    }


def get_security_group(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        e = find_endpoint(txn, ref, caller.account_id)
        authorize(txn, caller, "network.read", scope_of(e))
        return _sg_view(txn, e)


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
        out = _sg_view(txn, e)
    svc.fire(EndpointsChanged())
    return out


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
        out = _sg_view(txn, e)
    svc.fire(EndpointsChanged())
    return out


# --- IP sync -------------------------------------------------------------------------------------


def sync_endpoint(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    """Give a resource endpoint a blob and a queue IP for each of its vault's storage accounts it lacks.

    Idempotent: an endpoint already in sync is left alone. ``SubnetFull`` (nothing changed) when its
    subnet has no room: free addresses there first. Service endpoints serve no storage names.
    """
    with svc.store.transaction() as txn:
        e = _mutable(txn, caller, ref, "network.write")
        accounts: list[str] = []
        if e.get("kind") == "resource" and (vault_id := e.get("vault_id")):
            vault = require_vault(txn, vault_id)
            accounts = epnames.storage_account_names(vault)
            before = {c["fqdn"] for c in e["ip_configs"]}
            changed = False
            for sa in accounts:
                changed = bool(add_storage_account(txn, svc, vault, sa, only=e["id"])) or changed
            e = require_endpoint(txn, e["id"])
            added = [
                {k: c.get(k) for k in ("storage_account", "purpose", "fqdn", "ip")}
                for c in e["ip_configs"]
                if c["fqdn"] not in before
            ]
        else:
            changed, added = False, []
    if changed:
        svc.fire(EndpointsChanged())
    return {
        "endpoint_id": e["id"],
        "endpoint": e["name"],
        "storage_accounts": accounts,
        "added": added,
        "in_sync": True,
        "ips": [c["ip"] for c in e["ip_configs"]],
    }


# --- private DNS zone group (ARM) ---------------------------------------------------------------

def set_zone_group(svc: Service, caller: Caller, ref: str, group: dict[str, Any] | None) -> dict[str, Any]:
    """Integrate a resource endpoint with private DNS zones (ARM's private DNS zone group: ``{"name", "zones":
    [names]}``) or stop (None): its A records are then kept in those zones (``service/dns_auto.py``)."""
    with svc.store.transaction() as txn:
        e = find_endpoint(txn, ref, caller.account_id)
        authorize(txn, caller, "network.write", scope_of(e))
        if e["kind"] != "resource":
            raise InvalidInput(f"endpoint {e['name']} is a service endpoint: it has no private DNS zone group.",
                               field="endpoint")
        if group is not None:
            wanted = {str(c["zone"]) for c in e["ip_configs"] if c.get("zone")}
            # the storage accounts' zones too: a vault's accounts (and their names) come with its first backups
            domain = svc.config.domain
            wanted |= {names.blob_privatelink_zone(domain), names.queue_privatelink_zone(domain)}
            unknown = sorted(set(group["zones"]) - wanted)
            if unknown:
                raise InvalidInput(f"zone(s) {', '.join(unknown)} hold none of endpoint {e['name']}'s names; it needs "
                                   f"{', '.join(sorted(wanted))}.", field="privateDnsZoneConfigs")
        e["dns_integration"] = group is not None
        e["zone_group"] = group
        if group is not None:  # the vault's identity may write the records of its storage accounts there later
            vault = require_vault(txn, str(e["vault_id"]))
            for zname in group["zones"]:
                for z in find_zones(txn, account_id=e["account_id"], name=zname):
                    grant(txn, svc, caller, vault, Scope(z["account_id"], "dns_zone", z["id"]))
        txn.update("endpoint", e["id"], e)
        out = public_view(e)
    svc.fire(EndpointsChanged())
    return out
