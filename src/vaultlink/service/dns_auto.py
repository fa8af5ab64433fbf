"""Automatic private DNS for endpoints with DNS zone integration (DESIGN.md §4).

For every resource endpoint with ``dns_integration`` the zones that hold its names
(``privatelink.<geo>.backup.D``, ``privatelink.blob.D``, ``privatelink.queue.D``) are created in
the endpoint's account when missing, an A record set per name is written with the endpoint's
IP (``managed_by`` = the endpoint id), and the zone is linked to the endpoint's vnet when it is
not. :func:`reconcile` computes the wanted state from the endpoint records and applies the
difference, so it keeps the records current whatever changed: a new endpoint, a vault's new
storage account (the endpoint service adds the IPs, then fires ``endpoints``), a deleted endpoint
(its records and the links made for it go; zones stay, as Azure keeps them).

Rules: a record set you wrote yourself (``managed_by`` None) at the same name is left alone (an A
or a CNAME there wins; ``vaultlink dns doctor`` reports it when it disagrees); when two endpoints
claim one name, an Approved one wins over one that is not; among equals the newer one's IP is served,
and the older one's returns when the newer goes.

It runs on ``EndpointsChanged`` and ``VaultsChanged`` (:class:`AutoRecords`, wired by the composition
root), then publishes ``DnsChanged``.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from typing import Any

from vaultlink.dns import names
from vaultlink.domain.identity import Scope
from vaultlink.domain.records import (
    DnsZoneRecord,
    EndpointRecord,
    RecordSetRecord,
    VnetRecord,
    ZoneLinkRecord,
    find_endpoints,
    find_vnets,
    find_zones,
    read_endpoint,
    read_vault,
    read_vnet,
)
from vaultlink.errors import VaultlinkError
from vaultlink.ports import Txn
from vaultlink.service.core import Service
from vaultlink.service.dns_registration import registration_records
from vaultlink.service.dns_zones import linked_elsewhere, new_zone_record, validate_zone
from vaultlink.service.events import DnsChanged
from vaultlink.service.vault_identity import grant

log = logging.getLogger(__name__)
AUTO_PRINCIPAL = "vaultlink:dns-integration"


def endpoint_names(e: EndpointRecord, domain: str) -> list[tuple[str, str, str]]:
    """(zone, fqdn, ip) for every privatelink name of a resource endpoint."""
    out = []
    for cfg in e.get("ip_configs") or []:
        fqdn, ip = cfg.get("fqdn"), cfg.get("ip")
        if not fqdn or not ip:
            continue
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            continue
        zone = cfg.get("zone") or names.zone_of(fqdn, domain)
        if zone:
            out.append((names.normalize(zone), names.normalize(fqdn), ip))
    return out


def integrated(e: EndpointRecord) -> bool:
    return e.get("kind") == "resource" and bool(e.get("dns_integration"))


Key = tuple[str, str, str]  # (account id, resource group, zone name): one zone instance


def instance_group(vnet: VnetRecord | None, vnet_id: str) -> str:
    """The resource group of the zone instance made for a vnet whose endpoints the default one cannot serve."""
    return f"vnet-{(vnet.get('name') if vnet else None) or vnet_id}"[:128]


def wanted(
    endpoints: list[EndpointRecord],
    domain: str,
    peers: dict[str, set[str]] | None = None,
    zones: list[DnsZoneRecord] | None = None,
    vnets: dict[str, VnetRecord] | None = None,
) -> tuple[dict[Key, dict[str, tuple[str, str]]], dict[Key, dict[str, str]]]:
    """Records {instance: {fqdn: (ip, endpoint)}} and links {instance: {vnet: endpoint}}.

    Azure's model: a zone name may exist more than once (in different resource groups), each instance
    linked to its own vnets, and a vnet is linked to at most one instance of a name. An endpoint's
    records go into the instance linked to its vnet; else into the first instance whose linked vnets
    can all reach the endpoint wherever it would replace another endpoint's record; else into a new
    instance (resource group ``vnet-<vnet name>``) linked to the endpoint's vnet only. So every vnet
    keeps resolving each name to an endpoint it can reach.
    """
    peers = peers or {}
    vnets = vnets or {}

    def reaches(vnet_id: str, endpoint_vnet: str) -> bool:
        return vnet_id == endpoint_vnet or endpoint_vnet in peers.get(vnet_id, set())

    def approved(e: EndpointRecord) -> bool:
        conn = e.get("connection")
        return bool(conn) and conn is not None and conn.get("status") == "Approved"

    records: dict[Key, dict[str, tuple[str, str]]] = {}
    links: dict[Key, dict[str, str]] = {}
    rec_vnet: dict[tuple[Key, str], str] = {}  # (instance, fqdn) -> vnet of the endpoint that holds it
    linked: dict[tuple[str, str], Key] = {}  # (account, zone name) x vnet -> instance, from the store
    auto: set[tuple[str, str]] = set()  # of those, the links made for an endpoint (not by a user)
    instances: dict[tuple[str, str], list[Key]] = {}  # (account, zone name) -> its instances, default first
    for z in sorted(zones or [], key=lambda z: (z.get("parent_id") or "", z.get("created") or 0)):
        zkey: Key = (z["account_id"], z.get("parent_id") or "", z["name"])
        instances.setdefault((z["account_id"], z["name"]), []).append(zkey)
        for lk in z.get("links") or []:  # a vnet stays with the instance it is linked to (stable answers)
            linked.setdefault((z["name"], lk["vnet_id"]), zkey)
            if lk.get("managed_by"):
                auto.add((z["name"], lk["vnet_id"]))
    # An Approved endpoint always wins a shared name over one that carries no traffic (Pending,
    # Rejected, Disconnected): someone's unapproved endpoint must not take a vault's name away
    # from the vnets that reach it. Among equals, oldest first: the newer endpoint's IP wins.
    ordered = [e for e in endpoints if not approved(e)] + sorted(
        (e for e in endpoints if approved(e)), key=lambda e: e.get("created") or 0)
    carries = {e["id"] for e in endpoints if approved(e)}

    def clash(cand: Key, eid: str, vnet_id: str, pairs: list[tuple[str, str]]) -> bool:
        """Would endpoint ``eid`` (in ``vnet_id``) take a name from vnets that cannot reach it? (An Approved
        endpoint takes a name from one that carries no traffic: no clash.)"""
        return any(
            (cand, fqdn) in rec_vnet and records[cand][fqdn][1] != eid
            and (records[cand][fqdn][1] in carries or eid not in carries)
            and not all(reaches(v, vnet_id) for v in links.get(cand, {}))
            for fqdn, _ip in pairs
        )

    for e in ordered:
        if not integrated(e):
            continue
        by_zone: dict[str, list[tuple[str, str]]] = {}
        for zone, fqdn, ip in endpoint_names(e, domain):
            by_zone.setdefault(zone, []).append((fqdn, ip))
        for zone, pairs in by_zone.items():
            acct, vnet_id = e["account_id"], e["vnet_id"]

            key: Key | None = linked.get((zone, vnet_id))
            if key is not None and (zone, vnet_id) in auto and clash(key, e["id"], vnet_id, pairs):
                # linked automatically (e.g. while this endpoint was Pending), now it would take the name
                # from vnets that cannot reach it: the vnet moves to an instance that can serve it
                key = None
            if key is None:
                for cand in instances.get((acct, zone), []) or [(acct, "", zone)]:
                    if not clash(cand, e["id"], vnet_id, pairs):
                        key = cand
                        break
                if key is None:
                    key = (acct, instance_group(vnets.get(vnet_id), vnet_id), zone)
                if key not in instances.setdefault((acct, zone), []):
                    instances[(acct, zone)].append(key)
                linked[(zone, vnet_id)] = key
            for fqdn, ip in pairs:
                records.setdefault(key, {})[fqdn] = (ip, e["id"])
                rec_vnet[(key, fqdn)] = vnet_id
            links.setdefault(key, {}).setdefault(vnet_id, e["id"])
    return records, links


def plan_for(txn: Txn, domain: str, rec: EndpointRecord) -> list[dict[str, Any]]:
    """Which zone instance each privatelink zone of a new endpoint ``rec`` would use (for ``--dry-run``),
    with a warning where the name would resolve to different endpoints in different vnets."""
    if not integrated(rec):
        return []
    probe = rec.copy()
    probe["id"] = rec.get("id") or "pe-new"
    probe["ip_configs"] = [{**c, "ip": "0.0.0.1"} for c in rec.get("ip_configs") or []]
    stored = find_zones(txn)
    vnets = {v["id"]: v for v in find_vnets(txn)}
    peers = {vid: set(v.get("peerings") or []) for vid, v in vnets.items()}
    records, _links = wanted([*find_endpoints(txn), probe], domain, peers, stored, vnets)
    existing = {(z["account_id"], z.get("parent_id") or "", z["name"]) for z in stored}
    out = []
    for key, recs in records.items():
        mine = [fqdn for fqdn, (_ip, eid) in recs.items() if eid == probe["id"]]
        if not mine:
            continue
        entry: dict[str, Any] = {"zone": key[2], "resource_group": key[1] or "default",
                                 "new_instance": key not in existing}
        if key[1]:
            entry["warning"] = (
                f"{', '.join(sorted(mine)[:3])} already resolve to another endpoint for vnets that cannot reach "
                f"this one: this endpoint's vnet gets zone instance {key[1]}:{key[2]} of its own, so the name "
                "answers differently in different vnets (peer the vnets to share one instance)."
            )
        out.append(entry)
    return sorted(out, key=lambda x: x["zone"])


def _link_name(vnet: VnetRecord, taken: set[str]) -> str:
    base = f"{vnet['name'][:50]}-auto"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _sync_zone(txn: Txn, z: DnsZoneRecord, want: dict[str, tuple[str, str]], want_links: dict[str, str]) -> list[str]:
    changes: list[str] = []
    records: list[RecordSetRecord] = []
    present: set[str] = set()
    for r in z["records"]:
        owner = r.get("managed_by")
        if not owner:
            records.append(r)
            continue
        w = want.get(r["name"])
        if w is None or r["type"] != "A":
            changes.append(f"removed {r['name']} A (endpoint {owner})")
            continue
        ip, eid = w
        if list(r["values"]) != [ip] or owner != eid:
            r = {**r, "values": [ip], "managed_by": eid}
            changes.append(f"updated {r['name']} A {ip} (endpoint {eid})")
        present.add(r["name"])
        records.append(r)
    user_held = {r["name"] for r in z["records"] if not r.get("managed_by") and r["type"] in ("A", "CNAME")}
    for fqdn, (ip, eid) in want.items():
        if fqdn in present or fqdn in user_held:
            continue
        records.append({"name": fqdn, "type": "A", "ttl": 10, "values": [ip], "managed_by": eid})
        changes.append(f"added {fqdn} A {ip} (endpoint {eid})")
    links: list[ZoneLinkRecord] = []
    linked: set[str] = set()
    for lk in z["links"]:
        if lk.get("managed_by") and lk["vnet_id"] not in want_links:
            changes.append(f"removed link {lk['name']} (no endpoint in that vnet needs it)")
            continue
        links.append(lk)
        linked.add(lk["vnet_id"])
    for vnet_id, eid in want_links.items():
        if vnet_id in linked or linked_elsewhere(txn, z, vnet_id) is not None:
            continue
        vnet = read_vnet(txn, vnet_id)
        if vnet is None:
            continue
        name = _link_name(vnet, {lk["name"] for lk in links})
        links.append({"name": name, "vnet_id": vnet_id, "fallback_to_public": False, "managed_by": eid})
        changes.append(f"linked vnet {vnet['name']} as {name} (endpoint {eid})")
    if changes:
        z["records"], z["links"] = records, links
        z["serial"] = int(z.get("serial", 1)) + 1
    return changes


def reconcile(svc: Service) -> dict[str, list[str]]:
    """Bring every zone in line with the endpoints; returns {zone id: [changes]}. A vnet that moves from one
    zone instance to another is linked to the new one once the old link is gone: a second pass."""
    done = _reconcile(svc)
    if any(c.startswith("removed link") for changes in done.values() for c in changes):
        for zid, changes in _reconcile(svc).items():
            done.setdefault(zid, []).extend(changes)
    return done


def _reconcile(svc: Service) -> dict[str, list[str]]:
    domain = svc.config.domain
    done: dict[str, list[str]] = {}
    with svc.store.transaction() as txn:
        stored = find_zones(txn)
        vnets = {v["id"]: v for v in find_vnets(txn)}
        peers = {vid: set(v.get("peerings") or []) for vid, v in vnets.items()}
        want_records, want_links = wanted(find_endpoints(txn), domain, peers, stored, vnets)
        for key, recs in registration_records(stored, vnets, txn.find("container")).items():
            for fqdn, value in recs.items():  # an endpoint's record of the same name wins
                want_records.setdefault(key, {}).setdefault(fqdn, value)
        zones = {(z["account_id"], z.get("parent_id") or "", z["name"]): z for z in stored}
        for key in want_records:
            if key not in zones and txn.get("account", key[0]) is not None:
                z = new_zone_record(key[0], key[2], svc.clock.now(), AUTO_PRINCIPAL, auto=True, group=key[1])
                txn.insert("dns_zone", z["id"], z)
                zones[key] = z
                where = f" (resource group {key[1]})" if key[1] else ""
                done[z["id"]] = [f"created zone {key[2]}{where}"]
                # the zone is made for these endpoints' vaults: their identities may keep it current
                eids = {eid for _ip, eid in want_records[key].values()}
                for vid in {ep.get("vault_id") for eid in eids if (ep := read_endpoint(txn, eid)) is not None}:
                    vault = read_vault(txn, vid) if vid else None
                    if vault is not None:
                        grant(txn, svc, None, vault, Scope(z["account_id"], "dns_zone", z["id"]))
        for key, z in zones.items():
            before: DnsZoneRecord = {"id": z["id"], "account_id": z["account_id"], "parent_id": z["parent_id"],
                                     "records": list(z["records"]), "links": list(z["links"]),
                                     "serial": z.get("serial", 1)}
            changes = _sync_zone(txn, z, want_records.get(key, {}), want_links.get(key, {}))
            if not changes:
                continue
            try:
                validate_zone(z, domain)
            except VaultlinkError as err:  # never store a zone the responder could not serve
                log.warning("dns: not updating zone %s: %s", z["name"], err.message)
                z.update(before)
                continue
            txn.update("dns_zone", z["id"], z)
            done.setdefault(z["id"], []).extend(changes)
    by_id: dict[str, DnsZoneRecord] = {z["id"]: z for z in zones.values()}
    for zid, changes in done.items():
        zrec = by_id.get(zid)
        svc.audit.emit(
            {
                "plane": "management",
                "action": "dns.auto",
                "principal": AUTO_PRINCIPAL,
                "account_id": zrec["account_id"] if zrec else None,
                "target": zrec["name"] if zrec else zid,
                "decision": "allowed",
                "message": "; ".join(changes)[:4000],
            }
        )
    return done


class AutoRecords:
    """``EndpointsChanged`` / ``VaultsChanged``: bring the automatic records in line, then ``DnsChanged``."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.lock = threading.Lock()

    def __call__(self, _event: object) -> None:
        if self.svc.remote:  # another server made the change and writes its records (then sends DnsChanged)
            return
        try:
            with self.lock:  # one reconcile at a time: a later one always reads what the earlier one wrote
                reconcile(self.svc)
        except Exception:  # the endpoint change is committed; a DNS failure must not undo its answer
            log.exception("dns: automatic records failed")
        self.svc.fire(DnsChanged())
