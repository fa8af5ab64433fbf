"""The ``dns-config`` document of an endpoint as text for other DNS software (pure): a hosts file, or
zone-file fragments for a custom DNS server."""

from __future__ import annotations

from typing import Any


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

