"""Virtual networks and private DNS pages (pure HTML): vnets with subnets and peerings; zones with record
sets and vnet links; a vault's DNS view (the DNS doctor's problems, each with a Fix button, and each
endpoint's DNS configuration with hosts-file and zone-file downloads)."""

from __future__ import annotations

from typing import Any

from vaultlink.api.console_html import button_form, e, hidden, table, vault_nav


def _form(action: str, legend: str, fields: str, csrf: str, label: str) -> str:
    return (f'<form method="post" action="{e(action)}"><fieldset><legend>{e(legend)}</legend>{hidden(csrf)}'
            f'{fields}<button type="submit">{e(label)}</button></fieldset></form>')


def _input(label: str, name: str, value: str = "", required: bool = True, hint: str = "") -> str:
    req = " required" if required else ""
    tip = f' placeholder="{e(hint)}"' if hint else ""
    return f'<label>{e(label)} <input type="text" name="{e(name)}" value="{e(value)}"{req}{tip}></label>'


def vnets(items: list[dict[str, Any]], regions: list[str], csrf: str) -> str:
    rows = [(f'<a href="/console/vnets/{e(v["name"])}">{e(v["name"])}</a>', e(v["region"]),
             e(", ".join(v["address_spaces"])), e(", ".join(f'{s["name"]} {s["cidr"]}' for s in v["subnets"])),
             e(", ".join(p["name"] or p["vnet_id"] for p in v["peerings"])), e(v["endpoints"])) for v in items]
    options = "".join(f'<option value="{e(r)}">{e(r)}</option>' for r in regions)
    create = _form("/console/vnets", "Create a virtual network",
                   _input("Name", "name") + f'<label>Region <select name="region">{options}</select></label>'
                   + _input("Address space", "address_space", hint="127.20.0.0/16")
                   + _input("First subnet", "subnet", "default=", required=False, hint="default=127.20.1.0/24"),
                   csrf, "Create")
    return table(("Virtual network", "Region", "Address spaces", "Subnets", "Peered with", "Endpoints"), rows,
                 f"{len(items)} virtual network(s)") + create


def vnet(v: dict[str, Any], eps: list[dict[str, Any]], csrf: str) -> str:
    base = f'/console/vnets/{e(v["name"])}'
    subs = [(e(s["name"]), e(s["cidr"]), e(s["capacity"]), e(s["allocated"]), e(s["free"]),
             button_form(f'{base}/subnets/{s["name"]}/delete', "Delete", csrf)) for s in v["subnets"]]
    peers = [(e(p["name"] or p["vnet_id"]), button_form(f'{base}/peerings/{p["name"] or p["vnet_id"]}/delete',
                                                         "Remove peering", csrf)) for p in v["peerings"]]
    endpoints = [(e(x["name"]), e(x.get("vault_name") or x.get("service_name")), e(x["subnet"]),
                  e(", ".join(x.get("ips") or [])), e(x.get("status"))) for x in eps]
    return (table(("Property", "Value"), [("Id", e(v["id"])), ("Region", e(v["region"])),
                                          ("Address spaces", e(", ".join(v["address_spaces"])))])
            + "<h2>Subnets</h2>" + table(("Subnet", "Range", "Capacity", "Allocated", "Free", ""), subs)
            + _form(f"{base}/subnets", "Add a subnet", _input("Name", "name") + _input("Range", "cidr"), csrf, "Add")
            + "<h2>Peerings</h2>" + table(("Peered with", ""), peers)
            + _form(f"{base}/peerings", "Peer with", _input("Virtual network", "other"), csrf, "Peer")
            + "<h2>Private endpoints</h2>" + table(("Endpoint", "Target", "Subnet", "Addresses", "Connection"),
                                                   endpoints))


def zones(items: list[dict[str, Any]], csrf: str) -> str:
    rows = [(f'<a href="/console/dns/zones/{e(_ref(z))}">{e(z["name"])}</a>', e(z["resource_group"]),
             e(z["record_sets"]), e(z["links"]), "yes" if z.get("auto_created") else "no") for z in items]
    create = _form("/console/dns/zones", "Create a private DNS zone",
                   _input("Zone", "name", hint="privatelink.loc1.backup.vaultlink.internal"), csrf, "Create")
    return table(("Zone", "Resource group", "Record sets", "Virtual network links", "Made by an endpoint"), rows,
                 f"{len(items)} zone(s)") + create


def _ref(z: dict[str, Any]) -> str:
    group = z.get("resource_group") or "default"
    return z["name"] if group == "default" else f"{group}:{z['name']}"


def zone(z: dict[str, Any], csrf: str) -> str:
    base = f"/console/dns/zones/{e(_ref(z))}"
    recs = [(e(r["name"]), e(r["type"]), e(r["ttl"]), e(", ".join(r["values"])), e(r.get("managed_by") or "you"),
             button_form(f'{base}/records/{r["name"]}/{r["type"]}/delete', "Delete", csrf)) for r in z["records"]]
    links = [(e(lk["name"]), e(lk["vnet_name"] or lk["vnet_id"]), "yes" if lk["registration"] else "no",
              "yes" if lk["fallback_to_public"] else "no",
              button_form(f'{base}/links/{lk["name"]}/delete', "Remove", csrf)) for lk in z["vnet_links"]]
    return ("<h2>Record sets</h2>" + table(("Name", "Type", "TTL", "Values", "Managed by", ""), recs)
            + _form(f"{base}/records", "Add or replace a record set",
                    _input("Name", "name", hint="vm1") + _input("Type", "type", "A") + _input("Values", "values",
                    hint="127.20.1.4, comma separated") + _input("TTL", "ttl", "10"), csrf, "Save")
            + "<h2>Virtual network links</h2>"
            + table(("Link", "Virtual network", "Auto-registration", "Fallback to internet", ""), links)
            + _form(f"{base}/links", "Link a virtual network", _input("Virtual network", "vnet"), csrf, "Link"))


def vault_dns(vault: str, doc: dict[str, Any], configs: list[dict[str, Any]], csrf: str) -> str:
    base = f"/console/vaults/{e(vault)}/dns"
    if doc["ok"]:
        head = f'<p class="flash" role="status">Private DNS is complete for {e(doc["endpoints"])} endpoint(s).</p>'
    else:
        rows = [(e(p["endpoint"]), e(p["problem"]), e(p["message"]), f'<code>{e(p["fix"])}</code>',
                 button_form(f"{base}/fix", "Fix", csrf, {"key": p["key"]})) for p in doc["problems"]]
        head = (table(("Endpoint", "Problem", "What is wrong", "The CLI's fix", ""), rows,
                      f'DNS doctor: {len(doc["problems"])} problem(s)')
                + button_form(f"{base}/fix", "Fix all", csrf, {"key": "*"}))
    body = f"{vault_nav(vault, '/dns')}<h2>DNS doctor</h2>{head}<p class=\"muted\">{e(doc['note'])}</p>"
    for cfg in configs:
        rows = [(e(r["fqdn"]), e(r["ip"]), e(r["zone"]), e(r.get("public_name")), e(r.get("purpose")))
                for r in cfg["records"]]
        ep = e(cfg["endpoint"])
        body += (f"<h2>DNS configuration of {ep}</h2>"
                 + table(("FQDN", "IP address", "Private DNS zone", "Public name", "Purpose"), rows)
                 + f'<p><a href="/console/endpoints/{ep}/dns-config.hosts" download>Download hosts file</a> · '
                 f'<a href="/console/endpoints/{ep}/dns-config.zone" download>Download zone file</a></p>')
    return body
