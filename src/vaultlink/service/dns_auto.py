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

It runs on the ``endpoints`` and ``vaults`` events (:func:`install`), then fires ``dns``.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from typing import Any

from vaultlink.dns import names
from vaultlink.errors import VaultlinkError
from vaultlink.ports import Txn
from vaultlink.service.core import Service

log = logging.getLogger(__name__)
AUTO_PRINCIPAL = "vaultlink:dns-integration"

Key = tuple[str, str]  # (account id, zone name)


def endpoint_names(e: dict[str, Any], domain: str) -> list[tuple[str, str, str]]:
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


def integrated(e: dict[str, Any]) -> bool:
    return e.get("kind") == "resource" and bool(e.get("dns_integration"))


def wanted(
    endpoints: list[dict[str, Any]], domain: str
) -> tuple[dict[Key, dict[str, tuple[str, str]]], dict[Key, dict[str, str]]]:
    """Records {(account, zone): {fqdn: (ip, endpoint)}} and links {(account, zone): {vnet: endpoint}}."""
    records: dict[Key, dict[str, tuple[str, str]]] = {}
    links: dict[Key, dict[str, str]] = {}
    def approved(e: dict[str, Any]) -> bool:
        return (e.get("connection") or {}).get("status") == "Approved"

    # An Approved endpoint always wins a shared name over one that carries no traffic (Pending,
    # Rejected, Disconnected): someone's unapproved endpoint must not take a vault's name away
    # from the vnets that reach it. Among equals, oldest first: the newer endpoint's IP wins.
    ordered = [e for e in endpoints if not approved(e)] + [e for e in endpoints if approved(e)]
    for e in ordered:
        if not integrated(e):
            continue
        for zone, fqdn, ip in endpoint_names(e, domain):
            key = (e["account_id"], zone)
            records.setdefault(key, {})[fqdn] = (ip, e["id"])
            links.setdefault(key, {}).setdefault(e["vnet_id"], e["id"])
    return records, links


def _link_name(vnet: dict[str, Any], taken: set[str]) -> str:
    base = f"{vnet['name'][:50]}-auto"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _sync_zone(txn: Txn, z: dict[str, Any], want: dict[str, tuple[str, str]], want_links: dict[str, str]) -> list[str]:
    from vaultlink.service.dns import linked_elsewhere

    changes: list[str] = []
    records: list[dict[str, Any]] = []
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
    links: list[dict[str, Any]] = []
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
        vnet = txn.get("vnet", vnet_id)
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
    """Bring every zone in line with the endpoints; returns {zone id: [changes]}."""
    from vaultlink.service.dns import new_zone_record, validate_zone

    domain = svc.config.domain
    done: dict[str, list[str]] = {}
    with svc.store.transaction() as txn:
        want_records, want_links = wanted(txn.find("endpoint"), domain)
        zones = {(z["account_id"], z["name"]): z for z in txn.find("dns_zone")}
        for key in want_records:
            if key not in zones and txn.get("account", key[0]) is not None:
                z = new_zone_record(key[0], key[1], svc.clock.now(), AUTO_PRINCIPAL, auto=True)
                txn.insert("dns_zone", z["id"], z)
                zones[key] = z
                done[z["id"]] = [f"created zone {key[1]}"]
        for key, z in zones.items():
            before = {"records": list(z["records"]), "links": list(z["links"]), "serial": z.get("serial", 1)}
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
    by_id: dict[str, dict[str, Any]] = {z["id"]: z for z in zones.values()}
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


def _on_change(svc: Service, lock: threading.Lock) -> None:
    try:
        with lock:  # one reconcile at a time: a later one always reads what the earlier one wrote
            reconcile(svc)
    except Exception:  # the endpoint change is committed; a DNS failure must not undo its answer
        log.exception("dns: automatic records failed")
    svc.fire("dns")


def install(svc: Service) -> None:
    lock = threading.Lock()
    svc.on("endpoints", lambda: _on_change(svc, lock))
    svc.on("vaults", lambda: _on_change(svc, lock))
