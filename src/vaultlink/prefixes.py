"""The one prefix index that classifies a source address (pure): the fabric and the DNS both ask it
which virtual network an address belongs to, so the two can never disagree.

Entries are (routing domain, CIDR, value). A routing domain is an address space of its own: in
loopback mode every vnet lives in the one default domain (``""``); in network-namespace mode two
tenants may use the same CIDR in different domains. A lookup is the longest-prefix match within one
domain: one dict probe per distinct prefix length, IPv4 and IPv6 alike. An IPv4-mapped IPv6 address
(``::ffff:127.10.0.5``, what a dual-stack socket reports) is its IPv4 address; a zone suffix
(``fe80::1%eth0``) is ignored; anything that is not an address matches nothing.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Iterator

DEFAULT_DOMAIN = ""
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=8192)  # every request reads its source address twice (network, security group)
def parse_address(text: str) -> Address | None:
    """The address in ``text`` (IPv4-mapped IPv6 as IPv4, zone suffix dropped), or None."""
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


class PrefixIndex:
    """Longest-prefix match of addresses over CIDRs, per routing domain."""

    __slots__ = ("_tables",)

    def __init__(self) -> None:
        # (domain, version) -> [(prefix length, {network int: value})], longest prefix first
        self._tables: dict[tuple[str, int], list[tuple[int, dict[int, str]]]] = {}

    @classmethod
    def build(cls, entries: Iterable[tuple[str, str, str]]) -> PrefixIndex:
        """``entries``: (routing domain, CIDR, value); the first value given for a CIDR wins."""
        idx = cls()
        by_len: dict[tuple[str, int, int], dict[int, str]] = {}
        for domain, cidr, value in entries:
            net = ipaddress.ip_network(cidr, strict=False)
            by_len.setdefault((domain, net.version, net.prefixlen), {}).setdefault(int(net.network_address), value)
        for (domain, version, plen), table in sorted(by_len.items(), key=lambda kv: -kv[0][2]):
            idx._tables.setdefault((domain, version), []).append((plen, table))
        return idx

    def lookup(self, source_ip: str, domain: str = DEFAULT_DOMAIN) -> str | None:
        """The value of the longest prefix holding ``source_ip`` in ``domain``; None when none does."""
        addr = parse_address(source_ip)
        if addr is None:
            return None
        tables = self._tables.get((domain, addr.version))
        if not tables:
            return None
        value = int(addr)
        bits = addr.max_prefixlen
        for plen, table in tables:
            hit = table.get(value >> (bits - plen) << (bits - plen))
            if hit is not None:
                return hit
        return None


def vnet_entries(vnets: Iterable[tuple[str, str, Iterable[object], Iterable[str]]]) -> Iterator[tuple[str, str, str]]:
    """Index entries for vnets given as (id, routing domain, CIDRs, peer ids): every vnet's ranges in its own
    domain and, where a peer lives in another domain (netns mode: a veth link joins the two namespaces, so
    the peer's packets arrive in this one), the peer's ranges in this vnet's domain too. Peered vnets never
    overlap (peering refuses it), so the extra entries cannot shadow the vnet's own."""
    table = {vid: (domain, [str(c) for c in cidrs], list(peers)) for vid, domain, cidrs, peers in vnets}
    for vid, (domain, cidrs, peers) in table.items():
        for cidr in cidrs:
            yield domain, cidr, vid
        for pid in sorted(peers):
            other = table.get(pid)
            if other is not None and other[0] != domain:
                for cidr in other[1]:
                    yield domain, cidr, pid
