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

import logging
import threading
from typing import Any, cast

from vaultlink.domain.identity import Scope
from vaultlink.domain.records import (
    DnsZoneRecord,
    EndpointRecord,
    RecordSetRecord,
    VnetRecord,
    ZoneLinkRecord,
    read_endpoint,
    read_vault,
    read_vnet,
)
from vaultlink.errors import VaultlinkError
from vaultlink.ports import Txn
from vaultlink.service.core import Service
from vaultlink.service.dns_registration import registration_records
from vaultlink.service.dns_walk import integrated
from vaultlink.service.dns_wanted import wanted
from vaultlink.service.dns_zones import linked_elsewhere, new_zone_record, remember_written, validate_zone
from vaultlink.service.events import DnsChanged
from vaultlink.service.vault_identity import STORAGE_ZONES, grant

log = logging.getLogger(__name__)
AUTO_PRINCIPAL = "vaultlink:dns-integration"


def plan_for(svc: Service, rec: EndpointRecord) -> list[dict[str, Any]]:
    """Which zone instance each privatelink zone of a new endpoint ``rec`` would use (for ``--dry-run``),
    with a warning where the name would resolve to different endpoints in different vnets. Reads what is
    committed (``Store.scan``), as the automatic records will once ``rec`` is."""
    if not integrated(rec):
        return []
    domain = svc.config.domain
    probe = rec.copy()
    probe["id"] = rec.get("id") or "pe-new"
    probe["ip_configs"] = [{**c, "ip": "0.0.0.1"} for c in rec.get("ip_configs") or []]
    stored, vnets, endpoints = _committed(svc)
    peers = {vid: set(v.get("peerings") or []) for vid, v in vnets.items()}
    # ``rec`` is not committed (a dry run, or inside the transaction that creates it): not among ``endpoints``
    records, _links = wanted([*endpoints, probe], domain, peers, stored, vnets, remember=False)
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


Committed = tuple[list[DnsZoneRecord], dict[str, VnetRecord], list[EndpointRecord]]


def _committed(svc: Service, scanned: tuple[Any, ...] | None = None) -> Committed:
    """Zones (shallow copies of ``scanned``, else of a scan: ``_sync_zone`` replaces their lists), vnets and endpoints
    as committed (shared)."""
    zones = [cast(DnsZoneRecord, dict(z)) for z in (svc.store.scan("dns_zone") if scanned is None else scanned)]
    vnets = {v["id"]: cast(VnetRecord, v) for v in svc.store.scan("vnet")}
    return zones, vnets, cast("list[EndpointRecord]", list(svc.store.scan("endpoint")))


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


class _Stale(Exception):
    """A zone changed since the records were scanned (another server wrote it): scan again, in full."""


# zone id -> (the zone record as scanned, the records and links wanted of it) when the two were last found in line
InLine = dict[str, tuple[Any, dict[str, tuple[str, str]], dict[str, str]]]


def reconcile(svc: Service, in_line: InLine | None = None) -> dict[str, list[str]]:
    """Bring every zone in line with the endpoints; returns {zone id: [changes]}. A vnet that moves from one
    zone instance to another is linked to the new one once the old link is gone: a second pass. With
    ``in_line`` (kept by the caller between calls), a zone whose record and wanted records are what they were
    when it was last found in line is not walked again (a change that touches no zone costs no zone's size)."""
    for attempt in range(3):
        try:
            done = _reconcile(svc, in_line)
            break
        except _Stale:  # several servers: what another wrote reaches this one's scans with its notification
            if attempt == 2:
                raise
            svc.store.forget_cached()
            if in_line is not None:
                in_line.clear()
    if any(c.startswith("removed link") for changes in done.values() for c in changes):
        for zid, changes in _reconcile(svc, in_line).items():
            done.setdefault(zid, []).extend(changes)
    return done


