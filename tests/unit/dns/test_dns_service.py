"""Private DNS handlers over the in-memory store: zones, records, links, automatic records for
endpoints, the view the responder serves, check, doctor and dns-config."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.bootstrap import build_service
from vaultlink.config import Config
from vaultlink.dns import config_text
from vaultlink.dns import names as N
from vaultlink.dns.responder import Responder
from vaultlink.errors import (
    AccessDenied,
    CnameConflict,
    DnsZoneInUse,
    InvalidName,
    InvalidRecord,
    NotFound,
    RecordOutsideZone,
    ZoneLinkConflict,
)
from vaultlink.service import dns, dns_doctor, dns_explain, endpoints, networks, vaults
from vaultlink.service.core import Caller, Service
from vaultlink.service.dns_view import build_dns_view
from vaultlink.service.events import DnsChanged, EndpointsChanged, VaultsChanged
from vaultlink.service.identity import assign_role, authenticate, bootstrap, create_principal

VM = "127.10.1.50"  # inside net1
OUTSIDE = "127.0.0.9"  # the internet
PUBLIC = "127.0.0.1"
BLOB_ZONE = N.blob_privatelink_zone()


@pytest.fixture
def env(tmp_path: Path) -> tuple[Service, Caller]:
    svc = build_service(Config(data_dir=tmp_path), store=MemoryStore())
    boot = bootstrap(svc)
    assert boot is not None
    return svc, authenticate(svc, boot[1])


def world(svc: Service, owner: Caller) -> dict[str, Any]:
    v = vaults.create_vault(svc, owner, "v1", "local-1")
    n = networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    return {"vault": v, "vnet": n}


def endpoint(svc: Service, owner: Caller, **kw: Any) -> dict[str, Any]:
    b = {"name": "pe1", "region": "local-1", "vault": "v1", "group_id": "AzureBackup", "vnet": "net1", "subnet": "s"}
    b.update(kw)
    return endpoints.create_endpoint(svc, owner, b)


def add_storage_account(svc: Service, vault_id: str, name: str) -> None:
    with svc.store.transaction() as txn:
        vault = txn.require("vault", vault_id)
        vault["storage_accounts"].append(name)
        endpoints.add_storage_account(txn, svc, vault, name)
        txn.update("vault", vault_id, vault)
    svc.fire(VaultsChanged())  # the automatic records follow a vaults event as well as an endpoints one


def answer(svc: Service, name: str, source: str) -> list[str]:
    res = Responder(build_dns_view(svc)).resolve(name, 1, source)
    return [str(rr.rdata).rstrip(".") for rr in res.answer]


def zone_rec(svc: Service, name: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        return copy.deepcopy(txn.find("dns_zone", name=name)[0])


def test_zone_record_link_lifecycle_and_bad_input_leaves_zone_untouched(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    world(svc, owner)
    fired: list[int] = []
    svc.on(DnsChanged, lambda _e: fired.append(1))
    z = dns.create_zone(svc, owner, "corp.example.")
    assert z["name"] == "corp.example" and z["record_sets"] == 2 and fired == [1]
    r = dns.set_record(svc, owner, "corp.example", "app", "a", ["127.10.1.9"], 60)
    assert (r["fqdn"], r["type"], r["values"]) == ("app.corp.example", "A", ["127.10.1.9"])
    dns.set_record(svc, owner, "corp.example", "www", "CNAME", ["app.corp.example."])
    before = zone_rec(svc, "corp.example")
    bad = [
        (InvalidRecord, lambda: dns.set_record(svc, owner, "corp.example", "x", "A", ["999.1.1.1"])),
        (InvalidRecord, lambda: dns.set_record(svc, owner, "corp.example", "x", "MX", ["a."])),
        (InvalidRecord, lambda: dns.set_record(svc, owner, "corp.example", "x", "A", ["127.1.1.1"], -1)),
        (InvalidRecord, lambda: dns.set_record(svc, owner, "corp.example", "bad name!", "A", ["127.1.1.1"])),
        (RecordOutsideZone, lambda: dns.set_record(svc, owner, "corp.example", "x.other.org.", "A", ["127.1.1.1"])),
        (CnameConflict, lambda: dns.set_record(svc, owner, "corp.example", "app", "CNAME", ["x.corp.example"])),
        (CnameConflict, lambda: dns.set_record(svc, owner, "corp.example", "www", "TXT", ["hi"])),
        (CnameConflict, lambda: dns.set_record(svc, owner, "corp.example", "@", "CNAME", ["x.corp.example"])),
        (NotFound, lambda: dns.delete_record(svc, owner, "corp.example", "nope", "A")),
        (InvalidRecord, lambda: dns.delete_record(svc, owner, "corp.example", "@", "SOA")),
    ]
    for err, fn in bad:
        with pytest.raises(err):
            fn()
    assert zone_rec(svc, "corp.example") == before
    for name in ("bad_zone name", "single", ""):
        with pytest.raises(InvalidName if name != "single" else InvalidRecord):
            dns.create_zone(svc, owner, name)
    with pytest.raises(Exception, match="already exists"):
        dns.create_zone(svc, owner, "CORP.example")
    # SOA and NS are listed and kept by the zone; the serial moves on every change
    listed = dns.list_records(svc, owner, "corp.example")
    assert [x["type"] for x in listed[:2]] == ["SOA", "NS"] and len(listed) == 4
    # links: the vnet sees the zone; a second link to the same vnet is refused
    link = dns.add_link(svc, owner, "corp.example", "net1", fallback_to_public=True)
    assert link["vnet_name"] == "net1" and link["name"] == "net1-link"
    with pytest.raises(ZoneLinkConflict):
        dns.add_link(svc, owner, "corp.example", "net1")
    assert answer(svc, "www.corp.example", VM) == ["app.corp.example", "127.10.1.9"]
    assert Responder(build_dns_view(svc)).resolve("www.corp.example", 1, OUTSIDE).rcode == 5  # REFUSED
    with pytest.raises(DnsZoneInUse):
        dns.delete_zone(svc, owner, "corp.example")
    dns.remove_link(svc, owner, "corp.example", "net1")  # by vnet name
    dns.delete_record(svc, owner, "corp.example", "www", "cname")
    assert dns.delete_zone(svc, owner, "corp.example")["deleted"] is True
    assert dns.list_zones(svc, owner) == []


def test_roles_reader_reads_network_contributor_on_vnet_cannot_write_zones(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    w = world(svc, owner)
    dns.create_zone(svc, owner, "corp.example")

    def principal(name: str, role: str, scope: str) -> Caller:
        p = create_principal(svc, owner, name)
        assign_role(svc, owner, name, role, scope)
        return authenticate(svc, p["api_key"])

    acct = f"/accounts/{owner.account_id}"
    reader = principal("reader", "Reader", acct)
    assert [z["name"] for z in dns.list_zones(svc, reader)] == ["corp.example"]
    with pytest.raises(AccessDenied):
        dns.create_zone(svc, reader, "other.example")
    with pytest.raises(AccessDenied):
        dns.set_record(svc, reader, "corp.example", "a", "A", ["127.1.1.1"])
    netc = principal("netc", "Network Contributor", f"{acct}/vnets/{w['vnet']['id']}")
    with pytest.raises(AccessDenied):
        dns.add_link(svc, netc, "corp.example", "net1")


def test_endpoint_with_dns_integration_gets_zones_records_and_link(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    w = world(svc, owner)
    vid = w["vault"]["id"]
    public_name, pl_name = N.vault_public_name(vid, "l1"), N.vault_privatelink_name(vid, "l1")
    assert answer(svc, public_name, VM) == [pl_name, PUBLIC], "no endpoint yet: public everywhere"
    ep = endpoint(svc, owner)
    ip = ep["ip_configs"][0]["ip"]
    vz = N.vault_privatelink_zone("l1")
    z = zone_rec(svc, vz)
    assert z["auto_created"] and [(r["name"], r["values"], r["managed_by"]) for r in z["records"]] == [
        (pl_name, [ip], ep["id"])
    ]
    assert [(lk["vnet_id"], lk["managed_by"]) for lk in z["links"]] == [(w["vnet"]["id"], ep["id"])]
    assert answer(svc, public_name, VM) == [pl_name, ip]
    assert answer(svc, public_name, OUTSIDE) == [pl_name, PUBLIC]
    # the vault gains storage accounts: blob and queue zones and records follow
    add_storage_account(svc, vid, "sa1")
    cfgs = {c["purpose"]: c["ip"] for c in endpoints.get_endpoint(svc, owner, "pe1")["ip_configs"]}
    assert answer(svc, N.blob_public_name("sa1"), VM) == [N.blob_privatelink_name("sa1"), cfgs["blob"]]
    assert answer(svc, N.queue_public_name("sa1"), VM) == [N.queue_privatelink_name("sa1"), cfgs["queue"]]
    assert answer(svc, N.blob_public_name("sa1"), OUTSIDE)[-1] == PUBLIC
    assert dns_doctor.doctor(svc, owner, "v1")["ok"] is True
    # automatic changes are audited
    svc.audit.flush()
    events = svc.store.query_audit({"action": "dns.auto"})
    assert events and all(e["principal"] == "vaultlink:dns-integration" for e in events)
    # the endpoint goes: its records and the links made for it go; the zones stay
    endpoints.delete_endpoint(svc, owner, "pe1")
    for zone in (vz, BLOB_ZONE, N.queue_privatelink_zone()):
        z = zone_rec(svc, zone)
        assert z["records"] == [] and z["links"] == []
    assert answer(svc, public_name, VM) == [pl_name, PUBLIC]


def test_user_record_wins_and_newer_endpoint_wins_a_shared_name(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    w = world(svc, owner)
    networks.create_vnet(svc, owner, "net2", "local-1", ["127.20.0.0/16"], [{"name": "s", "cidr": "127.20.1.0/24"}])
    pl_name = N.vault_privatelink_name(w["vault"]["id"], "l1")
    vz = N.vault_privatelink_zone("l1")
    networks.peer(svc, owner, "net1", "net2")  # both vnets reach both endpoints: one instance, newer wins
    ep1 = endpoint(svc, owner)
    ep2 = endpoint(svc, owner, name="pe2", vnet="net2")
    ip1, ip2 = ep1["ip_configs"][0]["ip"], ep2["ip_configs"][0]["ip"]
    assert answer(svc, pl_name, VM) == [ip2] and answer(svc, pl_name, "127.20.1.50") == [ip2]
    assert len(zone_rec(svc, vz)["links"]) == 2
    endpoints.delete_endpoint(svc, owner, "pe2")
    assert answer(svc, pl_name, VM) == [ip1], "the older endpoint's record returns"
    # a record set you write yourself is yours: the endpoint no longer updates it
    rel = pl_name[: -len(vz) - 1]
    dns.set_record(svc, owner, vz, rel, "A", ["127.10.1.77"])
    svc.fire(EndpointsChanged())
    assert answer(svc, pl_name, VM) == ["127.10.1.77"]
    doc = dns_doctor.doctor(svc, owner, "v1")
    assert [p["problem"] for p in doc["problems"]] == ["record-wrong", "peer-link-missing"]
    assert doc["problems"][0]["fix"] == f"vaultlink dns record set {vz} {rel} A {ip1}"


def test_without_integration_doctor_lists_fixes_and_check_explains(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    w = world(svc, owner)
    networks.create_vnet(svc, owner, "peer", "local-1", ["127.30.0.0/16"], [{"name": "s", "cidr": "127.30.1.0/24"}])
    networks.peer(svc, owner, "net1", "peer")
    ep = endpoint(svc, owner, dns_integration=False)
    ip = ep["ip_configs"][0]["ip"]
    assert dns.list_zones(svc, owner) == []
    vid = w["vault"]["id"]
    vz = N.vault_privatelink_zone("l1")
    doc = dns_doctor.doctor(svc, owner, "v1")
    assert [(p["problem"], p["fix"]) for p in doc["problems"]] == [
        ("zone-missing", f"vaultlink dns zone create {vz}"),
        ("link-missing", f"vaultlink dns link add {vz} --vnet net1"),
        ("record-missing", f"vaultlink dns record set {vz} {vid} A {ip}"),
        ("peer-link-missing", f"vaultlink dns link add {vz} --vnet peer"),
    ]
    public_name = N.vault_public_name(vid, "l1")
    why = dns_explain.check(svc, owner, VM, public_name)
    assert why["addresses"] == [PUBLIC] and not why["private"]
    # follow the doctor's advice
    dns.create_zone(svc, owner, vz)
    dns.add_link(svc, owner, vz, "net1")
    dns.set_record(svc, owner, vz, vid, "A", [ip])
    dns.add_link(svc, owner, vz, "peer", fallback_to_public=True)
    assert dns_doctor.doctor(svc, owner, "v1")["ok"] is True
    why = dns_explain.check(svc, owner, VM, public_name)
    assert why["addresses"] == [ip] and why["private"] and why["vnet"]["name"] == "net1"
    assert why["steps"][1]["zone"] == vz and why["steps"][1]["link"] == "net1-link"
    out = dns_explain.check(svc, owner, OUTSIDE, public_name)
    assert out["addresses"] == [PUBLIC] and "the internet" in out["steps"][1]["why"]
    v2 = N.vault_public_name(vaults.create_vault(svc, owner, "v2", "local-1")["id"], "l1")
    other = dns_explain.check(svc, owner, "127.30.1.9", v2)  # peer's link falls back to public
    assert other["addresses"] == [PUBLIC] and "falls back to public" in other["steps"][1]["why"]
    assert dns_explain.check(svc, owner, VM, v2)["rcode"] == "NXDOMAIN", "net1's link does not fall back"
    assert dns_explain.check(svc, owner, VM, "example.com")["rcode"] == "REFUSED"


def test_service_endpoint_private_dns_and_dns_config(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    world(svc, owner)
    se = endpoints.create_endpoint(
        svc, owner, {"name": "se1", "region": "local-1", "service": "backup", "vnet": "net1", "subnet": "s"}
    )
    ip = se["ip_configs"][0]["ip"]
    regional = N.regional_service_name("backup", "local-1")
    specific = N.endpoint_service_name(se["id"], "backup", "local-1")
    assert answer(svc, regional, VM) == [ip]
    assert answer(svc, regional, OUTSIDE) == [PUBLIC]
    assert answer(svc, specific, OUTSIDE) == [ip], "endpoint-specific names always resolve"
    assert answer(svc, N.regional_service_name("backup-gateway", "local-1"), VM) == [PUBLIC]
    cfg = dns_explain.dns_config(svc, owner, "se1")
    assert config_text.hosts_text(cfg).splitlines() == [f"{ip} {regional}", f"{ip} {specific}"]
    assert "forward the whole service domain" in cfg["note"]


def test_dns_config_formats_for_resource_endpoint(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    w = world(svc, owner)
    add_storage_account(svc, w["vault"]["id"], "sa1")
    ep = endpoint(svc, owner, dns_integration=False)
    cfg = dns_explain.dns_config(svc, owner, ep["id"])
    assert [r["purpose"] for r in cfg["records"]] == ["backup", "blob", "queue"]
    hosts = config_text.hosts_text(cfg).splitlines()
    assert hosts == [f"{r['ip']} {n}" for r in cfg["records"] for n in (r["public_name"], r["fqdn"])]
    zone_file = config_text.zone_text(cfg)
    assert f"$ORIGIN {BLOB_ZONE}." in zone_file and f"sa1\t10\tIN\tA\t{cfg['records'][1]['ip']}" in zone_file


def test_doctor_flags_storage_accounts_without_endpoint_ips_and_sync_fixes_them(
    env: tuple[Service, Caller],
) -> None:
    from vaultlink.errors import SubnetFull
    from vaultlink.service import endpoint_settings

    svc, owner = env
    v = vaults.create_vault(svc, owner, "v1", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/29"}])
    vaults.create_vault(svc, owner, "v2", "local-1")
    endpoint(svc, owner)  # 1 of the 3 usable addresses
    filler = endpoint(svc, owner, name="filler", vault="v2")  # 2 of 3
    assert dns_doctor.doctor(svc, owner, "v1")["ok"] is True
    with svc.store.transaction() as txn:  # the vault gained an account its endpoints hold no IPs for
        vault = txn.require("vault", v["id"])
        vault["storage_accounts"] = ["sa1"]
        txn.update("vault", v["id"], vault)
    svc.fire(VaultsChanged())
    doc = dns_doctor.doctor(svc, owner, "v1")
    storage = [p for p in doc["problems"] if p["problem"] == "storage-ip-missing"]
    assert doc["ok"] is False and [(p["endpoint"], p["storage_account"], p["missing"]) for p in storage] == [
        ("pe1", "sa1", ["blob", "queue"])
    ]
    first = storage[0]
    assert first["fix"] == "vaultlink endpoint sync pe1"
    assert (first["free"], first["needed"]) == (1, 2)
    assert "has 1 free address(es) and the endpoint needs 2: free room first" in first["message"]
    with pytest.raises(SubnetFull):
        endpoint_settings.sync_endpoint(svc, owner, "pe1")
    # follow the advice: free room, then sync
    endpoints.delete_endpoint(svc, owner, filler["id"])
    doc = dns_doctor.doctor(svc, owner, "v1")
    (only,) = [p for p in doc["problems"] if p["problem"] == "storage-ip-missing"]
    assert only["endpoint"] == "pe1" and "has room (2 free)" in only["message"]
    endpoint_settings.sync_endpoint(svc, owner, "pe1")
    doc = dns_doctor.doctor(svc, owner, "v1")
    assert doc["ok"] is True, doc["problems"]  # the automatic records followed the new IPs
    blob_ip = next(c["ip"] for c in endpoints.get_endpoint(svc, owner, "pe1")["ip_configs"] if c["purpose"] == "blob")
    assert answer(svc, N.storage_privatelink_name("sa1", "blob"), VM) == [blob_ip]


def test_two_unpeered_vnets_each_resolve_their_own_endpoint(env: tuple[Service, Caller]) -> None:
    """First-hour issue: a second integrated endpoint of the vault in a vnet that is not peered with the
    first gets a zone instance of its own; neither vnet is handed an IP it cannot reach."""
    svc, owner = env
    w = world(svc, owner)
    networks.create_vnet(svc, owner, "net2", "local-1", ["127.20.0.0/16"], [{"name": "s", "cidr": "127.20.1.0/24"}])
    pl_name = N.vault_privatelink_name(w["vault"]["id"], "l1")
    vz = N.vault_privatelink_zone("l1")
    ep1 = endpoint(svc, owner)
    ep2 = endpoint(svc, owner, name="pe2", vnet="net2")
    ip1, ip2 = ep1["ip_configs"][0]["ip"], ep2["ip_configs"][0]["ip"]
    assert answer(svc, pl_name, VM) == [ip1]
    assert answer(svc, pl_name, "127.20.1.50") == [ip2]
    zones = [z for z in dns.list_zones(svc, owner) if z["name"] == vz]
    assert sorted(z["resource_group"] for z in zones) == ["default", "vnet-net2"]
    assert dns.get_zone(svc, owner, f"vnet-net2:{vz}")["vnet_links"][0]["vnet_name"] == "net2"
    # the doctor finds nothing to fix, so suggests nothing that would break the other vnet
    assert dns_doctor.doctor(svc, owner, "v1")["ok"]
    # deleting the first endpoint leaves the second vnet's answers alone
    endpoints.delete_endpoint(svc, owner, "pe1")
    assert answer(svc, pl_name, "127.20.1.50") == [ip2]
    assert answer(svc, pl_name, VM) != [ip2]


def test_dry_run_names_the_zone_instance_and_warns(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    world(svc, owner)
    networks.create_vnet(svc, owner, "net2", "local-1", ["127.20.0.0/16"], [{"name": "s", "cidr": "127.20.1.0/24"}])
    vz = N.vault_privatelink_zone("l1")
    first = endpoints.create_endpoint(svc, owner, {"name": "pe1", "region": "local-1", "vault": "v1",
                                                   "group_id": "AzureBackup", "vnet": "net1", "subnet": "s"},
                                      dry_run=True)
    assert {"zone": vz, "resource_group": "default", "new_instance": True} in first["dns_zones"]
    assert first["warnings"] == []
    endpoint(svc, owner)
    second = endpoints.create_endpoint(svc, owner, {"name": "pe2", "region": "local-1", "vault": "v1",
                                                    "group_id": "AzureBackup", "vnet": "net2", "subnet": "s"},
                                       dry_run=True)
    plan = {z["zone"]: z for z in second["dns_zones"]}
    assert plan[vz]["resource_group"] == "vnet-net2" and plan[vz]["new_instance"]
    assert second["warnings"] and "answers differently" in second["warnings"][0]
