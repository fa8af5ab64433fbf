"""The one prefix index (``prefixes.py``): longest prefix, IPv4-mapped and IPv6 addresses, routing
domains; and the fabric and the DNS classify every address the same way because both use it."""

from __future__ import annotations

import ipaddress

import pytest

from vaultlink.dns.model import DnsView, Vnet
from vaultlink.dns.resolve import CompiledView
from vaultlink.fabric.view import NetworkView, VnetView
from vaultlink.prefixes import PrefixIndex, parse_address

ENTRIES = [
    ("", "127.10.0.0/16", "vnet-a"),
    ("", "127.10.5.0/24", "vnet-b"),
    ("", "fd00:10::/48", "vnet-v6"),
    ("tenant-2", "127.10.0.0/16", "vnet-t2"),  # the same space, another routing domain
]


@pytest.mark.parametrize(
    "address, domain, expected",
    [
        ("127.10.5.9", "", "vnet-b"),  # the /24 wins over the /16
        ("127.10.6.9", "", "vnet-a"),
        ("::ffff:127.10.5.9", "", "vnet-b"),  # what a dual-stack socket reports
        ("fd00:10::5", "", "vnet-v6"),
        ("fe80::1%eth0", "", None),  # a zone suffix is ignored; not in any space
        ("127.0.0.1", "", None),  # the internet
        ("not-an-ip", "", None),
        ("", "", None),
        ("127.10.5.9", "tenant-2", "vnet-t2"),  # same address, the other tenant's network
        ("127.20.0.1", "tenant-2", None),
        ("127.10.5.9", "nobody", None),
    ],
)
def test_lookup(address: str, domain: str, expected: str | None) -> None:
    assert PrefixIndex.build(ENTRIES).lookup(address, domain) == expected


def test_parse_address() -> None:
    assert parse_address("::ffff:10.0.0.1") == ipaddress.IPv4Address("10.0.0.1")
    assert parse_address("fe80::1%eth0") == ipaddress.IPv6Address("fe80::1")
    assert parse_address("999.1.1.1") is None


def test_fabric_and_dns_agree_on_every_address() -> None:
    spaces = {"vnet-a": ("127.10.0.0/16",), "vnet-b": ("127.10.5.0/24", "127.30.0.0/16"), "vnet-c": ("127.31.0.0/24",)}
    fabric = NetworkView(vnets={
        vid: VnetView(vid, "111111111111", "local-1", tuple(ipaddress.ip_network(c) for c in cidrs), frozenset())
        for vid, cidrs in spaces.items()
    })
    dns = CompiledView(DnsView(domain="vaultlink.internal", vnets=tuple(Vnet.create(v, c) for v, c in spaces.items()),
                               zones=(), public_address="127.0.0.1"))
    probes = ["127.10.5.1", "127.10.4.1", "127.30.9.9", "127.31.0.200", "127.31.1.1", "::ffff:127.10.5.1",
              "::ffff:127.31.0.7", "127.0.0.1", "10.0.0.1", "bogus", "::1"]
    for ip in probes:
        vnet = fabric.classify(ip)
        assert (vnet.id if vnet else None) == dns.classify(ip), ip
