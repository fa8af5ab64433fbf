"""Explanations: ``dns check`` (resolve as a machine at an address would, and say why),
``dns doctor`` (what is missing for a vault's endpoints, with the command that fixes it: zones, links,
records, and blob/queue IPs an endpoint lacks for one of the vault's storage accounts) and an
endpoint's ``dns-config`` (every FQDN and IP, as a table, hosts lines, a zone file or JSON).

:func:`explain` and the formatters are pure; the handlers read the store and check roles.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from dnslib import QTYPE, RR

from vaultlink.dns import names
from vaultlink.dns.model import DnsView
from vaultlink.dns.resolve import MAX_CHAIN, CompiledView, _lookup_zone
from vaultlink.domain.identity import Scope
from vaultlink.errors import InvalidInput
from vaultlink.ports import Txn
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.dns_auto import endpoint_names, instance_group
from vaultlink.service.vault_identity import missing_rights

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "TXT": 16, "AAAA": 28, "ANY": 255}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def caveat(domain: str) -> str:
    return (
        f"A custom DNS server (dnsmasq, BIND, unbound) must forward the whole service domain {domain} to the "
        "vaultlink responder - or both the public zones and the privatelink zones - and must query it from "
        "an address inside the vnet: forwarding only the privatelink zones breaks the CNAME from each public "
        "name, and queries from outside the vnet get the public address."
    )


def _rr_text(rr: RR) -> str:
    return f"{str(rr.rname).rstrip('.')} {rr.ttl} {QTYPE[rr.rtype]} {str(rr.rdata).rstrip('.')}"


def _link_of(view: DnsView, zone: str, vnet: str | None) -> tuple[str, bool]:
    for z in view.zones:
        if z.name == zone:
            for lk in z.links:
                if lk.vnet_id == vnet:
                    return lk.name or "(unnamed)", lk.fallback_to_public
    return "", False


def _step(
    compiled: CompiledView, cur: str, code: int, vnet: str | None, vnet_label: str, source: str
) -> dict[str, Any]:
    view = compiled.view
    fell_back: tuple[str, str] | None = None
    for zi, fallback in compiled.visible.get(vnet, []) if vnet is not None else []:
        if not names.is_subdomain(cur, zi.name):
            continue
        st = _lookup_zone(zi, cur, code)
        link, _ = _link_of(view, zi.name, vnet)
        if st.kind == "nxdomain" and fallback:
            fell_back = (zi.name, link)
            break
        return {
            "name": cur,
            "answered_by": "private",
            "zone": zi.name,
            "link": link,
            "result": st.kind,
            "target": st.target or None,
            "why": f"{vnet_label} is linked to private zone {zi.name} (link {link}), the most specific "
            f"linked zone that holds {cur}",
        }
    if not names.is_subdomain(cur, view.domain):
        return {
            "name": cur,
            "answered_by": None,
            "zone": None,
            "link": None,
            "result": "refused",
            "target": None,
            "why": f"{cur} is not under the service domain {view.domain} and no private zone linked to "
            f"{vnet_label} holds it",
        }
    st = _lookup_zone(compiled.public, cur, code)
    if st.kind == "cname" and names.privatelink_name_for(cur, view.domain) == st.target:
        why = f"{cur} is a public name: a CNAME to its privatelink name, which the asker's zone links decide"
    elif fell_back is not None:
        why = (
            f"private zone {fell_back[0]} (link {fell_back[1]}) has no record for {cur}; the link falls "
            "back to public resolution"
        )
    elif vnet is None:
        why = f"{source} is in no virtual network (the internet), so it gets the public answer"
    else:
        holders = sorted({z.name for z in view.zones if names.is_subdomain(cur, z.name)}, key=len, reverse=True)
        if holders:
            why = (
                f"{vnet_label} is not linked to private zone {holders[0]}, which holds {cur}, so it gets the "
                f"public answer (link it: `vaultlink dns link add {holders[0]} --vnet VNET`)"
            )
        else:
            why = f"no private zone linked to {vnet_label} holds {cur}, so it gets the public answer"
    return {
        "name": cur,
        "answered_by": "public",
        "zone": view.domain,
        "link": None,
        "result": st.kind,
        "target": st.target or None,
        "why": why,
    }


def explain(
    view: DnsView, source: str, name: str, qtype: str = "A", vnet_names: dict[str, str] | None = None
) -> dict[str, Any]:
    """Resolve ``name`` as a machine at ``source`` would and explain each step of the chain."""
    try:
        ipaddress.ip_address(source)
    except ValueError:
        raise InvalidInput(f"--from {source!r} is not an IP address, e.g. 127.10.1.5.", field="source") from None
    qname = names.check_name(name, "name")
    code = QTYPES.get(qtype.upper())
    if code is None:
        raise InvalidInput(f"type {qtype!r} is not one of {', '.join(QTYPES)}.", field="type")
    compiled = CompiledView(view)
    vnet = compiled.classify(source)
    vname = (vnet_names or {}).get(vnet or "", vnet)
    label = f"vnet {vname}" if vnet else "the internet"
    res = compiled.resolve(qname, code, vnet)
    steps = []
    cur, seen = qname, {qname}
    for _ in range(MAX_CHAIN + 1):
        step = _step(compiled, cur, code, vnet, label, source)
        steps.append(step)
        target = step["target"]
        if step["result"] != "cname" or not target or target in seen:
            break
        seen.add(target)
        cur = target
    answer = [_rr_text(rr) for rr in res.answer]
    final = [a.split()[-1] for a in answer if a.split()[2] in ("A", "AAAA")]
    private = any(s["answered_by"] == "private" for s in steps)
    summary = (
        f"{qname} from {source} ({label}): {RCODES.get(res.rcode, res.rcode)}"
        + (f", {', '.join(final)}" if final else "")
        + (" (private)" if private and final else " (public)" if final else "")
    )
    return {
        "name": qname,
        "type": qtype.upper(),
        "source": source,
        "vnet": {"id": vnet, "name": vname} if vnet else None,
        "rcode": RCODES.get(res.rcode, str(res.rcode)),
        "answer": answer,
        "addresses": final,
        "private": private,
        "steps": steps,
        "summary": summary,
    }


def check(svc: Service, caller: Caller, source: str, name: str, qtype: str = "A") -> dict[str, Any]:
    from vaultlink.service.dns import build_dns_view

    with svc.store.transaction() as txn:
        authorize(txn, caller, "dns.read", Scope(caller.account_id))
        vnet_names = {v["id"]: v["name"] for v in txn.find("vnet")}
    return explain(build_dns_view(svc), source, name, qtype, vnet_names)


# --- doctor ------------------------------------------------------------------------------------------
def _safe_to_serve(txn: Txn, z: dict[str, Any], fqdn: str, ip: str, vnet_id: str) -> bool:
    """Would answering ``fqdn`` with ``ip`` (an endpoint in ``vnet_id``) from zone instance ``z`` keep every
    vnet linked to it resolving to an endpoint it can reach?"""
    held = next((r for r in z["records"] if r["name"] == fqdn and r["type"] in ("A", "CNAME")), None)
    if held is None or list(held["values"]) == [ip]:
        return True
    for lk in z["links"]:
        other = txn.get("vnet", lk["vnet_id"]) or {}
        if lk["vnet_id"] != vnet_id and vnet_id not in (other.get("peerings") or []):
            return False
    return True


def _linked_zone(txn: Txn, zone: str, vnet_id: str) -> dict[str, Any] | None:
    for z in txn.find("dns_zone", name=zone):
        if any(lk["vnet_id"] == vnet_id for lk in z["links"]):
            return z
    return None


def doctor(svc: Service, caller: Caller, vault_ref: str) -> dict[str, Any]:
    """Every missing zone, link or record for the vault's endpoints, with the command that fixes it."""
    from vaultlink.service.dns import relative
    from vaultlink.service.endpoints import endpoints_for_vault
    from vaultlink.service.vaults import find_vault, vault_scope

    domain = svc.config.domain
    problems: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()

    def add(key: tuple[str, ...], base: dict[str, Any], problem: str, message: str, fix: str, **more: Any) -> None:
        if key not in seen:
            seen.add(key)
            problems.append({**base, **more, "problem": problem, "message": message, "fix": fix})

    with svc.store.transaction() as txn:
        vault = find_vault(txn, vault_ref, caller.account_id)
        authorize(txn, caller, "vault.read", vault_scope(vault))
        eps = endpoints_for_vault(txn, vault["id"])
        for e in eps:
            vnet = txn.get("vnet", e["vnet_id"]) or {"id": e["vnet_id"], "name": e["vnet_id"], "peerings": []}
            vname = vnet["name"]
            own = txn.find("dns_zone", account_id=e["account_id"])
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
                        f"{group}:{zone} --vnet {vname} && vaultlink dns record set {group}:{zone} {rel} A {ip}")
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
                tgroup = (target or {}).get("parent_id")
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
                    )
                elif a is None:
                    msg = f"zone {zone} has no A record for {fqdn} (the endpoint's IP is {ip})"
                    add(("record", zone, fqdn), base, "record-missing", msg, fix, fqdn=fqdn, ip=ip)
                elif ip not in a["values"]:
                    msg = f"{fqdn} answers {', '.join(a['values'])}, not the endpoint's IP {ip}"
                    add(("record", zone, fqdn), base, "record-wrong", msg, fix, fqdn=fqdn, ip=ip)
                for pid in vnet.get("peerings") or []:
                    peer = txn.get("vnet", pid)
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
            for item in storage_ip_problems(e, vault, vnet):
                base = item.pop("base")
                add(("storage", e["id"], item["storage_account"]), base, **item)
            for m in missing_rights(txn, vault, e):
                add(("identity", e["id"], m["scope"]),
                    {"endpoint": e["name"], "endpoint_id": e["id"], "vnet": vname}, "identity-role-missing",
                    f"the vault's managed identity lacks {m['permission']} on {m['scope']}: when the vault grows, "
                    f"endpoint {e['name']} gets no IPs or DNS records for the new storage account",
                    m["fix"], permission=m["permission"], scope=m["scope"])
    return {
        "vault": vault["name"],
        "vault_id": vault["id"],
        "endpoints": len(eps),
        "ok": not problems,
        "problems": problems,
        "note": caveat(domain),
    }


