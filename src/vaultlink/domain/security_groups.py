"""Security groups of endpoints (pure): inbound rules, the default group, the gateway ports.

A rule is ``{"id", "protocol": tcp|udp|all, "from_port", "to_port", "source", "description"}``
whose source is an IPv4 CIDR or the service tag ``VirtualNetwork`` (Azure's name): the
endpoint's vnet address spaces plus those of every vnet peered with it. The tag is stored
as written and resolved when the fabric builds its view (``fabric/build.py``), so adding
or removing a peering, or an address space, takes effect at once. A rule's id is derived
from protocol, ports and source, so the same rule cannot be added twice.

The default group is one rule, TCP 0-65535 from ``VirtualNetwork``: a machine in the
endpoint's vnet or in a peered one reaches the endpoint with no rule added by hand.
(Endpoints created before the tag existed hold explicit CIDR rules for their own vnet;
those keep working and do not follow peerings.) A ``backup-gateway`` endpoint must allow
TCP 443, 1026, 1027, 1028, 1031 and 2222 (AWS's requirement for Backup gateway).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from typing import Any

from vaultlink.errors import GatewayPortsRequired, InvalidSecurityRule

GATEWAY_PORTS = (443, 1026, 1027, 1028, 1031, 2222)
PROTOCOLS = ("tcp", "udp", "all")
MAX_RULES = 60
VIRTUAL_NETWORK = "VirtualNetwork"
DEFAULT_DESCRIPTION = "default: the endpoint's vnet and its peers"


def gateway_message(missing: list[int]) -> str:
    return (
        "a backup-gateway endpoint's security group must allow TCP "
        + ", ".join(map(str, GATEWAY_PORTS))
        + f"; missing: TCP {', '.join(map(str, missing))}. Add rules for them."
    )


def _bad_rule(msg: str) -> InvalidSecurityRule:
    return InvalidSecurityRule(
        msg + " Rules look like tcp:443:127.10.0.0/16, tcp:1026-1028:127.10.0.0/16 or tcp:443:VirtualNetwork "
        "(the endpoint's vnet and its peers).",
        field="rules",
    )


def parse_rule_spec(spec: str) -> dict[str, Any]:
    """``PROTO:PORTS:SOURCE`` (e.g. ``tcp:1026-1028:127.10.0.0/16``, ``tcp:443:VirtualNetwork``) → a rule."""
    parts = spec.split(":")
    if len(parts) != 3:
        raise _bad_rule(f"rule {spec!r} is not PROTOCOL:PORTS:SOURCE.")
    return parse_rule({"protocol": parts[0], "ports": parts[1], "source": parts[2]})


def parse_rule(raw: Any) -> dict[str, Any]:
    """Normalize one inbound rule: ``{protocol, ports ("N" or "N-M"), source, description?}``."""
    if isinstance(raw, str):
        return parse_rule_spec(raw)
    if not isinstance(raw, dict):
        raise _bad_rule(f"rule {raw!r} is not an object.")
    proto = str(raw.get("protocol", "")).lower()
    if proto in ("-1", "any", "*"):
        proto = "all"
    if proto not in PROTOCOLS:
        raise _bad_rule(f"protocol {raw.get('protocol')!r} is not tcp, udp or all.")
    lo, hi = _ports(raw.get("ports", "1-65535" if proto == "all" else None), raw)
    source = parse_source(raw.get("source"))
    desc = raw.get("description") or ""
    if not isinstance(desc, str) or len(desc) > 255:
        raise _bad_rule("description must be a string of at most 255 characters.")
    rule = {"protocol": proto, "from_port": lo, "to_port": hi, "source": source, "description": desc}
    rule["id"] = rule_id(rule)
    return rule


def parse_source(src: Any) -> str:
    """A rule's source in normal form: an IPv4 CIDR, or the tag ``VirtualNetwork`` (any case)."""
    if isinstance(src, str) and src.strip().lower() == VIRTUAL_NETWORK.lower():
        return VIRTUAL_NETWORK
    try:
        net = ipaddress.IPv4Network(str(src), strict=False) if isinstance(src, str) and "/" in src else None
    except ValueError:
        net = None
    if net is None:
        raise _bad_rule(f"source {src!r} is not an IPv4 CIDR or {VIRTUAL_NETWORK}.")
    return str(net)


def source_networks(source: str, virtual_network: Iterable[str]) -> list[str]:
    """The CIDRs a rule's source stands for; ``virtual_network``: what the tag means for this endpoint."""
    return list(virtual_network) if source == VIRTUAL_NETWORK else [source]


def _ports(value: Any, raw: dict[str, Any]) -> tuple[int, int]:
    if value is None and "from_port" in raw:
        value = f"{raw['from_port']}-{raw.get('to_port', raw['from_port'])}"
    text = str(value) if value is not None else ""
    lo_s, _, hi_s = text.partition("-")
    try:
        lo, hi = int(lo_s), int(hi_s or lo_s)
    except ValueError:
        raise _bad_rule(f"ports {value!r} are not N or N-M.") from None
    if not (0 <= lo <= hi <= 65535):
        raise _bad_rule(f"ports {value!r} must satisfy 0 <= N <= M <= 65535.")
    return lo, hi


def rule_id(rule: dict[str, Any]) -> str:
    key = f"{rule['protocol']}|{rule['from_port']}|{rule['to_port']}|{rule['source']}"
    return "sgr-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def default_rules() -> list[dict[str, Any]]:
    """The default group: TCP (every port) from ``VirtualNetwork`` (the vnet and its peers)."""
    return [
        parse_rule(
            {"protocol": "tcp", "ports": "0-65535", "source": VIRTUAL_NETWORK, "description": DEFAULT_DESCRIPTION}
        )
    ]


def virtual_network_spaces(vnet: dict[str, Any] | None, vnets_by_id: dict[str, dict[str, Any]]) -> list[str]:
    """What ``VirtualNetwork`` means for an endpoint in ``vnet``: its address spaces and its peers'."""
    if vnet is None:
        return []
    out = list(vnet.get("address_spaces") or [])
    for pid in vnet.get("peerings") or []:
        peer = vnets_by_id.get(pid)
        if peer is not None:
            out += [s for s in peer.get("address_spaces") or [] if s not in out]
    return out


def rule_allows(
    rules: Iterable[dict[str, Any]], protocol: str, port: int, source_ip: str, virtual_network: Iterable[str] = ()
) -> bool:
    """Does any inbound rule allow ``protocol``/``port`` from ``source_ip``?

    ``virtual_network``: the CIDRs the ``VirtualNetwork`` tag stands for (see :func:`virtual_network_spaces`).
    """
    try:
        ip = ipaddress.IPv4Address(source_ip)
    except ValueError:
        return False
    vn = list(virtual_network)
    for r in rules:
        if r["protocol"] not in ("all", protocol) or not (r["from_port"] <= port <= r["to_port"]):
            continue
        if any(ip in ipaddress.IPv4Network(c) for c in source_networks(r["source"], vn)):
            return True
    return False


def missing_gateway_ports(rules: Iterable[dict[str, Any]]) -> list[int]:
    rules = list(rules)
    return [
        port
        for port in GATEWAY_PORTS
        if not any(r["protocol"] in ("tcp", "all") and r["from_port"] <= port <= r["to_port"] for r in rules)
    ]


def check_gateway_rules(service: str | None, rules: list[dict[str, Any]]) -> None:
    if service == "backup-gateway":
        missing = missing_gateway_ports(rules)
        if missing:
            raise GatewayPortsRequired(gateway_message(missing), field="rules", missing_ports=missing)
