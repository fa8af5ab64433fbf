"""Build the fabric's NetworkView from store records (vaults, vnets, endpoints).

Security-group rules whose source is the tag ``VirtualNetwork`` are resolved here, to the
endpoint's vnet address spaces plus those of every vnet peered with it, so the view is
rebuilt (on every ``endpoints`` event) whenever peerings or address spaces change.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from typing import Any

from vaultlink.dns import names as N
from vaultlink.domain.networks import routing_domain
from vaultlink.domain.records import EndpointRecord, VnetRecord, find_endpoints, find_vaults, find_vnets
from vaultlink.domain.security_groups import SgRule, compile_rules, virtual_network_spaces
from vaultlink.fabric.view import EndpointView, NetworkView, Target, VaultView, VnetView
from vaultlink.policy import compile_policy
from vaultlink.service.core import Service


def _rules(
    ep: EndpointRecord, vnet: VnetRecord | None, vnets_by_id: dict[str, VnetRecord] | None = None
) -> tuple[SgRule, ...]:
    """The endpoint's inbound rules, one SgRule per source network (``VirtualNetwork`` expanded)."""
    sg = ep.get("security_group")
    rules = sg.get("rules") if isinstance(sg, dict) else sg
    spaces = tuple(virtual_network_spaces(vnet, vnets_by_id or {}))
    return _compiled_rules(json.dumps(rules, sort_keys=True), spaces)


@functools.lru_cache(maxsize=8192)
def _compiled_rules(rules_json: str, spaces: tuple[str, ...]) -> tuple[SgRule, ...]:
    """Compiled once per distinct rule set and address spaces: a rebuild recompiles only what changed."""
    return tuple(compile_rules(json.loads(rules_json), list(spaces)))


def _compile(doc: Any, kind: str) -> Any:
    if not doc:
        return None
    return _compiled_policy(json.dumps(doc, sort_keys=True), kind)


@functools.lru_cache(maxsize=8192)
def _compiled_policy(doc_json: str, kind: str) -> Any:
    try:
        return compile_policy(json.loads(doc_json), kind)
    except Exception:  # a stored policy that no longer compiles denies nothing it did not before
        return None


def build_view(svc: Service, generation: int = 0) -> NetworkView:
    domain = svc.config.domain
    with svc.store.transaction() as txn:
        vault_recs = find_vaults(txn)
        vnet_recs = find_vnets(txn)
        ep_recs = find_endpoints(txn)
    mode = svc.config.fabric
    vnets = {
        v["id"]: VnetView(
            v["id"],
            v["account_id"],
            v.get("region", ""),
            tuple(ipaddress.ip_network(s, strict=False) for s in v.get("address_spaces", [])),
            frozenset(v.get("peerings", [])),
            routing_domain(mode, v["id"]),
        )
        for v in vnet_recs
    }
    vnet_by_id = {v["id"]: v for v in vnet_recs}
    names: dict[str, Target] = {}
    vaults: dict[str, VaultView] = {}
    for v in vault_recs:
        sas = tuple(v.get("storage_accounts") or [])
        vaults[v["id"]] = VaultView(
            v["id"],
            v["account_id"],
            v["name"],
            v["arn"],
            v["region"],
            v.get("public_network_access", "Enabled"),
            sas,
            _compile(v.get("access_policy"), "resource"),
        )
        t = Target("backup", vault_id=v["id"], region=v["region"])
        names[N.vault_public_name(v["id"], v["geo"], domain)] = t
        names[N.vault_privatelink_name(v["id"], v["geo"], domain)] = t
        sec = svc.catalog.regions.get(v.get("secondary_region") or "")
        if sec is not None:  # cross-region restore through AzureBackup_secondary endpoints: the replica
            ts = Target("backup", vault_id=v["id"], region=sec.name, secondary=True)
            names[N.vault_public_name(v["id"], sec.geo, domain)] = ts
            names[N.vault_privatelink_name(v["id"], sec.geo, domain)] = ts
        for sa in sas:
            sa_name = sa if isinstance(sa, str) else sa.get("name")
            for kind in ("blob", "queue"):
                tt = Target(kind, vault_id=v["id"], storage_account=sa_name, region=v["region"])
                names[N.storage_public_name(sa_name, kind, domain)] = tt
                names[N.storage_privatelink_name(sa_name, kind, domain)] = tt
                if sec is not None:  # the replica's names (``<account>-secondary``)
                    ts = Target(kind, vault_id=v["id"], storage_account=sa_name, region=sec.name, secondary=True)
                    names[N.storage_public_name(N.secondary_account(sa_name), kind, domain)] = ts
                    names[N.storage_privatelink_name(N.secondary_account(sa_name), kind, domain)] = ts
    for region in svc.catalog.list():
        for service in ("backup", "backup-gateway"):
            names[N.regional_service_name(service, region.name, domain)] = Target(
                "regional", region=region.name, regional_service=service
            )
    endpoints: dict[str, EndpointView] = {}
    for e in ep_recs:
        conn = e.get("connection")
        kind = e.get("kind", "resource")
        ips = frozenset(c["ip"] for c in e.get("ip_configs", []) if c.get("ip"))
        ep_vnet = e.get("vnet_id") or e.get("parent_id", "")
        endpoints[e["id"]] = EndpointView(
            id=e["id"],
            account_id=e["account_id"],
            kind=kind,
            vault_id=e.get("vault_id"),
            group_id=e.get("group_id"),
            service=e.get("service"),
            region=e.get("region", ""),
            vnet_id=e.get("vnet_id") or e.get("parent_id", ""),
            ips=ips,
            status=(conn.get("status", "Approved") if conn else "Approved") if kind == "resource" else "Approved",
            sg_rules=_rules(e, vnet_by_id.get(e.get("vnet_id") or e.get("parent_id", "")), vnet_by_id),
            policy=_compile(e.get("policy"), "endpoint"),
            private_dns=bool(e.get("private_dns_enabled")),
            domain=routing_domain(mode, ep_vnet),
        )
        if kind == "service" and (endpoint_service := e.get("service")) and (region_name := e.get("region")):
            names[N.endpoint_service_name(e["id"], endpoint_service, region_name, domain)] = Target(
                "regional", region=region_name, endpoint_id=e["id"], regional_service=endpoint_service
            )
    return NetworkView(
        vnets=vnets,
        endpoints=endpoints,
        vaults=vaults,
        names=names,
        public_address=svc.config.public_address,
        generation=generation,
    )
