"""Vnet address rules (pure) and source classification."""

from __future__ import annotations

import pytest

from vaultlink.domain import networks as net
from vaultlink.errors import (
    CidrOutOfRange,
    CidrOverlap,
    InvalidCidr,
    SubnetFull,
    SubnetOutsideVnet,
    SubnetTooSmall,
)
from vaultlink.prefixes import PrefixIndex


@pytest.mark.parametrize("cidr", ["127.10.0.0/16", "127.1.0.0/16", "127.255.255.248/29", "127.128.0.0/9"])
def test_loopback_address_spaces_accepted(cidr: str) -> None:
    assert net.check_address_space(cidr) == cidr


@pytest.mark.parametrize("cidr", ["127.0.0.0/8", "127.0.5.0/24", "10.0.0.0/16", "128.0.0.0/16", "127.0.0.0/15"])
def test_out_of_range_address_spaces_refused(cidr: str) -> None:
    with pytest.raises(CidrOutOfRange) as ei:
        net.check_address_space(cidr)
    assert "127.0.0.0/16" in ei.value.message


def test_bad_cidrs_and_host_bits() -> None:
    with pytest.raises(InvalidCidr):
        net.parse_cidr("127.10.0.0")
    with pytest.raises(InvalidCidr):
        net.parse_cidr("127.300.0.0/16")
    with pytest.raises(InvalidCidr) as ei:
        net.parse_cidr("127.10.1.1/16")
    assert "127.10.0.0/16" in ei.value.message


def test_address_spaces_overlap_each_other_and_other_vnets() -> None:
    with pytest.raises(CidrOverlap):
        net.check_address_spaces(["127.10.0.0/16", "127.10.4.0/24"])
    with pytest.raises(CidrOverlap) as ei:
        net.check_address_spaces(["127.11.0.0/16"], [("other", "127.11.128.0/17")])
    assert "other" in ei.value.message
    assert net.check_address_spaces(["127.12.0.0/16", "127.13.0.0/24"], [("other", "127.11.0.0/16")]) == [
        "127.12.0.0/16",
        "127.13.0.0/24",
    ]


def test_subnets_inside_vnet_and_never_overlapping() -> None:
    spaces = ["127.10.0.0/16"]
    a = net.new_subnet("a", net.check_subnet("127.10.1.0/24", spaces, []))
    with pytest.raises(SubnetOutsideVnet):
        net.check_subnet("127.11.1.0/24", spaces, [a])
    with pytest.raises(CidrOverlap) as ei:
        net.check_subnet("127.10.1.128/25", spaces, [a])
    assert "a" in ei.value.message
    with pytest.raises(SubnetTooSmall):
        net.check_subnet("127.10.2.0/30", spaces, [a])
    assert net.check_subnet("127.10.2.0/29", spaces, [a]) == "127.10.2.0/29"
    # the edges: a range that ends where another begins is free; one that contains another, or its last
    # address, overlaps
    b = net.new_subnet("b", net.check_subnet("127.10.0.0/24", spaces, [a]))
    assert net.check_subnet("127.10.2.0/24", spaces, [a, b]) == "127.10.2.0/24"
    for taken in ("127.10.0.0/22", "127.10.1.240/28", "127.10.0.0/16"):
        with pytest.raises(CidrOverlap):
            net.check_subnet(taken, spaces, [a, b])


def test_reserved_addresses_and_allocation_order() -> None:
    s = net.new_subnet("s", "127.10.1.0/29")
    assert net.reserved_addresses("127.10.1.0/29") == [
        "127.10.1.0",
        "127.10.1.1",
        "127.10.1.2",
        "127.10.1.3",
        "127.10.1.7",
    ]
    assert net.capacity(s) == 3
    a = net.AddressMap()
    assert net.allocate(s, a, "pe-a", 2) == ["127.10.1.4", "127.10.1.5"]
    with pytest.raises(SubnetFull):
        net.allocate(s, a, "pe-b", 2)
    assert net.free_count(s, len(a)) == 1, "a refused allocation changes nothing"
    assert net.allocate(s, a, "pe-b", 1) == ["127.10.1.6"]
    with pytest.raises(SubnetFull):
        net.allocate(s, a, "pe-c", 1)
    assert net.release(a, ["127.10.1.4", "127.10.1.6"], owner="pe-a") == 1, "another's address is not freed"
    assert net.release(a, ["127.10.1.5"]) == 1
    assert net.allocate(s, a, "pe-c", 1) == ["127.10.1.4"], "freed addresses are reused lowest first"
    view = net.subnet_view(s, a)
    assert view["allocated"] == 2 and view["free"] == 1
    assert list(view["allocations"]) == ["127.10.1.4", "127.10.1.6"]


def test_allocation_starts_where_the_subnet_may_be_free() -> None:
    """Every create allocates: it starts at the subnet's first address that may be free instead of walking
    every allocation (issue #13), and stays lowest-first through releases and records written before it."""
    s = net.new_subnet("s", "127.10.0.0/20")
    a = net.AddressMap()
    first = [net.allocate(s, a, f"pe-{i}", 1)[0] for i in range(500)]
    assert first[0] == "127.10.0.4" and first[-1] == "127.10.1.247" and a.free_from == 0x7F0A01F8
    net.release(a, ["127.10.0.9", "127.10.1.0"])
    assert net.allocate(s, a, "pe-x", 2) == ["127.10.0.9", "127.10.1.0"]
    assert net.allocate(s, a, "pe-y", 1) == ["127.10.1.248"]
    old = net.AddressMap({"127.10.0.4": "pe-1", "127.10.0.6": "pe-2"})
    assert net.allocate(s, old, "pe-3", 2) == ["127.10.0.5", "127.10.0.7"]  # no hint yet: from the start
    wrong = net.AddressMap({"127.10.0.4": "pe-1", "127.10.0.6": "pe-2"})
    wrong.free_from = 0x7F0A0FFE  # a hint that lies (edited by hand): the walk starts again
    assert net.allocate(s, wrong, "pe-4", 2) == ["127.10.15.254", "127.10.0.5"]


def test_longest_prefix_classification() -> None:
    spaces = [("vnet-big", "127.64.0.0/10"), ("vnet-small", "127.65.1.0/24"), ("vnet-b", "127.20.0.0/16")]
    index = PrefixIndex.build(("", cidr, vid) for vid, cidr in spaces)
    assert index.lookup("127.65.1.9") == "vnet-small"
    assert index.lookup("127.65.2.9") == "vnet-big"
    assert index.lookup("127.20.255.255") == "vnet-b"
    assert index.lookup("127.0.0.1") is None, "127.0.0.0/16 is the internet"
    assert index.lookup("not-an-ip") is None
    assert net.spaces_overlap(["127.64.0.0/10"], ["127.65.1.0/24"]) == ("127.64.0.0/10", "127.65.1.0/24")
    assert net.spaces_overlap(["127.20.0.0/16"], ["127.21.0.0/16"]) is None
