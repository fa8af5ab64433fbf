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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vaultlink.domain.records import SgRuleRecord, VnetRecord
from vaultlink.errors import GatewayPortsRequired, InvalidSecurityRule

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network

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


def parse_rule_spec(spec: str) -> SgRuleRecord:
    """``PROTO:PORTS:SOURCE`` (e.g. ``tcp:1026-1028:127.10.0.0/16``, ``tcp:443:VirtualNetwork``) → a rule."""
    parts = spec.split(":")
    if len(parts) != 3:
        raise _bad_rule(f"rule {spec!r} is not PROTOCOL:PORTS:SOURCE.")
    return parse_rule({"protocol": parts[0], "ports": parts[1], "source": parts[2]})


def parse_rule(raw: Any) -> SgRuleRecord:
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
    rule: SgRuleRecord = {"protocol": proto, "from_port": lo, "to_port": hi, "source": source, "description": desc}
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


def rule_id(rule: SgRuleRecord) -> str:
    key = f"{rule['protocol']}|{rule['from_port']}|{rule['to_port']}|{rule['source']}"
    return "sgr-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def default_rules() -> list[SgRuleRecord]:
    """The default group: TCP (every port) from ``VirtualNetwork`` (the vnet and its peers)."""
    return [
        parse_rule(
            {"protocol": "tcp", "ports": "0-65535", "source": VIRTUAL_NETWORK, "description": DEFAULT_DESCRIPTION}
        )
    ]


def virtual_network_spaces(vnet: VnetRecord | None, vnets_by_id: dict[str, VnetRecord]) -> list[str]:
    """What ``VirtualNetwork`` means for an endpoint in ``vnet``: its address spaces and its peers'."""
    if vnet is None:
        return []
    out = list(vnet.get("address_spaces") or [])
    for pid in vnet.get("peerings") or []:
        peer = vnets_by_id.get(pid)
        if peer is not None:
            out += [s for s in peer.get("address_spaces") or [] if s not in out]
    return out


@dataclass(frozen=True, slots=True)
class SgRule:
    """One compiled inbound rule: protocol, port range, one source network (the one matcher)."""

    protocol: str  # tcp | udp | * (any)
    from_port: int
    to_port: int
    source: IPNet

    def allows(self, protocol: str, port: int, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return (
            self.protocol in ("*", "-1", "all", protocol)
            and self.from_port <= port <= self.to_port
            and ip in self.source
        )


def compile_rules(rules: Iterable[SgRuleRecord] | None, virtual_network: Iterable[str]) -> tuple[SgRule, ...]:
    """Stored inbound rules as ``SgRule``s, one per source network; ``VirtualNetwork`` expands to
    ``virtual_network`` (the endpoint's vnet and its peers, see :func:`virtual_network_spaces`);
    ``None`` (no group stored) is the default group, TCP from VirtualNetwork."""
    vn = [ipaddress.ip_network(c, strict=False) for c in virtual_network]
    if rules is None:
        return tuple(SgRule("tcp", 0, 65535, n) for n in vn)
    out: list[SgRule] = []
    for rule in rules:
        r: Mapping[str, Any] = rule  # stored rules may carry older key names (port_from, source_cidr)
        if r.get("direction", "inbound") != "inbound":
            continue
        lo = r.get("from_port", r.get("port_from"))
        hi = r.get("to_port", r.get("port_to"))
        if lo is None:
            ports = str(r.get("ports", r.get("port_range", "0-65535")))
            if ports in ("*", "all", "any"):
                lo, hi = 0, 65535
            else:
                a, _, b = ports.partition("-")
                lo, hi = int(a), int(b or a)
        proto = str(r.get("protocol", "tcp")).lower()
        proto = "*" if proto in ("all", "-1", "*") else proto
        source = str(r.get("source", r.get("source_cidr", "0.0.0.0/0")))
        nets = vn if source.lower() == VIRTUAL_NETWORK.lower() else [ipaddress.ip_network(source, strict=False)]
        to = int(hi if hi is not None else lo)
        out += [SgRule(proto, int(lo), to, n) for n in nets]
    return tuple(out)


def rules_allow(rules: Iterable[SgRule], protocol: str, port: int, source_ip: str) -> bool:
    """Does any compiled rule allow ``protocol``/``port`` from ``source_ip``?"""
    try:
        ip = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(r.allows(protocol, port, ip) for r in rules)


def missing_gateway_ports(rules: Iterable[SgRuleRecord]) -> list[int]:
    rules = list(rules)
    return [
        port
        for port in GATEWAY_PORTS
        if not any(r["protocol"] in ("tcp", "all") and r["from_port"] <= port <= r["to_port"] for r in rules)
    ]


def check_gateway_rules(service: str | None, rules: list[SgRuleRecord]) -> None:
    if service == "backup-gateway":
        missing = missing_gateway_ports(rules)
        if missing:
            raise GatewayPortsRequired(gateway_message(missing), field="rules", missing_ports=missing)
