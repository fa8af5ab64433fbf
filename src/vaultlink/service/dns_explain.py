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
from vaultlink.domain.records import find_vnets
from vaultlink.errors import InvalidInput
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.dns_view import build_dns_view
from vaultlink.service.endpoints import find_endpoint

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
    with svc.store.transaction() as txn:
        authorize(txn, caller, "dns.read", Scope(caller.account_id))
        vnet_names = {v["id"]: v["name"] for v in find_vnets(txn)}
    return explain(build_dns_view(svc), source, name, qtype, vnet_names)


# --- doctor ------------------------------------------------------------------------------------------


# --- dns-config ------------------------------------------------------------------------------------
def dns_config(svc: Service, caller: Caller, endpoint_ref: str) -> dict[str, Any]:
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


