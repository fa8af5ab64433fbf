"""Virtual-network address rules (pure): address spaces, subnets, IP allocation, classification.

Loopback mode (DESIGN.md §3): every vnet address space lies inside ``127.0.0.0/8`` and
outside ``127.0.0.0/16`` (which is "the internet"). Address spaces of all vnets share
one address plane, so no two vnets may overlap (that keeps source classification
unambiguous). Host mode: real unicast ranges outside ``127.0.0.0/8``, still one plane (one routing
table). Netns mode: each vnet is a routing domain of its own (a network namespace), so vnets may
overlap, except vnets peered with each other; ``100.64.0.0/10`` is kept for the links to the internet
namespace. Subnets lie inside one of their vnet's address spaces and never overlap.
Each subnet reserves its first four addresses and its last one; endpoint IPs are
allocated lowest-first from the rest.

A subnet is a plain dict ``{"name", "cidr"}`` inside the vnet record. Its allocated addresses are
:class:`Addresses` (ip → owner): rows of their own in the store (``service/addresses.py``), so an endpoint's
create or delete never rewrites the vnet (a vnet record that held every allocation grew with the endpoints and was
decoded and encoded whole on every change); :class:`AddressMap` is the same in memory.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from vaultlink.domain.records import SubnetRecord
from vaultlink.errors import (
    CidrOutOfRange,
    CidrOverlap,
    InvalidCidr,
    InvalidInput,
    SubnetFull,
    SubnetOutsideVnet,
    SubnetTooSmall,
)

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
INTERNET = ipaddress.IPv4Network("127.0.0.0/16")
TRANSIT = ipaddress.IPv4Network("100.64.0.0/10")  # netns mode: vnet <-> internet namespace links
NOT_UNICAST = (ipaddress.IPv4Network("0.0.0.0/8"), ipaddress.IPv4Network("224.0.0.0/3"))
MODES = ("loopback", "host", "netns")
RESERVED_HEAD = 4  # network address + three service addresses
RESERVED_TAIL = 1  # broadcast
MIN_SUBNET_PREFIX = 29
MAX_ADDRESS_SPACES = 16


def parse_cidr(text: object, field_name: str = "cidr") -> ipaddress.IPv4Network:
    """An IPv4 CIDR; host bits must be zero (the message suggests the right network)."""
    if not isinstance(text, str) or "/" not in text:
        raise InvalidCidr(f"{text!r} is not a CIDR; write it like 127.10.0.0/16.", field=field_name)
    try:
        return ipaddress.IPv4Network(text.strip(), strict=True)
    except ValueError:
        try:
            loose = ipaddress.IPv4Network(text.strip(), strict=False)
        except ValueError:
            raise InvalidCidr(
                f"{text!r} is not a valid IPv4 CIDR; write it like 127.10.0.0/16.", field=field_name
            ) from None
        raise InvalidCidr(
            f"{text!r} has host bits set; did you mean {loose}?", field=field_name, suggestion=str(loose)
        ) from None


def check_address_space(
    text: object, mode: str = "loopback", field_name: str = "address_spaces", allowed: str = ""
) -> str:
    """Validate one vnet address space for ``mode``; returns its normal form. ``allowed`` (host mode's
    ``host_networks``): comma-separated CIDRs the space must lie in, so a tenant cannot claim addresses of
    the real network that belong to other machines."""
    net = parse_cidr(text, field_name)
    if mode == "host" and allowed.strip():
        ranges = [ipaddress.IPv4Network(c.strip(), strict=False) for c in allowed.split(",") if c.strip()]
        if not any(net.subnet_of(r) for r in ranges):
            raise CidrOutOfRange(
                f"address space {net} is outside the networks this service may use ({allowed}); the operator "
                "sets them with host_networks.",
                field=field_name,
            )
    if mode == "loopback" and (not net.subnet_of(LOOPBACK) or net.overlaps(INTERNET)):
        raise CidrOutOfRange(
            f"address space {net} is out of range: in loopback mode it must lie inside {LOOPBACK} and "
            f"outside {INTERNET} (the internet); use e.g. 127.10.0.0/16.",
            field=field_name,
        )
    if mode != "loopback":
        if net.overlaps(LOOPBACK) or any(net.overlaps(x) for x in NOT_UNICAST):
            raise CidrOutOfRange(
                f"address space {net} is out of range: in {mode} mode vnets are real unicast ranges outside "
                f"{LOOPBACK}; use e.g. 10.0.0.0/16.",
                field=field_name,
            )
        if mode == "netns" and net.overlaps(TRANSIT):
            raise CidrOutOfRange(
                f"address space {net} overlaps {TRANSIT}, which netns mode uses for the links between vnets and "
                "the internet namespace; use e.g. 10.0.0.0/16.",
                field=field_name,
            )
    if net.prefixlen > MIN_SUBNET_PREFIX:
        raise SubnetTooSmall(f"address space {net} is too small; use /{MIN_SUBNET_PREFIX} or larger.", field=field_name)
    return str(net)


def routing_domain(mode: str, vnet_id: str) -> str:
    """The address space a vnet lives in (``prefixes.py``): its own in netns mode, the one plane otherwise."""
    return vnet_id if mode == "netns" else ""


def vnet_service_addresses(address_spaces: Iterable[str]) -> tuple[str, str]:
    """Netns mode: a vnet's own addresses, base + 1 (the VMs' source address, like a gateway) and base + 2
    (the vnet's DNS address, as AWS's VPC resolver), from its first address space. Subnets reserve their
    first four addresses, so endpoint allocation never hands these out when a subnet starts at the base."""
    first = ipaddress.IPv4Network(next(iter(address_spaces)))
    return str(first.network_address + 1), str(first.network_address + 2)


def check_address_spaces(
    spaces: object, others: Iterable[tuple[str | None, str]] = (), mode: str = "loopback", allowed: str = ""
) -> list[str]:
    """Validate a vnet's address spaces against each other and ``others`` ((vnet name, cidr) pairs)."""
    if not isinstance(spaces, list) or not spaces:
        raise InvalidInput(
            "a virtual network needs at least one address space, e.g. --address-space 127.10.0.0/16.",
            field="address_spaces",
        )
    if len(spaces) > MAX_ADDRESS_SPACES:
        raise InvalidInput(f"at most {MAX_ADDRESS_SPACES} address spaces.", field="address_spaces")
    nets = [ipaddress.IPv4Network(check_address_space(s, mode, allowed=allowed)) for s in spaces]
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            if a.overlaps(b):
                raise CidrOverlap(f"address spaces {a} and {b} overlap; give each range once.", field="address_spaces")
    other_nets = [(name, ipaddress.IPv4Network(c)) for name, c in others]
    for a in nets:
        for name, b in other_nets:
            if a.overlaps(b) and name is None:  # another tenant's: say nothing of it
                raise CidrOverlap(
                    f"address space {a} overlaps a range already in use on this service; vnets share one "
                    f"address plane in {mode} mode, so pick another range.",
                    field="address_spaces",
                )
            if a.overlaps(b):
                raise CidrOverlap(
                    f"address space {a} overlaps {b} of virtual network {name}; vnets share one address "
                    "plane, so pick a range no other vnet uses.",
                    field="address_spaces",
                    other_vnet=name,
                    other_cidr=str(b),
                )
    return [str(n) for n in nets]


