"""Which endpoint's IP a shared privatelink name gets."""

from __future__ import annotations

from typing import Any

from vaultlink.service.dns_auto import wanted

FQDN = "vabc.privatelink.l1.backup.vaultlink.internal"
ZONE = "privatelink.l1.backup.vaultlink.internal"


def ep(eid: str, ip: str, status: str, vnet: str = "vnet-a") -> dict[str, Any]:
    return {"id": eid, "kind": "resource", "dns_integration": True, "account_id": "111111111111",
            "vnet_id": vnet, "connection": {"status": status},
            "ip_configs": [{"fqdn": FQDN, "zone": ZONE, "ip": ip, "purpose": "backup"}]}


def served(endpoints: list[dict[str, Any]]) -> str:
    records, _ = wanted(endpoints, "vaultlink.internal")
    return records[("111111111111", ZONE)][FQDN][0]


def test_newer_approved_endpoint_wins() -> None:
    assert served([ep("pe-1", "127.10.1.4", "Approved"), ep("pe-2", "127.11.1.4", "Approved", "vnet-b")]) \
        == "127.11.1.4"


def test_an_unapproved_endpoint_never_takes_a_name_from_an_approved_one() -> None:
    for status in ("Pending", "Rejected", "Disconnected"):
        assert served([ep("pe-1", "127.10.1.4", "Approved"), ep("pe-2", "127.11.1.4", status, "vnet-b")]) \
            == "127.10.1.4"


def test_an_unapproved_endpoint_alone_still_gets_its_records() -> None:
    assert served([ep("pe-2", "127.11.1.4", "Pending", "vnet-b")]) == "127.11.1.4"
