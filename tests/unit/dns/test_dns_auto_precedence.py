"""Which endpoint's IP a shared privatelink name gets."""

from __future__ import annotations

from typing import Any

from vaultlink.service.dns_wanted import wanted

FQDN = "vabc.privatelink.l1.backup.vaultlink.internal"
ZONE = "privatelink.l1.backup.vaultlink.internal"


def ep(eid: str, ip: str, status: str, vnet: str = "vnet-a") -> dict[str, Any]:
    return {"id": eid, "kind": "resource", "dns_integration": True, "account_id": "111111111111",
            "vnet_id": vnet, "connection": {"status": status},
            "ip_configs": [{"fqdn": FQDN, "zone": ZONE, "ip": ip, "purpose": "backup"}]}


PEERED = {"vnet-a": {"vnet-b"}, "vnet-b": {"vnet-a"}}


def served(endpoints: list[dict[str, Any]], peers: dict[str, set[str]] | None = None) -> str:
    records, _ = wanted(endpoints, "vaultlink.internal", peers if peers is not None else PEERED)
    return records[("111111111111", "", ZONE)][FQDN][0]


def test_newer_approved_endpoint_wins() -> None:
    assert served([ep("pe-1", "127.10.1.4", "Approved"), ep("pe-2", "127.11.1.4", "Approved", "vnet-b")]) \
        == "127.11.1.4"


def test_an_unapproved_endpoint_never_takes_a_name_from_an_approved_one() -> None:
    for status in ("Pending", "Rejected", "Disconnected"):
        assert served([ep("pe-1", "127.10.1.4", "Approved"), ep("pe-2", "127.11.1.4", status, "vnet-b")]) \
            == "127.10.1.4"


def test_unpeered_vnets_get_a_zone_instance_each() -> None:
    """The first-hour issue: a newer endpoint in a vnet that is not peered never takes the name from the
    vnets that cannot reach it; it gets its own zone instance, linked to its vnet only."""
    records, links = wanted(
        [ep("pe-1", "127.10.1.4", "Approved"), ep("pe-2", "127.11.1.4", "Approved", "vnet-b")],
        "vaultlink.internal", {}, [], {"vnet-b": {"id": "vnet-b", "name": "net-b"}},
    )
    default, own = ("111111111111", "", ZONE), ("111111111111", "vnet-net-b", ZONE)
    assert records[default][FQDN][0] == "127.10.1.4" and links[default] == {"vnet-a": "pe-1"}
    assert records[own][FQDN][0] == "127.11.1.4" and links[own] == {"vnet-b": "pe-2"}


def test_an_unapproved_endpoint_alone_still_gets_its_records() -> None:
    assert served([ep("pe-2", "127.11.1.4", "Pending", "vnet-b")]) == "127.11.1.4"


def test_an_endpoint_approved_after_its_vnet_was_linked_moves_to_an_instance_of_its_own() -> None:
    """Found by the console's story: a second principal's endpoint in an unpeered vnet is created Pending, so
    its vnet is linked (automatically) to the default instance; once approved it must not take the name from
    the vnet that cannot reach it. Its vnet moves to an instance of its own; the older vnet keeps its answer.
    A link the user made stays where the user put it."""
    zone = {"id": "z1", "account_id": "111111111111", "parent_id": "", "name": ZONE, "created": 1,
            "links": [{"name": "a-auto", "vnet_id": "vnet-a", "managed_by": "pe-1"},
                      {"name": "b-auto", "vnet_id": "vnet-b", "managed_by": "pe-2"}], "records": []}
    eps = [{**ep("pe-1", "127.10.1.4", "Approved"), "created": 1},
           {**ep("pe-2", "127.11.1.4", "Approved", "vnet-b"), "created": 2}]
    records, links = wanted(eps, "vaultlink.internal", {}, [zone], {"vnet-b": {"id": "vnet-b", "name": "net-b"}})
    default, own = ("111111111111", "", ZONE), ("111111111111", "vnet-net-b", ZONE)
    assert records[default][FQDN][0] == "127.10.1.4" and links[default] == {"vnet-a": "pe-1"}
    assert records[own][FQDN][0] == "127.11.1.4" and links[own] == {"vnet-b": "pe-2"}
    # while Pending, it neither moves the approved endpoint's vnet nor takes its name
    pending = [eps[0], {**eps[1], "connection": {"status": "Pending"}}]
    records, links = wanted(pending, "vaultlink.internal", {}, [zone], {})
    assert records[default][FQDN][0] == "127.10.1.4" and set(links) == {default}
    # a link the user made (no managed_by) is kept: the doctor reports the wrong answer instead
    mine = {**zone, "links": [zone["links"][0], {"name": "b", "vnet_id": "vnet-b", "managed_by": None}]}
    records, links = wanted(eps, "vaultlink.internal", {}, [mine], {})
    assert set(links) == {default}