@functools.lru_cache(maxsize=65536)
def _span(cidr: str) -> tuple[int, int]:
    """The first and last address of a stored CIDR, as ints (made once: a subnet add compares with every subnet
    of the vnet, and parsing them each time made the add's cost grow with their number)."""
    net = ipaddress.IPv4Network(cidr)
    return int(net.network_address), int(net.broadcast_address)


def check_subnet(text: object, address_spaces: Iterable[str], subnets: Iterable[SubnetRecord]) -> str:
    """Validate a new subnet of a vnet; returns its normal form."""
    net = parse_cidr(text, "cidr")
    spaces = [ipaddress.IPv4Network(s) for s in address_spaces]
    if not any(net.subnet_of(s) for s in spaces):
        raise SubnetOutsideVnet(
            f"subnet {net} is not inside the vnet's address spaces ({', '.join(map(str, spaces))}); "
            "pick a range inside one of them.",
            field="cidr",
        )
    if net.prefixlen > MIN_SUBNET_PREFIX:
        raise SubnetTooSmall(
            f"subnet {net} is too small: the first four and the last address are reserved; use "
            f"/{MIN_SUBNET_PREFIX} or larger.",
            field="cidr",
        )
    lo, hi = _span(str(net))
    for s in subnets:
        other_lo, other_hi = _span(s["cidr"])
        if lo <= other_hi and other_lo <= hi:
            raise CidrOverlap(
                f"subnet {net} overlaps subnet {s['name']} ({s['cidr']}); pick a free range.",
                field="cidr",
                other_subnet=s["name"],
            )
    return str(net)


def new_subnet(name: str, cidr: str) -> SubnetRecord:
    return {"name": name, "cidr": cidr}


