"""Endpoint and vnet handlers over the in-memory store: atomicity, integration points, snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.bootstrap import build_service
from vaultlink.config import Config
from vaultlink.errors import AccessDenied, SubnetFull, VaultHasEndpoints, VaultlinkError
from vaultlink.service import connections, endpoints, networks, vaults
from vaultlink.service.core import Caller, Service
from vaultlink.service.identity import assign_role, authenticate, bootstrap, create_principal


@pytest.fixture
def env(tmp_path: Path) -> tuple[Service, Caller]:
    svc = build_service(Config(data_dir=tmp_path), store=MemoryStore())
    endpoints.install(svc)
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
        allocated = sum(len(s["allocations"]) for v in txn.find("vnet") for s in v["subnets"])
        return len(txn.find("endpoint")), len(txn.find("vault_endpoint")), allocated


def test_refusals_leave_nothing_behind(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    setup(svc, owner)
    fired: list[int] = []
    svc.on("endpoints", lambda: fired.append(1))
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


def test_snapshot_and_classify(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    setup(svc, owner)
    networks.create_vnet(svc, owner, "net2", "local-1", ["127.20.0.0/16"])
    networks.create_vnet(svc, owner, "net3", "local-1", ["127.30.0.0/16"])
    networks.peer(svc, owner, "net1", "net2")
    ep = endpoints.create_endpoint(svc, owner, body())
    snap = networks.network_snapshot(svc)
    assert snap.classify("127.10.1.77")["name"] == "net1"  # type: ignore[index]
    assert snap.classify("127.0.0.1") is None
    e = snap.endpoint_at(ep["ips"][0])
    assert e is not None and e["id"] == ep["id"] and e["connection"]["status"] == "Approved"
    net2 = snap.classify("127.20.0.5")
    net3 = snap.classify("127.30.0.5")
    assert net2 is not None and net3 is not None
    assert snap.reachable(e, e["vnet_id"]) and snap.reachable(e, net2["id"]) and not snap.reachable(e, net3["id"])
    with svc.store.transaction() as txn:
        assert networks.classify(txn, "127.20.9.9")["name"] == "net2"  # type: ignore[index]
    networks.unpeer(svc, owner, "net2", "net1")
    snap = networks.network_snapshot(svc)
    assert not snap.reachable(e, net2["id"])