def _reconcile(svc: Service, in_line: InLine | None = None) -> dict[str, list[str]]:
    domain = svc.config.domain
    done: dict[str, list[str]] = {}
    with svc.store.transaction() as txn:  # the scans inside it read what it starts from (one writer)
        shared = svc.store.scan("dns_zone")
        stored, vnets, endpoints = _committed(svc, shared)  # ``stored``: copies of ``shared``, the same versions
        scanned = {z["id"]: z for z in shared}
        if in_line is not None:
            for gone in in_line.keys() - scanned.keys():  # a deleted zone is not remembered
                del in_line[gone]
        peers = {vid: set(v.get("peerings") or []) for vid, v in vnets.items()}
        want_records, want_links = wanted(endpoints, domain, peers, stored, vnets)
        for key, recs in registration_records(stored, vnets, txn.find("container")).items():
            for fqdn, value in recs.items():  # an endpoint's record of the same name wins
                want_records.setdefault(key, {}).setdefault(fqdn, value)
        zones = {(z["account_id"], z.get("parent_id") or "", z["name"]): z for z in stored}
        created: set[str] = set()
        for key in want_records:
            if key not in zones and txn.get("account", key[0]) is not None:
                z = new_zone_record(key[0], key[2], svc.clock.now(), AUTO_PRINCIPAL, auto=True, group=key[1])
                txn.insert("dns_zone", z["id"], z)
                zones[key] = z
                created.add(z["id"])
                where = f" (resource group {key[1]})" if key[1] else ""
                done[z["id"]] = [f"created zone {key[2]}{where}"]
                # the zone is made for these endpoints' vaults: their identities may keep it current; a storage
                # zone also for every integrated endpoint in the vnets it serves (their vaults grow into it later)
                eids = {eid for _ip, eid in want_records[key].values()}
                if key[2].startswith(STORAGE_ZONES):
                    served = set(want_links.get(key, {}))
                    eids |= {e["id"] for e in endpoints
                             if integrated(e) and e["account_id"] == key[0] and e["vnet_id"] in served}
                for vid in {ep.get("vault_id") for eid in eids if (ep := read_endpoint(txn, eid)) is not None}:
                    vault = read_vault(txn, vid) if vid else None
                    if vault is not None:
                        grant(txn, svc, None, vault, Scope(z["account_id"], "dns_zone", z["id"]))
        for key, z in zones.items():
            want, want_links_here = want_records.get(key, {}), want_links.get(key, {})
            seen = in_line.get(z["id"]) if in_line is not None else None
            origin = scanned.get(z["id"])
            if seen is not None and origin is not None and seen[0] is origin and seen[1] == want \
                    and seen[2] == want_links_here:
                continue  # the very record that was in line with these very wants
            before: DnsZoneRecord = {"id": z["id"], "account_id": z["account_id"], "parent_id": z["parent_id"],
                                     "records": list(z["records"]), "links": list(z["links"]),
                                     "serial": z.get("serial", 1)}
            changes = _sync_zone(txn, z, want, want_links_here)
            if not changes:
                # remembered only when the zone itself holds every wanted link: one it lacks may depend on other
                # zones (a link elsewhere, removed later in this pass) and must be looked at again
                linked = {lk["vnet_id"] for lk in z["links"]}
                if in_line is not None and origin is not None and linked.issuperset(want_links_here):
                    in_line[z["id"]] = (origin, dict(want), dict(want_links_here))
                continue
            try:
                made = validate_zone(z, domain)
            except VaultlinkError as err:  # never store a zone the responder could not serve
                log.warning("dns: not updating zone %s: %s", z["name"], err.message)
                z.update(before)
                continue
            if z["id"] not in created and (origin is None or not txn.unchanged("dns_zone", z["id"], origin)):
                raise _Stale(z["id"])  # never write over a zone from a stale scan (compared by digest: nothing decoded)
            txn.update("dns_zone", z["id"], z)
            remember_written(z, domain, made)  # the DNS view reads it back: the zone is not made again
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
        self.in_line: InLine = {}  # guarded by ``lock``

    def __call__(self, _event: object) -> None:
        if self.svc.remote:  # another server made the change and writes its records (then sends DnsChanged)
            return
        try:
            with self.lock:  # one reconcile at a time: a later one always reads what the earlier one wrote
                reconcile(self.svc, self.in_line)
        except Exception:  # the endpoint change is committed; a DNS failure must not undo its answer
            log.exception("dns: automatic records failed")
        self.svc.fire(DnsChanged())