class Addresses(Protocol):
    """The addresses allocated in one subnet (ip → owner) and ``free_from``: every address below it is allocated
    (None: not known), so a create does not walk the allocations."""

    free_from: int | None

    def __contains__(self, ip: str) -> bool: ...

    def __len__(self) -> int: ...

    def take(self, ip: str, owner: str) -> None: ...

    def give_back(self, ip: str, owner: str | None = None) -> bool:
        """Free ``ip`` (with ``owner``: only if that owner holds it); whether it was freed."""


class AddressMap(dict[str, str]):
    """:class:`Addresses` in memory."""

    free_from: int | None = None

    def take(self, ip: str, owner: str) -> None:
        self[ip] = owner

    def give_back(self, ip: str, owner: str | None = None) -> bool:
        if ip not in self or (owner is not None and self[ip] != owner):
            return False
        del self[ip]
        return True


def usable_bounds(cidr: str) -> tuple[int, int]:
    """First and last allocatable address (as ints) of a subnet."""
    net = ipaddress.IPv4Network(cidr)
    return int(net.network_address) + RESERVED_HEAD, int(net.broadcast_address) - RESERVED_TAIL


def capacity(subnet: SubnetRecord) -> int:
    lo, hi = usable_bounds(subnet["cidr"])
    return max(0, hi - lo + 1)


def free_count(subnet: SubnetRecord, allocated: int) -> int:
    """Free addresses of ``subnet`` when ``allocated`` are taken."""
    return capacity(subnet) - allocated


def reserved_addresses(cidr: str) -> list[str]:
    net = ipaddress.IPv4Network(cidr)
    head = [str(net.network_address + i) for i in range(RESERVED_HEAD)]
    return [*head, str(net.broadcast_address)]


def allocate(subnet: SubnetRecord, addresses: Addresses, owner: str, count: int) -> list[str]:
    """Allocate ``count`` addresses of ``subnet`` to ``owner`` (lowest free first); all or nothing.

    Raises ``SubnetFull`` (and changes nothing) when fewer than ``count`` are free.
    """
    if count <= 0:
        return []
    free = free_count(subnet, len(addresses))
    if free < count:
        raise SubnetFull(
            f"subnet {subnet['name']} ({subnet['cidr']}) has {free} free address(es) but "
            f"{count} are needed; use another subnet, add a larger one, or delete unused endpoints.",
            field="subnet",
            free=free,
            needed=count,
        )
    lo, hi = usable_bounds(subnet["cidr"])
    # ``free_from``: every address below it is allocated (allocate and release keep it so), so a create does
    # not walk the whole subnet; when it is wrong (a record changed by hand) the walk starts again from the start
    out, end = _take(addresses, owner, count, max(lo, addresses.free_from or lo), hi)
    if len(out) < count:
        more, end = _take(addresses, owner, count - len(out), lo, hi)
        out += more
    addresses.free_from = end
    return out


def _take(addresses: Addresses, owner: str, count: int, n: int, hi: int) -> tuple[list[str], int]:
    """The first ``count`` free addresses from ``n`` (allocated to ``owner``), and where the walk stopped."""
    out: list[str] = []
    while len(out) < count and n <= hi:
        ip = f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"  # str(IPv4Address(n)), 5x cheaper
        if ip not in addresses:
            addresses.take(ip, owner)
            out.append(ip)
        n += 1
    return out, n


def release(addresses: Addresses, ips: Iterable[str], owner: str | None = None) -> int:
    """Free ``ips`` (with ``owner``: only those it holds); returns how many were freed."""
    freed = 0
    for ip in ips:
        if addresses.give_back(ip, owner):
            freed += 1
            if addresses.free_from is not None:
                addresses.free_from = min(addresses.free_from, _ip_int(ip))
    return freed


def subnet_view(subnet: SubnetRecord, allocations: Mapping[str, str]) -> dict[str, Any]:
    """What users see of a subnet (``allocations``: ip → owner)."""
    return {
        "name": subnet["name"],
        "cidr": subnet["cidr"],
        "reserved": reserved_addresses(subnet["cidr"]),
        "capacity": capacity(subnet),
        "allocated": len(allocations),
        "free": free_count(subnet, len(allocations)),
        "allocations": dict(sorted(allocations.items(), key=lambda kv: _ip_int(kv[0]))),
    }


def _ip_int(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))


def spaces_overlap(a: Iterable[str], b: Iterable[str]) -> tuple[str, str] | None:
    """The first pair of overlapping ranges between two lists, or None."""
    bn = [ipaddress.IPv4Network(x) for x in b]
    for x in a:
        an = ipaddress.IPv4Network(x)
        for y in bn:
            if an.overlaps(y):
                return str(an), str(y)
    return None
