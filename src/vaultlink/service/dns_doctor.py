"""``dns doctor``: every missing zone, link or record for a vault's endpoints, each with the command that
fixes it (DESIGN.md §4), plus the storage-IP checks it shares with the endpoint views."""

from __future__ import annotations

from typing import Any

from vaultlink.domain import forwarders as fwd
from vaultlink.domain.connections import DISCONNECTED
from vaultlink.domain.endpoint_names import storage_account_names
from vaultlink.domain.networks import free_count
from vaultlink.domain.records import DnsZoneRecord, EndpointRecord, VaultRecord, VnetRecord, find_zones, read_vnet
from vaultlink.ports import Txn
from vaultlink.service.addresses import allocated_count
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.dns_explain import caveat
from vaultlink.service.dns_walk import endpoint_names, instance_group
from vaultlink.service.dns_zones import relative
from vaultlink.service.endpoint_records import endpoints_for_vault
from vaultlink.service.vault_identity import missing_rights
from vaultlink.service.vaults import find_vault, vault_scope


def _safe_to_serve(txn: Txn, z: DnsZoneRecord, fqdn: str, ip: str, vnet_id: str) -> bool:
    """Would answering ``fqdn`` with ``ip`` (an endpoint in ``vnet_id``) from zone instance ``z`` keep every
    vnet linked to it resolving to an endpoint it can reach?"""
    held = next((r for r in z["records"] if r["name"] == fqdn and r["type"] in ("A", "CNAME")), None)
    if held is None or list(held["values"]) == [ip]:
        return True
    for lk in z["links"]:
        other = read_vnet(txn, lk["vnet_id"])
        if lk["vnet_id"] != vnet_id and vnet_id not in ((other.get("peerings") or []) if other else []):
            return False
    return True


def _linked_zone(txn: Txn, zone: str, vnet_id: str) -> DnsZoneRecord | None:
    for z in find_zones(txn, name=zone):
        if any(lk["vnet_id"] == vnet_id for lk in z["links"]):
            return z
    return None


def doctor(svc: Service, caller: Caller, vault_ref: str) -> dict[str, Any]:
    """Every missing zone, link or record for the vault's endpoints, with the command that fixes it."""
    domain = svc.config.domain
    problems: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()

    def add(key: tuple[str, ...], base: dict[str, Any], problem: str, message: str, fix: str, **more: Any) -> None:
        if key not in seen:
            seen.add(key)
            problems.append({**base, **more, "problem": problem, "message": message, "fix": fix,
                             "key": "|".join(key)})

    with svc.store.transaction() as txn:
        vault = find_vault(txn, vault_ref, caller.account_id)
        authorize(txn, caller, "vault.read", vault_scope(vault))
        eps = endpoints_for_vault(txn, vault["id"])
        for e in eps:
            vnet = read_vnet(txn, e["vnet_id"]) or VnetRecord(id=e["vnet_id"], account_id=e["account_id"], parent_id="",
                                                               name=e["vnet_id"], peerings=[])
            vname = vnet["name"]
            own = find_zones(txn, account_id=e["account_id"])
            for zone, fqdn, ip in endpoint_names(e, domain):
                base = {"endpoint": e["name"], "endpoint_id": e["id"], "zone": zone, "vnet": vname}
                target = _linked_zone(txn, zone, vnet["id"])
                mine = next((z for z in sorted(own, key=lambda z: bool(z.get("parent_id"))) if z["name"] == zone),
                            None)
                rel = relative(fqdn, zone)
                if target is None and mine is not None and not _safe_to_serve(txn, mine, fqdn, ip, vnet["id"]):
                    # the default instance answers this name with another endpoint for vnets that cannot
                    # reach this one: linking it here would break them, so a zone instance of its own
                    group = instance_group(vnet, vnet["id"])
                    msg = (f"zone {zone} is not linked to vnet {vname}, and its instance in use answers {fqdn} "
                           "for vnets that cannot reach this endpoint: VMs in {vname} get the public address")
                    add(("link", zone, vnet["id"]), base, "link-missing", msg.replace("{vname}", vname),
                        f"vaultlink dns zone create {zone} --resource-group {group} && vaultlink dns link add "
                        f"{group}:{zone} --vnet {vname} && vaultlink dns record set {group}:{zone} {rel} A {ip}",
                        resource_group=group, fqdn=fqdn, ip=ip)
                    continue
                if target is None:
                    if mine is None:
                        msg = f"private DNS zone {zone} does not exist"
                        add(
                            ("zone", e["account_id"], zone),
                            base,
                            "zone-missing",
                            msg,
                            f"vaultlink dns zone create {zone}",
                        )
                    msg = f"zone {zone} is not linked to vnet {vname}: VMs there get the public address"
                    add(
                        ("link", zone, vnet["id"]),
                        base,
                        "link-missing",
                        msg,
                        f"vaultlink dns link add {zone} --vnet {vname}",
                    )
                    target = mine
                tgroup = target.get("parent_id") if target else None
                zref = f"{tgroup}:{zone}" if tgroup else zone
                fix = f"vaultlink dns record set {zref} {rel} A {ip}"
                recs = [r for r in (target or {"records": []})["records"] if r["name"] == fqdn]
                a = next((r for r in recs if r["type"] == "A"), None)
                if any(r["type"] == "CNAME" for r in recs):
                    msg = f"{fqdn} is a CNAME in zone {zone}, not the endpoint's A record {ip}"
                    add(
                        ("cname", zone, fqdn),
                        base,
                        "record-conflict",
                        msg,
                        f"vaultlink dns record delete {zone} {rel} CNAME && {fix}",
                        fqdn=fqdn,
                        ip=ip,
                        zone_ref=zref,
                    )
                elif a is None:
                    msg = f"zone {zone} has no A record for {fqdn} (the endpoint's IP is {ip})"
                    add(("record", zone, fqdn), base, "record-missing", msg, fix, fqdn=fqdn, ip=ip, zone_ref=zref)
                elif ip not in a["values"]:
                    msg = f"{fqdn} answers {', '.join(a['values'])}, not the endpoint's IP {ip}"
                    add(("record", zone, fqdn), base, "record-wrong", msg, fix, fqdn=fqdn, ip=ip, zone_ref=zref)
                for pid in vnet.get("peerings") or []:
                    peer = read_vnet(txn, pid)
                    if peer is None or _linked_zone(txn, zone, pid) is not None:
                        continue
                    msg = (
                        f"vnet {peer['name']} is peered with {vname} and reaches the endpoint, but zone {zone} "
                        "is not linked to it: VMs there get the public address"
                    )
                    add(
                        ("link", zone, pid),
                        {**base, "vnet": peer["name"]},
                        "peer-link-missing",
                        msg,
                        f"vaultlink dns link add {zone} --vnet {peer['name']}",
                    )
            for item in storage_ip_problems(e, vault, vnet, allocated_count(txn, vnet["id"], e["subnet"])):
                base = item.pop("base")
                add(("storage", e["id"], item["storage_account"]), base, **item)
            for m in missing_rights(txn, vault, e):
                add(("identity", e["id"], m["scope"]),
                    {"endpoint": e["name"], "endpoint_id": e["id"], "vnet": vname}, "identity-role-missing",
                    f"the vault's managed identity lacks {m['permission']} on {m['scope']}: when the vault grows, "
                    f"endpoint {e['name']} gets no IPs or DNS records for the new storage account",
                    m["fix"], permission=m["permission"], scope=m["scope"],
                    principal=m["principal"])
    return {
        "vault": vault["name"],
        "vault_id": vault["id"],
        "endpoints": len(eps),
        "ok": not problems,
        "problems": problems,
        "note": caveat(domain),
    }


