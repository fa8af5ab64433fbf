"""Endpoint and vnet handlers over the in-memory store: atomicity, integration points, snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.bootstrap import build_service
from vaultlink.config import Config
from vaultlink.domain.security_groups import rules_allow
from vaultlink.errors import AccessDenied, SubnetFull, VaultHasEndpoints, VaultlinkError
from vaultlink.fabric.build import build_view
from vaultlink.service import connections, endpoints, networks, vaults
from vaultlink.service.core import Caller, Service
from vaultlink.service.events import EndpointsChanged
from vaultlink.service.identity import assign_role, authenticate, bootstrap, create_principal


@pytest.fixture
def env(tmp_path: Path) -> tuple[Service, Caller]:
    svc = build_service(Config(data_dir=tmp_path), store=MemoryStore())
    boot = bootstrap(svc)
    assert boot is not None
    return svc, authenticate(svc, boot[1])


def setup(svc: Service, owner: Caller, cidr: str = "127.10.1.0/24") -> tuple[dict[str, Any], dict[str, Any]]:
    v = vaults.create_vault(svc, owner, "v1", "local-1", cross_region_restore="Enabled")
    n = networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": cidr}])
    return v, n


def body(**kw: Any) -> dict[str, Any]:
    b = {"name": "pe1", "region": "local-1", "vault": "v1", "group_id": "AzureBackup", "vnet": "net1", "subnet": "s"}
    b.update(kw)
    return b


def store_counts(svc: Service) -> tuple[int, int, int]:
    with svc.store.transaction() as txn:
        allocated = len(txn.find("address"))
        return len(txn.find("endpoint")), len(txn.find("vault_endpoint")), allocated


def test_refusals_leave_nothing_behind(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    setup(svc, owner)
    fired: list[int] = []
    svc.on(EndpointsChanged, lambda _e: fired.append(1))
    bad = [
        body(group_id="Nope"),
        body(region="local-2"),
        body(subnet="missing"),
        body(policy={"Statement": "nope"}),
        body(rules=["tcp:443"]),
        body(name="pe1", tags={"a": 1}),
    ]
    for b in bad:
        with pytest.raises(VaultlinkError):
            endpoints.create_endpoint(svc, owner, b)
    assert store_counts(svc) == (0, 0, 0) and fired == []
    preview = endpoints.create_endpoint(svc, owner, body(), dry_run=True)
    assert preview["valid"] is True and store_counts(svc) == (0, 0, 0)
    endpoints.create_endpoint(svc, owner, body())
    assert store_counts(svc) == (1, 1, 1) and fired == [1]


def test_storage_accounts_add_ips_and_full_subnet_rolls_back(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    v, _ = setup(svc, owner, cidr="127.10.1.0/29")  # 3 usable addresses
    ep = endpoints.create_endpoint(svc, owner, body())
    with svc.store.transaction() as txn:
        vault = txn.require("vault", v["id"])
        assert endpoints.add_storage_account(txn, svc, vault, "sa1") == [ep["id"]]
        assert endpoints.add_storage_account(txn, svc, vault, "sa1") == [], "idempotent"
    shown = endpoints.get_endpoint(svc, owner, "pe1")
    assert [(c["purpose"], c["ip"]) for c in shown["ip_configs"]] == [
        ("backup", "127.10.1.4"),
        ("blob", "127.10.1.5"),
        ("queue", "127.10.1.6"),
    ]
    assert shown["ip_configs"][1]["fqdn"] == "sa1.privatelink.blob.vaultlink.internal"
    with pytest.raises(SubnetFull), svc.store.transaction() as txn:
        endpoints.add_storage_account(txn, svc, txn.require("vault", v["id"]), "sa2")
    assert store_counts(svc) == (1, 1, 3)


def test_delete_frees_ips_and_flags_containers(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    v, _ = setup(svc, owner)
    ep = endpoints.create_endpoint(svc, owner, body())
    with svc.store.transaction() as txn:
        for cid, eps in [("c1", [ep["id"]]), ("c2", [])]:
            txn.insert(
                "container",
                cid,
                {"id": cid, "account_id": owner.account_id, "parent_id": v["id"], "name": cid, "endpoint_ids": eps},
            )
    with pytest.raises(VaultHasEndpoints):
        vaults.delete_vault(svc, owner, "v1")
    out = endpoints.delete_endpoint(svc, owner, "pe1")
    assert out["freed_ips"] == 1 and out["containers_flagged"] == ["c1"]
    assert store_counts(svc) == (0, 0, 0)
    with svc.store.transaction() as txn:
        assert txn.require("container", "c1")["reregistration_required"] is True
        assert not txn.require("container", "c2").get("reregistration_required")
    assert vaults.delete_vault(svc, owner, "v1")["deleted"] is True


def test_network_contributor_gets_pending_and_only_vault_owner_approves(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    _, n = setup(svc, owner)
    p = create_principal(svc, owner, "netadmin")
    assign_role(svc, owner, "netadmin", "Network Contributor", f"/accounts/{owner.account_id}/vnets/{n['id']}")
    net_admin = authenticate(svc, p["api_key"])
    ep = endpoints.create_endpoint(svc, net_admin, body())
    assert ep["connection"]["status"] == "Pending"
    with pytest.raises(AccessDenied):
        connections.set_connection(svc, net_admin, ep["id"], "approve", "me")
    c = connections.set_connection(svc, owner, "pe1", "approve", "looks fine", vault_ref="v1")
    assert (c["status"], c["description"]) == ("Approved", "looks fine")
    with pytest.raises(AccessDenied):
        networks.create_vnet(svc, net_admin, "net2", "local-1", ["127.20.0.0/16"])


def test_view_classifies_and_reaches(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    setup(svc, owner)
    networks.create_vnet(svc, owner, "net2", "local-1", ["127.20.0.0/16"])
    networks.create_vnet(svc, owner, "net3", "local-1", ["127.30.0.0/16"])
    networks.peer(svc, owner, "net1", "net2")
    ep = endpoints.create_endpoint(svc, owner, body())
    view = build_view(svc)  # the view the request pipeline runs on
    net1 = view.classify("127.10.1.77")
    assert net1 is not None and networks.get_vnet(svc, owner, net1.id)["name"] == "net1"
    assert view.classify("127.0.0.1") is None
    e = view.endpoint_at(ep["ips"][0])
    assert e is not None and e.id == ep["id"] and e.status == "Approved"
    net2 = view.classify("127.20.0.5")
    net3 = view.classify("127.30.0.5")
    assert net2 is not None and net3 is not None
    assert view.reachable(e, net1) and view.reachable(e, net2) and not view.reachable(e, net3)
    networks.unpeer(svc, owner, "net2", "net1")
    view = build_view(svc)
    assert not view.reachable(e, view.classify("127.20.0.5"))


def _sg_allows(svc: Service, endpoint_id: str, source_ip: str) -> bool:
    ep = build_view(svc).endpoints[endpoint_id]
    return rules_allow(ep.sg_rules, "tcp", 443, source_ip)


def test_default_group_is_virtual_network_and_follows_peerings_at_once(env: tuple[Service, Caller]) -> None:
    from vaultlink.service import endpoint_settings

    svc, owner = env
    setup(svc, owner)
    networks.create_vnet(svc, owner, "net2", "local-1", ["127.20.0.0/16"])
    ep = endpoints.create_endpoint(svc, owner, body())
    sg = endpoint_settings.get_security_group(svc, owner, "pe1")
    assert [(r["protocol"], r["from_port"], r["to_port"], r["source"]) for r in sg["rules"]] == [
        ("tcp", 0, 65535, "VirtualNetwork")
    ]
    assert sg["virtual_network"] == ["127.10.0.0/16"]
    assert _sg_allows(svc, ep["id"], "127.10.1.9") and not _sg_allows(svc, ep["id"], "127.20.0.9")
    networks.peer(svc, owner, "net2", "net1")
    assert _sg_allows(svc, ep["id"], "127.20.0.9"), "peering alone opens the default group"
    networks.update_vnet(svc, owner, "net2", ["127.21.0.0/16"])
    assert _sg_allows(svc, ep["id"], "127.21.5.5"), "a peer's new address space is covered"
    assert endpoint_settings.get_security_group(svc, owner, "pe1")["virtual_network"] == [
        "127.10.0.0/16",
        "127.20.0.0/16",
        "127.21.0.0/16",
    ]
    networks.unpeer(svc, owner, "net1", "net2")
    assert not _sg_allows(svc, ep["id"], "127.20.0.9") and not _sg_allows(svc, ep["id"], "127.21.5.5")
    # an explicit rule with the tag works like the default; the gateway check still counts its ports
    endpoint_settings.add_rule(svc, owner, "pe1", "udp:53:VirtualNetwork")
    rules = endpoint_settings.get_security_group(svc, owner, "pe1")["rules"]
    assert [r["source"] for r in rules] == ["VirtualNetwork", "VirtualNetwork"]


def test_stored_explicit_cidr_groups_and_groupless_records_keep_working(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    setup(svc, owner)
    networks.create_vnet(svc, owner, "net2", "local-1", ["127.20.0.0/16"])
    networks.peer(svc, owner, "net1", "net2")
    old = endpoints.create_endpoint(svc, owner, body(name="old"))
    bare = endpoints.create_endpoint(svc, owner, body(name="bare"))
    with svc.store.transaction() as txn:  # as stored before the VirtualNetwork tag existed
        rec = txn.require("endpoint", old["id"])
        rec["security_group"] = {
            "rules": [
                {
                    "id": "sgr-0123456789",
                    "protocol": "tcp",
                    "from_port": 1,
                    "to_port": 65535,
                    "source": "127.10.0.0/16",
                    "description": "default: the vnet",
                }
            ]
        }
        txn.update("endpoint", old["id"], rec)
        rec = txn.require("endpoint", bare["id"])
        del rec["security_group"]
        txn.update("endpoint", bare["id"], rec)
    assert _sg_allows(svc, old["id"], "127.10.1.9") and not _sg_allows(svc, old["id"], "127.20.1.9")
    assert _sg_allows(svc, bare["id"], "127.10.1.9") and _sg_allows(svc, bare["id"], "127.20.1.9")


def test_update_vnet_adds_address_spaces_with_the_checks_of_creation(env: tuple[Service, Caller]) -> None:
    from vaultlink.errors import AlreadyExists, CidrOutOfRange, CidrOverlap, InvalidCidr, InvalidInput, NotFound

    svc, owner = env
    setup(svc, owner)
    networks.create_vnet(svc, owner, "net2", "local-1", ["127.20.0.0/16"])
    fired: list[int] = []
    svc.on(EndpointsChanged, lambda _e: fired.append(1))
    for spaces, err in [
        (["127.10.4.0/24"], CidrOverlap),  # its own space
        (["127.20.128.0/17"], CidrOverlap),  # another vnet's
        (["127.0.4.0/24"], CidrOutOfRange),
        (["127.11.0.1/16"], InvalidCidr),
        (["127.10.0.0/16"], AlreadyExists),
        (["127.11.0.0/16", "127.11.1.0/24"], CidrOverlap),
        ([], InvalidInput),
        ([f"127.{i}.0.0/16" for i in range(100, 116)], InvalidInput),  # 17 in all: at most 16
    ]:
        with pytest.raises(err):
            networks.update_vnet(svc, owner, "net1", spaces)
    with pytest.raises(NotFound):
        networks.update_vnet(svc, owner, "nope", ["127.11.0.0/16"])
    assert networks.get_vnet(svc, owner, "net1")["address_spaces"] == ["127.10.0.0/16"] and fired == []
    out = networks.update_vnet(svc, owner, "net1", ["127.11.0.0/16"])
    assert out["address_spaces"] == ["127.10.0.0/16", "127.11.0.0/16"] and fired == [1]
    assert networks.add_subnet(svc, owner, "net1", "more", "127.11.1.0/24")["free"] == 251
    found = build_view(svc).classify("127.11.9.9")
    assert found is not None and networks.get_vnet(svc, owner, found.id)["name"] == "net1"
    with pytest.raises(CidrOverlap):
        networks.create_vnet(svc, owner, "net3", "local-1", ["127.11.0.0/16"])
    p = create_principal(svc, owner, "reader")
    assign_role(svc, owner, "reader", "Reader", f"/accounts/{owner.account_id}")
    with pytest.raises(AccessDenied):
        networks.update_vnet(svc, authenticate(svc, p["api_key"]), "net1", ["127.12.0.0/16"])


def test_sync_endpoint_fills_missing_storage_ips_idempotently(env: tuple[Service, Caller]) -> None:
    from vaultlink.errors import EndpointDisconnected
    from vaultlink.service import endpoint_settings

    svc, owner = env
    v, _ = setup(svc, owner, cidr="127.10.1.0/29")  # 3 usable addresses
    ep = endpoints.create_endpoint(svc, owner, body())
    other = endpoints.create_endpoint(svc, owner, body(name="pe2"))
    with svc.store.transaction() as txn:  # the vault gained an account its endpoints have no IPs for
        vault = txn.require("vault", v["id"])
        vault["storage_accounts"] = ["sa1"]
        txn.update("vault", v["id"], vault)
    with pytest.raises(SubnetFull):  # 1 free, 2 needed: nothing changes
        endpoint_settings.sync_endpoint(svc, owner, "pe1")
    assert store_counts(svc) == (2, 2, 2)
    endpoints.delete_endpoint(svc, owner, other["id"])  # free room
    fired: list[int] = []
    svc.on(EndpointsChanged, lambda _e: fired.append(1))
    out = endpoint_settings.sync_endpoint(svc, owner, "pe1")
    assert [(a["storage_account"], a["purpose"], a["ip"]) for a in out["added"]] == [
        ("sa1", "blob", "127.10.1.5"),
        ("sa1", "queue", "127.10.1.6"),
    ]
    assert out["ips"] == ["127.10.1.4", "127.10.1.5", "127.10.1.6"] and fired == [1]
    again = endpoint_settings.sync_endpoint(svc, owner, ep["id"])
    assert again["added"] == [] and again["ips"] == out["ips"] and fired == [1], "idempotent"
    # an endpoint holding only the blob IP gets just the queue one
    with svc.store.transaction() as txn:
        rec = txn.require("endpoint", ep["id"])
        rec["ip_configs"] = [c for c in rec["ip_configs"] if c["purpose"] != "queue"]
        txn.update("endpoint", ep["id"], rec)
        txn.delete("address", f"{rec['vnet_id']}/127.10.1.6")
    out = endpoint_settings.sync_endpoint(svc, owner, "pe1")
    assert [(a["purpose"], a["ip"]) for a in out["added"]] == [("queue", "127.10.1.6")]
    # a Disconnected endpoint can only be deleted
    connections.set_connection(svc, owner, "pe1", "remove", "", vault_ref="v1")
    with pytest.raises(EndpointDisconnected):
        endpoint_settings.sync_endpoint(svc, owner, "pe1")


def test_an_endpoint_takes_and_frees_address_records_and_leaves_its_vnet_alone(env: tuple[Service, Caller]) -> None:
    """Issue #13: the vnet record no longer holds every allocation, so an endpoint's create and delete write a row
    per address (and the subnet's cursor), never the vnet, whose size no longer grows with its endpoints."""
    svc, owner = env
    _, n = setup(svc, owner)
    with svc.store.transaction() as txn:
        before = txn.require("vnet", n["id"])
    ep = endpoints.create_endpoint(svc, owner, body())
    ep2 = endpoints.create_endpoint(svc, owner, body(name="pe2"))
    with svc.store.transaction() as txn:
        assert txn.require("vnet", n["id"]) == before
        held = {r["ip"]: r["owner"] for r in txn.find("address", parent_id=f"{n['id']}/s")}
    mine = [c["ip"] for c in ep["ip_configs"]]
    assert mine and all(held[ip] == ep["id"] for ip in mine) and len(held) == len(mine) + len(ep2["ip_configs"])
    shown = networks.get_vnet(svc, owner, "net1")["subnets"][0]
    assert shown["allocated"] == len(held) and shown["allocations"] == dict(sorted(held.items()))
    endpoints.delete_endpoint(svc, owner, "pe1")
    with svc.store.transaction() as txn:
        assert txn.require("vnet", n["id"]) == before
        assert {r["owner"] for r in txn.find("address")} == {ep2["id"]}
    again = endpoints.create_endpoint(svc, owner, body(name="pe3"))
    assert [c["ip"] for c in again["ip_configs"]] == mine, "the freed addresses are taken again, lowest first"


def test_an_address_taken_meanwhile_is_a_conflict_never_two_owners(env: tuple[Service, Caller]) -> None:
    """Two servers of one deployment may pick the same free address at once: the address is one record, so the
    second insert fails and that change is refused as a Conflict (retry), never a second owner."""
    from vaultlink.errors import Conflict
    from vaultlink.service.addresses import StoredAddresses

    svc, owner = env
    setup(svc, owner)
    ep = endpoints.create_endpoint(svc, owner, body())
    taken = ep["ip_configs"][0]["ip"]
    with svc.store.transaction() as txn:
        vnet = txn.find("vnet")[0]
        with pytest.raises(Conflict) as ei:
            StoredAddresses(txn, vnet, "s").take(taken, "pe-other")
    assert ei.value.code == "Conflict" and taken in ei.value.message
    with svc.store.transaction() as txn:
        assert [r["owner"] for r in txn.find("address") if r["ip"] == taken] == [ep["id"]]


def test_a_connection_named_without_its_vault_reads_only_that_endpoint(
    env: tuple[Service, Caller], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``endpoint connection reject NAME`` at scale (issue #13): the endpoint is looked up by its name in the
    caller's account (indexed) or by its id, never by reading every endpoint of the account."""
    from vaultlink.adapters.memstore import MemTxn
    from vaultlink.errors import NotFound

    svc, owner = env
    setup(svc, owner)
    made = [endpoints.create_endpoint(svc, owner, body(name=f"pe{i}")) for i in range(3)]
    finds: list[dict[str, Any]] = []
    real = MemTxn.find

    def spy(self: MemTxn, kind: str, **eq: Any) -> list[dict[str, Any]]:
        if kind == "endpoint":
            finds.append(eq)
        return real(self, kind, **eq)

    monkeypatch.setattr(MemTxn, "find", spy)
    assert connections.set_connection(svc, owner, "pe1", "reject", "no")["status"] == "Rejected"
    assert connections.set_connection(svc, owner, made[2]["id"], "reject", "no")["status"] == "Rejected"
    assert finds and all("name" in eq for eq in finds), finds
    with pytest.raises(NotFound):
        connections.set_connection(svc, owner, "pe9", "reject", "no")
    assert [e["connection"]["status"] for e in svc.store.scan("endpoint")] == ["Approved", "Rejected", "Rejected"]
