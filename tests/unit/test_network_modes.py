"""The pure rules behind host and netns modes: address ranges per mode, routing domains, peers across
domains, and endpoint and source lookups keyed by the domain a packet arrived in."""

from __future__ import annotations

import ipaddress

import pytest
from dnslib import DNSRecord

from vaultlink.config import load_config
from vaultlink.dns.model import DnsView, PrivateZone, Vnet, VnetLink, make_record_set
from vaultlink.dns.responder import Responder
from vaultlink.domain import networks as net
from vaultlink.errors import CidrOutOfRange, CidrOverlap, InvalidInput
from vaultlink.fabric.view import EndpointView, NetworkView, VnetView
from vaultlink.prefixes import PrefixIndex, vnet_entries


@pytest.mark.parametrize("mode", ["host", "netns"])
def test_real_modes_take_real_ranges_and_refuse_loopback(mode: str) -> None:
    assert net.check_address_space("10.0.0.0/16", mode) == "10.0.0.0/16"
    assert net.check_address_space("192.168.4.0/24", mode) == "192.168.4.0/24"
    for bad in ("127.10.0.0/16", "0.0.0.0/8", "224.0.0.0/24"):
        with pytest.raises(CidrOutOfRange):
            net.check_address_space(bad, mode)
    with pytest.raises(CidrOutOfRange):
        net.check_address_space("10.0.0.0/16", "loopback")


def test_netns_keeps_the_transit_range_for_its_internet_links() -> None:
    assert net.check_address_space("100.64.0.0/10", "host") == "100.64.0.0/10"
    with pytest.raises(CidrOutOfRange) as exc:
        net.check_address_space("100.64.8.0/24", "netns")
    assert "internet namespace" in exc.value.message


def test_host_mode_is_one_plane_netns_checks_only_what_it_is_given() -> None:
    with pytest.raises(CidrOverlap):
        net.check_address_spaces(["10.0.0.0/16"], [(None, "10.0.0.0/8")], "host")
    # the service passes netns mode only the vnet's peers: with none, any range is free
    assert net.check_address_spaces(["10.0.0.0/16"], [], "netns") == ["10.0.0.0/16"]


def test_host_networks_bound_what_tenants_may_claim() -> None:
    allowed = "10.10.0.0/16, 192.168.7.0/24"
    assert net.check_address_space("10.10.4.0/24", "host", allowed=allowed) == "10.10.4.0/24"
    with pytest.raises(CidrOutOfRange) as exc:
        net.check_address_space("10.20.0.0/16", "host", allowed=allowed)
    assert "host_networks" in exc.value.message
    with pytest.raises(InvalidInput):
        load_config(host_networks="10.0.0.0/33")


def test_routing_domains_and_service_addresses() -> None:
    assert net.routing_domain("loopback", "vnet-a") == "" == net.routing_domain("host", "vnet-a")
    assert net.routing_domain("netns", "vnet-a") == "vnet-a"
    assert net.vnet_service_addresses(["10.0.0.0/16", "10.9.0.0/16"]) == ("10.0.0.1", "10.0.0.2")
    # endpoint allocation never hands them out: a subnet at the base reserves its first four addresses
    assert {"10.0.0.1", "10.0.0.2"} <= set(net.reserved_addresses("10.0.0.0/24"))


def test_peers_in_other_domains_are_found_in_this_one() -> None:
    idx = PrefixIndex.build(vnet_entries([
        ("a", "a", ["10.0.0.0/16"], ["b"]),
        ("b", "b", ["10.1.0.0/16"], ["a"]),
        ("c", "c", ["10.0.0.0/16"], []),  # the same range as a, another tenant's namespace
    ]))
    assert idx.lookup("10.0.0.1", "a") == "a"
    assert idx.lookup("10.1.0.1", "a") == "b", "b's packets arrive in a's namespace over the peering link"
    assert idx.lookup("10.0.0.1", "c") == "c"
    assert idx.lookup("10.1.0.1", "c") is None, "c is not peered with b"
    assert idx.lookup("10.0.0.1", "") is None
    # one domain (loopback, host): no extra entries
    flat = list(vnet_entries([("a", "", ["10.0.0.0/16"], ["b"]), ("b", "", ["10.1.0.0/16"], ["a"])]))
    assert sorted(flat) == [("", "10.0.0.0/16", "a"), ("", "10.1.0.0/16", "b")]


def _ep(eid: str, vnet: str, ip: str, domain: str) -> EndpointView:
    return EndpointView(eid, "1", "resource", "v", "AzureBackup", None, "r", vnet, frozenset({ip}), "Approved", (),
                        None, domain=domain)


def test_the_same_endpoint_ip_in_two_namespaces_is_two_endpoints() -> None:
    space = (ipaddress.ip_network("10.0.0.0/16"),)
    view = NetworkView(
        vnets={"a": VnetView("a", "1", "r", space, frozenset(), "a"),
               "b": VnetView("b", "2", "r", space, frozenset(), "b")},
        endpoints={"pa": _ep("pa", "a", "10.0.1.4", "a"), "pb": _ep("pb", "b", "10.0.1.4", "b")},
    )
    endpoint_a, endpoint_b = view.endpoint_at("10.0.1.4", "a"), view.endpoint_at("10.0.1.4", "b")
    assert endpoint_a is not None and endpoint_a.id == "pa"
    assert endpoint_b is not None and endpoint_b.id == "pb"
    assert view.endpoint_at("10.0.1.4") is None, "nothing in the service's own namespace"
    vnet_a, vnet_b = view.classify("10.0.0.1", "a"), view.classify("10.0.0.1", "b")
    assert vnet_a is not None and vnet_a.id == "a"
    assert vnet_b is not None and vnet_b.id == "b"
    assert view.classify("10.0.0.1", "@internet") is None


def test_each_vnets_dns_answers_its_own_zone_records() -> None:
    zname = "privatelink.l1.backup.vaultlink.internal"
    zone = PrivateZone.create(zname, [make_record_set(zname, "v1", "A", ["10.0.1.4"], 10)], [VnetLink("a")])
    view = DnsView.create(zones=[zone], vnets=[Vnet.create("a", ["10.0.0.0/16"], "a"),
                                               Vnet.create("b", ["10.0.0.0/16"], "b")],
                          public_address="198.18.0.1")
    responder = Responder(view)
    q = DNSRecord.question(f"v1.{zname}", "A").pack()

    def answers(domain: str) -> list[str]:
        out = responder.in_domain(domain)(bytes(q), "10.0.0.1", "udp")
        assert out is not None
        return [str(rr.rdata) for rr in DNSRecord.parse(out).rr]

    assert answers("a") == ["10.0.1.4"]
    assert answers("b") == [], "the same source address in another namespace is another vnet"


def test_the_fabric_mode_is_checked_at_load() -> None:
    assert load_config(fabric="netns").fabric == "netns"
    with pytest.raises(InvalidInput):
        load_config(fabric="vpn")
    with pytest.raises(InvalidInput):
        load_config(netns_prefix="much-too-long")
    for bad in ("127.0.0.9", "not-an-address", "0.0.0.0"):
        with pytest.raises(InvalidInput):
            load_config(netns_public_address=bad)