def storage_ip_problems(e: dict[str, Any], vault: dict[str, Any], vnet: dict[str, Any]) -> list[dict[str, Any]]:
    """One problem per storage account of ``vault`` for which endpoint ``e`` lacks a blob or queue IP."""
    from vaultlink.domain.endpoints import DISCONNECTED, storage_account_names
    from vaultlink.domain.networks import free_count

    if e.get("kind") != "resource" or (e.get("connection") or {}).get("status") == DISCONNECTED:
        return []
    have = {(c.get("storage_account"), c.get("purpose")) for c in e.get("ip_configs") or []}
    gaps = [(sa, [k for k in ("blob", "queue") if (sa, k) not in have]) for sa in storage_account_names(vault)]
    gaps = [(sa, kinds) for sa, kinds in gaps if kinds]
    if not gaps:
        return []
    needed = sum(len(kinds) for _, kinds in gaps)
    sub = next((s for s in vnet.get("subnets") or [] if s["name"] == e["subnet"]), None)
    free = free_count(sub) if sub is not None else 0
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


# --- dns-config ------------------------------------------------------------------------------------
def dns_config(svc: Service, caller: Caller, endpoint_ref: str) -> dict[str, Any]:
    from vaultlink.service.endpoints import find_endpoint

    with svc.store.transaction() as txn:
        e = find_endpoint(txn, endpoint_ref, caller.account_id)
        authorize(txn, caller, "network.read", Scope(e["account_id"], "vnet", e["vnet_id"]))
    show_public = e.get("kind") == "resource" or bool(e.get("private_dns_enabled"))
    rows = []
    for cfg in e.get("ip_configs") or []:
        zone = cfg.get("zone") or names.zone_of(cfg["fqdn"], svc.config.domain)
        rows.append(
            {
                "fqdn": cfg["fqdn"],
                "ip": cfg.get("ip"),
                "zone": zone,
                "record": cfg["fqdn"][: -len(zone) - 1] if zone else None,
                "public_name": cfg.get("public_name") if show_public else None,
                "purpose": cfg.get("purpose"),
                "storage_account": cfg.get("storage_account"),
            }
        )
    return {
        "endpoint_id": e["id"],
        "endpoint": e["name"],
        "kind": e.get("kind"),
        "dns_integration": bool(e.get("dns_integration")),
        "private_dns_enabled": bool(e.get("private_dns_enabled")),
        "records": rows,
        "zones": sorted({r["zone"] for r in rows if r["zone"]}),
        "forward": svc.config.domain,
        "note": caveat(svc.config.domain),
    }


