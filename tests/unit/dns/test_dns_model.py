from __future__ import annotations

import pytest

from vaultlink.dns.model import (
    DnsView,
    PrivateZone,
    PublicRecord,
    Vnet,
    VnetLink,
    make_record_set,
    service_endpoint_zone,
)
from vaultlink.errors import (
    CnameConflict,
    InvalidCidr,
    InvalidRecord,
    RecordOutsideZone,
    ZoneLinkConflict,
)

Z = "privatelink.blob.vaultlink.internal"


def test_record_names_relative_apex_and_absolute() -> None:
    assert make_record_set(Z, "acct1", "A", ["127.10.1.4"]).name == f"acct1.{Z}"
    assert make_record_set(Z, "@", "TXT", ["hi"]).name == Z
    assert make_record_set(Z, f"Acct1.{Z}.", "A", ["127.10.1.4"]).name == f"acct1.{Z}"
    rs = make_record_set(Z, "a", "AAAA", ["FD00::0001", "fd00::1"], ttl=30)
    assert rs.values == ("fd00::1",) and rs.ttl == 30


@pytest.mark.parametrize(
    ("name", "rtype", "values", "ttl", "error", "words"),
    [
        ("a", "A", ["300.1.1.1"], 10, InvalidRecord, "not an IPv4 address"),
        ("a", "AAAA", ["127.0.0.1"], 10, InvalidRecord, "not an IPv6 address"),
        ("a", "CNAME", ["x..y"], 10, InvalidRecord, "not a valid DNS name"),
        ("a", "CNAME", ["x.y", "z.y"], 10, InvalidRecord, "exactly one"),
        ("a", "MX", ["x.y"], 10, InvalidRecord, "type must be one of"),
        ("a", "A", [], 10, InvalidRecord, "at least one value"),
        ("a", "A", ["127.0.0.1"], -1, InvalidRecord, "TTL"),
        ("a", "TXT", ["x" * 256], 10, InvalidRecord, "255 bytes"),
        ("bad name", "A", ["127.0.0.1"], 10, InvalidRecord, "not a valid DNS name"),
        ("acct1.blob.vaultlink.internal.", "A", ["127.0.0.1"], 10, RecordOutsideZone, "not inside zone"),
        ("@", "CNAME", ["x.y"], 10, CnameConflict, "apex"),
    ],
)
def test_bad_records_get_clear_errors(
    name: str, rtype: str, values: list[str], ttl: int, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as err:
        make_record_set(Z, name, rtype, values, ttl)
    assert words in str(err.value)


def test_cname_beside_other_data_is_refused() -> None:
    with pytest.raises(CnameConflict, match="alone"):
        PrivateZone.create(
            Z, [make_record_set(Z, "a", "A", ["127.10.1.4"]), make_record_set(Z, "a", "CNAME", ["b.example"])]
        )


def test_duplicate_record_sets_and_outside_records() -> None:
    a = make_record_set(Z, "a", "A", ["127.10.1.4"])
    with pytest.raises(InvalidRecord, match="merge"):
        PrivateZone.create(Z, [a, a])
    other = make_record_set("privatelink.queue.vaultlink.internal", "a", "A", ["127.10.1.4"])
    with pytest.raises(RecordOutsideZone):
        PrivateZone.create(Z, [other])


def test_zone_keeps_soa_and_ns() -> None:
    zone = PrivateZone.create(Z, domain="corp.example")
    assert zone.soa.mname == "ns1.corp.example" and zone.ns == ("ns1.corp.example",)
    assert zone.soa.minimum == 10


def test_link_conflicts() -> None:
    with pytest.raises(ZoneLinkConflict):
        PrivateZone.create(Z, links=[VnetLink("v1"), VnetLink("v1", True)])
    z1 = PrivateZone.create(Z, links=[VnetLink("v1")])
    z2 = PrivateZone.create(Z, links=[VnetLink("v1")])
    with pytest.raises(ZoneLinkConflict, match="two zones"):
        DnsView.create(public_address="127.0.0.1", zones=[z1, z2])


def test_view_validation() -> None:
    with pytest.raises(InvalidCidr):
        Vnet.create("v", ["127.10.0.0/33"])
    with pytest.raises(InvalidRecord):
        DnsView.create(public_address="not-an-ip")
    with pytest.raises(RecordOutsideZone):
        DnsView.create(
            public_address="127.0.0.1", public_names={"a.example.com": "a.privatelink.example.com"}
        )
    with pytest.raises(CnameConflict):
        DnsView.create(
            public_address="127.0.0.1",
            public_names={"a.blob.vaultlink.internal": "a.privatelink.blob.vaultlink.internal"},
            public_records=[PublicRecord("a.blob.vaultlink.internal", "A", 10, ("127.0.0.1",))],
        )


def test_service_endpoint_zone_is_service_managed_with_fallback() -> None:
    zone = service_endpoint_zone("backup.local-1.vaultlink.internal", "vnet3", ["127.30.1.4", "fd00::4"])
    assert zone.service_managed
    assert zone.links == (VnetLink("vnet3", fallback_to_public=True),)
    assert {rs.rtype for rs in zone.records} == {"A", "AAAA"}
