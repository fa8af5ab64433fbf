"""Build the fabric's NetworkView from store records (vaults, vnets, endpoints).

Security-group rules whose source is the tag ``VirtualNetwork`` are resolved here, to the
endpoint's vnet address spaces plus those of every vnet peered with it, so the view is
rebuilt (on every ``endpoints`` event) whenever peerings or address spaces change.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from typing import Any, cast

from vaultlink.dns import names as N
from vaultlink.domain.lists import changed, extends
from vaultlink.domain.networks import routing_domain
from vaultlink.domain.records import EndpointRecord, VaultRecord, VnetRecord
from vaultlink.domain.security_groups import SgRule, compile_rules, virtual_network_spaces
from vaultlink.fabric.view import EndpointView, NetworkView, Target, VaultView, VnetView
from vaultlink.policy import compile_policy
from vaultlink.service.core import Service


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


VaultIndex = tuple[dict[tuple[str, str], VaultView], dict[str, VaultView]]  # by (account, name), by ARN
VaultPart = tuple[dict[str, VaultView], dict[str, Target], VaultIndex]


class Memo:
    """What a rebuild derived from each record last time, by record identity (``Store.scan`` keeps an
    unchanged record's identity): a change rebuilds what it touched and reuses the rest."""

    def __init__(self) -> None:
        self.endpoints: dict[str, tuple[Any, tuple[str, ...], EndpointView, list[tuple[str, Target]]]] = {}
        self.vaults: dict[str, tuple[Any, VaultView, list[tuple[str, Target]]]] = {}
        # the vault records (the scan's tuple) and what they gave (``_vault_part``)
        self.vault_scan: tuple[tuple[VaultRecord, ...], VaultPart] | None = None
        # the last endpoint records, the vnets' address spaces then, and what they gave (``_endpoints``)
        # (and whether no two of them claimed one name or address: then an endpoint's removal removes its own)
        self.last: tuple[tuple[EndpointRecord, ...], dict[str, tuple[str, ...]], Views, bool] | None = None
        # a new object whenever the views' addresses may have changed (the keys of ``by_ip`` and of the gateways'):
        # the same one when only endpoints that keep their addresses changed (a connection approved or rejected),
        # so the listener plan knows by identity that no listener moves
        self.addresses: object = object()
        # (the token before, the token after, the views gone, the views come) of the last change of addresses made
        # from the last views (an endpoint created or deleted), None when everything was made again: the listener
        # plan then looks at these few views only
        self.moved: tuple[object, object, list[EndpointView], list[EndpointView]] | None = None


def _vault(svc: Service, v: VaultRecord) -> tuple[VaultView, list[tuple[str, Target]]]:
    domain = svc.config.domain
    sas = tuple(v.get("storage_accounts") or [])
    view = VaultView(
        v["id"],
        v["account_id"],
        v["name"],
        v["arn"],
        v["region"],
        v.get("public_network_access", "Enabled"),
        sas,
        _compile(v.get("access_policy"), "resource"),
    )
    names: list[tuple[str, Target]] = []
    t = Target("backup", vault_id=v["id"], region=v["region"])
    names += [(N.vault_public_name(v["id"], v["geo"], domain), t),
              (N.vault_privatelink_name(v["id"], v["geo"], domain), t)]
    sec = svc.catalog.regions.get(v.get("secondary_region") or "")
    if sec is not None:  # cross-region restore through AzureBackup_secondary endpoints: the replica
        ts = Target("backup", vault_id=v["id"], region=sec.name, secondary=True)
        names += [(N.vault_public_name(v["id"], sec.geo, domain), ts),
                  (N.vault_privatelink_name(v["id"], sec.geo, domain), ts)]
    for sa in sas:
        sa_name = sa if isinstance(sa, str) else sa.get("name")
        for kind in ("blob", "queue"):
            tt = Target(kind, vault_id=v["id"], storage_account=sa_name, region=v["region"])
            names += [(N.storage_public_name(sa_name, kind, domain), tt),
                      (N.storage_privatelink_name(sa_name, kind, domain), tt)]
            if sec is not None:  # the replica's names (``<account>-secondary``)
                ts = Target(kind, vault_id=v["id"], storage_account=sa_name, region=sec.name, secondary=True)
                names += [(N.storage_public_name(N.secondary_account(sa_name), kind, domain), ts),
                          (N.storage_privatelink_name(N.secondary_account(sa_name), kind, domain), ts)]
    return view, names


def _endpoint(
    svc: Service, e: EndpointRecord, spaces: tuple[str, ...]
) -> tuple[EndpointView, list[tuple[str, Target]]]:
    conn = e.get("connection")
    kind = e.get("kind", "resource")
    ep_vnet = e.get("vnet_id") or e.get("parent_id", "")
    sg = e.get("security_group")
    rules = sg.get("rules") if isinstance(sg, dict) else sg
    view = EndpointView(
        id=e["id"],
        account_id=e["account_id"],
        kind=kind,
        vault_id=e.get("vault_id"),
        group_id=e.get("group_id"),
        service=e.get("service"),
        region=e.get("region", ""),
        vnet_id=ep_vnet,
        ips=frozenset(c["ip"] for c in e.get("ip_configs", []) if c.get("ip")),
        status=(conn.get("status", "Approved") if conn else "Approved") if kind == "resource" else "Approved",
        sg_rules=_compiled_rules(json.dumps(rules, sort_keys=True), spaces),
        policy=_compile(e.get("policy"), "endpoint"),
        private_dns=bool(e.get("private_dns_enabled")),
        domain=routing_domain(svc.config.fabric, ep_vnet),
    )
    names: list[tuple[str, Target]] = []
    if kind == "service" and (endpoint_service := e.get("service")) and (region_name := e.get("region")):
        names.append((N.endpoint_service_name(e["id"], endpoint_service, region_name, svc.config.domain),
                      Target("regional", region=region_name, endpoint_id=e["id"], regional_service=endpoint_service)))
    return view, names


# the endpoints' views, their names, their addresses, and the addresses of the backup-gateway endpoints among them
Views = tuple[dict[str, EndpointView], dict[str, Target], dict[tuple[str, str], EndpointView],
              dict[tuple[str, str], EndpointView]]


def _endpoints(svc: Service, ep_recs: tuple[EndpointRecord, ...], spaces: dict[str, tuple[str, ...]],
               memo: Memo) -> Views:
    """The endpoints' views, their names and their addresses. When the records extend the last ones (an endpoint
    created: the scan appends it) and no vnet's address spaces changed, the last dicts are copied (C speed)
    and the new endpoints added; when records were only removed (an endpoint deleted), the last dicts are copied
    and theirs taken out; when records changed in place (a connection approved), both: no per-endpoint Python
    work for the others."""
    last = memo.last
    patched = False
    kept: list[EndpointView] | None = []  # the last views of the records gone (None: everything made again)
    if last is not None and last[1] == spaces and extends(last[0], ep_recs):
        if len(ep_recs) == len(last[0]):  # no endpoint changed (a vault's or a vnet's change): the very same dicts,
            return last[2]  # which no view changes (the listener plan sees by their identity that nothing moved)
        views, clean = last[2], last[3]
        endpoints, ep_names, by_ip, gateways = dict(views[0]), dict(views[1]), dict(views[2]), dict(views[3])
        todo = ep_recs[len(last[0]):]
    elif last is not None and last[1] == spaces and last[3] and (diff := changed(last[0], ep_recs)) is not None \
            and all(e["id"] in memo.endpoints for e in diff[0]):
        # records removed (an endpoint deleted) or changed in place (a connection approved): the last dicts less
        # theirs, and the changed ones made again
        kept = [memo.endpoints[e["id"]][2] for e in diff[0]]  # (``_without`` takes them out of the memo)
        endpoints, ep_names, by_ip, gateways = _without(last[2], diff[0], memo)
        todo, clean, patched = tuple(diff[1]), True, True
    else:
        endpoints, ep_names, by_ip, gateways = {}, {}, {}, {}
        todo, clean, kept = ep_recs, True, None
    ep_memo = memo.endpoints if todo is not ep_recs else {}
    for e in todo:
        sp = spaces.get(e.get("vnet_id") or e.get("parent_id", ""), ())
        got = memo.endpoints.get(e["id"])
        if got is None or got[0] is not e or got[1] != sp:
            got = (e, sp, *_endpoint(svc, e, sp))
        ep_memo[e["id"]] = got
        clean = clean and e["id"] not in endpoints and not any(name in ep_names for name, _t in got[3])
        view = endpoints[e["id"]] = got[2]
        ep_names.update(got[3])
        for ip in view.ips:
            clean = clean and (view.domain, ip) not in by_ip
            by_ip[(view.domain, ip)] = view
            if view.service == "backup-gateway":
                gateways[(view.domain, ip)] = view
    if patched and not clean:
        memo.last = None  # a changed record claims another's name or address: which wins is the scan's order
        return _endpoints(svc, ep_recs, spaces, memo)
    memo.endpoints = ep_memo
    memo.last = (ep_recs, spaces, (endpoints, ep_names, by_ip, gateways), clean)
    came = [endpoints[e["id"]] for e in todo] if kept is not None else []
    if kept is None or not (patched and len(kept) == len(came) and all(
            _addresses(k) == _addresses(c) for k, c in zip(kept, came, strict=True))):
        before, memo.addresses = memo.addresses, object()  # an endpoint's addresses came or went
        memo.moved = (before, memo.addresses, kept, came) if kept is not None else None
    return endpoints, ep_names, by_ip, gateways


def _addresses(view: EndpointView) -> tuple[str, frozenset[str], str | None]:
    """What of an endpoint's view the listeners depend on."""
    return view.domain, view.ips, view.service


def _without(views: Views, removed: list[EndpointRecord], memo: Memo) -> Views:
    """The last views without the ``removed`` endpoints' entries (copies; no two endpoints claimed one name or
    address, so nothing of another endpoint comes back)."""
    endpoints, ep_names, by_ip, gateways = dict(views[0]), dict(views[1]), dict(views[2]), dict(views[3])
    for e in removed:
        got = memo.endpoints.pop(e["id"])
        view = endpoints.pop(e["id"], None)
        for name, _target in got[3]:
            ep_names.pop(name, None)
        if view is not None:
            for ip in view.ips:
                by_ip.pop((view.domain, ip), None)
                gateways.pop((view.domain, ip), None)
    return endpoints, ep_names, by_ip, gateways


def _vault_part(svc: Service, recs: tuple[VaultRecord, ...], memo: Memo) -> VaultPart:
    """The vaults' views, their names and their indexes (by account and name, by ARN): the last ones when no vault
    changed (an endpoint's change), those plus the new vaults' when vaults were only created, else made anew. The
    dicts are shared by the views that follow and never changed once made."""
    last = memo.vault_scan
    if last is not None and last[0] is recs:
        return last[1]
    if last is not None and extends(last[0], recs):
        vaults, names = dict(last[1][0]), dict(last[1][1])
        by_name, by_arn = dict(last[1][2][0]), dict(last[1][2][1])
        todo, kept = recs[len(last[0]):], memo.vaults
    else:
        vaults, names, by_name, by_arn = {}, {}, {}, {}
        todo, kept = recs, {}
    for v in todo:
        was = memo.vaults.get(v["id"])
        if was is None or was[0] is not v:
            was = (v, *_vault(svc, v))
        kept[v["id"]] = was
        view = vaults[v["id"]] = was[1]
        names.update(was[2])
        by_name[(view.account_id, view.name)] = view
        by_arn[view.arn] = view
    memo.vaults = kept
    part: VaultPart = (vaults, names, (by_name, by_arn))
    memo.vault_scan = (recs, part)
    return part


def build_view(svc: Service, generation: int = 0, memo: Memo | None = None) -> NetworkView:
    """The view of every committed vault, vnet and endpoint (``Store.scan``); with ``memo``, what an unchanged
    record gave last time is reused."""
    memo = memo or Memo()
    vault_recs = cast("tuple[VaultRecord, ...]", svc.store.scan("vault"))
    vnet_recs = cast("tuple[VnetRecord, ...]", svc.store.scan("vnet"))
    ep_recs = cast("tuple[EndpointRecord, ...]", svc.store.scan("endpoint"))
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
    spaces = {vid: tuple(virtual_network_spaces(v, vnet_by_id)) for vid, v in vnet_by_id.items()}
    vaults, vault_names, vault_index = _vault_part(svc, vault_recs, memo)
    names = dict(vault_names)
    for region in svc.catalog.list():
        for service in ("backup", "backup-gateway"):
            names[N.regional_service_name(service, region.name, svc.config.domain)] = Target(
                "regional", region=region.name, regional_service=service
            )
    endpoints, ep_names, by_ip, gateways = _endpoints(svc, ep_recs, spaces, memo)
    names.update(ep_names)
    return NetworkView(
        vnets=vnets,
        endpoints=endpoints,
        vaults=vaults,
        names=names,
        public_address=svc.config.public_address,
        generation=generation,
        prebuilt_by_ip=by_ip,
        prebuilt_gateways=gateways,
        prebuilt_vault_index=vault_index,
    )