def storage_ip_problems(e: EndpointRecord, vault: VaultRecord, vnet: VnetRecord,
                        allocated: int) -> list[dict[str, Any]]:
    """One problem per storage account of ``vault`` for which endpoint ``e`` lacks a blob or queue IP (``allocated``:
    the addresses taken in its subnet)."""
    conn = e.get("connection")
    if e.get("kind") != "resource" or (conn is not None and conn.get("status") == DISCONNECTED):
        return []
    have = {(c.get("storage_account"), c.get("purpose")) for c in e.get("ip_configs") or []}
    gaps = [(sa, [k for k in ("blob", "queue") if (sa, k) not in have]) for sa in storage_account_names(vault)]
    gaps = [(sa, kinds) for sa, kinds in gaps if kinds]
    if not gaps:
        return []
    needed = sum(len(kinds) for _, kinds in gaps)
    sub = next((s for s in vnet.get("subnets") or [] if s["name"] == e["subnet"]), None)
    free = free_count(sub, allocated) if sub is not None else 0
    if free < needed:
        room = (
            f"subnet {e['subnet']} of vnet {vnet['name']} has {free} free address(es) and the endpoint needs "
            f"{needed}: free room first (delete unused endpoints there: `vaultlink endpoint list --vnet "
            f"{vnet['name']}`), then sync"
        )
    else:
        room = f"subnet {e['subnet']} has room ({free} free); sync the endpoint"
    out = []
    for sa, kinds in gaps:
        msg = (
            f"endpoint {e['name']} has no {' or '.join(kinds)} IP for storage account {sa} of vault "
            f"{vault['name']}: agents that reach the vault through it cannot move data to or from {sa}; {room}"
        )
        out.append(
            {
                "base": {"endpoint": e["name"], "endpoint_id": e["id"], "zone": None, "vnet": vnet["name"]},
                "problem": "storage-ip-missing",
                "message": msg,
                "fix": f"vaultlink endpoint sync {e['name']}",
                "storage_account": sa,
                "missing": kinds,
                "subnet": e["subnet"],
                "free": free,
                "needed": needed,
            }
        )
    return out



def forwarders(svc: Service, caller: Caller, vault_ref: str, fmt: str, target: str,
               source: str | None = None) -> dict[str, Any]:
    """The conditional forwarders a customer's DNS servers need for the vault's names (``domain/forwarders``)."""
    with svc.store.transaction() as txn:
        vault = find_vault(txn, vault_ref, caller.account_id)
        authorize(txn, caller, "vault.read", vault_scope(vault))
    geos = [vault["geo"]]
    paired = svc.catalog.regions.get(vault.get("secondary_region") or "")
    if paired is not None and vault.get("cross_region_restore") == "Enabled":
        geos.append(paired.geo)
    ip, port = fwd.parse_target(target)
    names = fwd.zones(svc.config.domain, geos)
    return {"vault": vault["name"], "zones": names, "target": f"{ip}:{port}", "format": fmt,
            "config": fwd.render(fmt, names, ip, port, source or None),
            "note": "the target must answer as the vnet does: the responder asked from inside the vnet "
                    "(netns mode: the vnet's DNS address); keep a virtual network link for each private zone."}