def hosts_text(cfg: dict[str, Any]) -> str:
    """``<ip> <fqdn>`` lines: each public name and each privatelink name."""
    lines: list[str] = []
    for r in cfg["records"]:
        for n in (r.get("public_name"), r["fqdn"]):
            line = f"{r['ip']} {n}"
            if n and line not in lines:
                lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")


def zone_text(cfg: dict[str, Any]) -> str:
    """Zone-file fragments: one ``$ORIGIN`` block per privatelink zone; other names absolute."""
    out = [f"; DNS records for endpoint {cfg['endpoint']} ({cfg['endpoint_id']})", f"; {cfg['note']}"]
    for zone in cfg["zones"]:
        out.append(f"$ORIGIN {zone}.")
        out += [f"{r['record']}\t10\tIN\tA\t{r['ip']}" for r in cfg["records"] if r["zone"] == zone]
    rest = [r for r in cfg["records"] if not r["zone"]]
    if rest:
        out.append("; names outside the privatelink zones (absolute)")
        for r in rest:
            out.append(f"{r['fqdn']}.\t10\tIN\tA\t{r['ip']}")
            if r.get("public_name"):
                out.append(f"{r['public_name']}.\t10\tIN\tA\t{r['ip']}")
    return "\n".join(out) + "\n"
