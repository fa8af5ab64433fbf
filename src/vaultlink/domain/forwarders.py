"""Conditional forwarders for a customer's own DNS servers (pure): the zones a vault's names live in, and
the configuration that forwards them to the vaultlink responder, for dnsmasq, BIND, Unbound and Windows
DNS Server (the Azure seed: "add conditional forwarders for all three DNS zones (Backup, Blobs, and
Queues)", for custom DNS servers and SQL availability groups).

The zones are the public parents, so that both a public name and the privatelink name its CNAME points
at are forwarded: ``<geo>.backup.D`` (and the paired region's geo for a vault with cross-region restore),
``blob.D`` and ``queue.D``. The target must be an address whose answers are the vnet's (the responder
asked from inside the vnet: in netns mode the vnet's DNS address).
"""

from __future__ import annotations

import ipaddress

from vaultlink.errors import InvalidInput

FORMATS = ("dnsmasq", "bind", "unbound", "windows")


def zones(domain: str, geos: list[str]) -> list[str]:
    return [*(f"{g}.backup.{domain}" for g in dict.fromkeys(geos)), f"blob.{domain}", f"queue.{domain}"]


def parse_target(target: str) -> tuple[str, int]:
    """``IP`` or ``IP:PORT`` (IPv4; port 53 by default)."""
    host, _, port = target.strip().partition(":")
    try:
        ip = str(ipaddress.IPv4Address(host))
        num = int(port) if port else 53
    except ValueError:
        raise InvalidInput(f"target {target!r} is not IPV4[:PORT].", field="target") from None
    if not 1 <= num <= 65535:
        raise InvalidInput(f"target port {num} is outside 1-65535.", field="target")
    return ip, num


def render(fmt: str, names: list[str], ip: str, port: int, source: str | None = None) -> str:
    """The configuration in ``fmt``; ``source``: the DNS server's own address in the vnet, which the
    forwarded queries must come from (a server with several addresses)."""
    if source is not None:
        source = parse_target(source)[0]
    if fmt == "dnsmasq":
        at = f"@{source}" if source else ""
        return "".join(f"server=/{z}/{ip}#{port}{at}\n" for z in names)
    if fmt == "bind":
        head = f"# in options {{ }}: query-source address {source};\n" if source else ""
        return head + "".join(f'zone "{z}" {{\n    type forward;\n    forward only;\n'
                       f"    forwarders {{ {ip} port {port}; }};\n}};\n" for z in names)
    if fmt == "unbound":
        return "".join(f'forward-zone:\n    name: "{z}"\n    forward-addr: {ip}@{port}\n' for z in names) + \
            "server:\n" + "".join(f'    domain-insecure: "{z}"\n' for z in names) + \
            (f"    outgoing-interface: {source}\n" if source else "") + \
            ("    do-not-query-localhost: no\n" if ipaddress.IPv4Address(ip).is_loopback else "")
    if fmt == "windows":
        note = ("" if port == 53 else
                f"# Windows DNS Server forwards to port 53 only: make {ip}:53 answer "
                f"(the responder's port is {port}).\n")
        return note + "".join(f'Add-DnsServerConditionalForwarderZone -Name "{z}" -MasterServers {ip} '
                              "-ReplicationScope Forest -PassThru\n" for z in names)
    raise InvalidInput(f"format {fmt!r} is not one of {', '.join(FORMATS)}.", field="format")
