"""The vault's managed identity: the service grows a vault's endpoints acting as it (first-hour issue)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.bootstrap import build_service
from vaultlink.config import Config
from vaultlink.dns import names as N
from vaultlink.domain.identity import Scope
from vaultlink.service import dns, dns_doctor, endpoints, identity, networks, vaults
from vaultlink.service.core import Caller, Service
from vaultlink.service.dataplane import storage
from vaultlink.service.events import EndpointsChanged
from vaultlink.service.identity import authenticate, bootstrap


@pytest.fixture
def env(tmp_path: Path) -> tuple[Service, Caller]:
    svc = build_service(Config(data_dir=tmp_path), store=MemoryStore())
    boot = bootstrap(svc)
    assert boot is not None
    return svc, authenticate(svc, boot[1])


def grow(svc: Service, vault_id: str) -> str:
    with svc.store.transaction() as txn:
        vault = txn.require("vault", vault_id)
        name = storage.add_account(txn, svc, vault)
    svc.fire(EndpointsChanged())
    return name


def endpoint_ips(svc: Service, eid: str) -> dict[str, str]:
    with svc.store.transaction() as txn:
        e = txn.require("endpoint", eid)
    return {c["fqdn"]: c["ip"] for c in e["ip_configs"]}


def world(svc: Service, owner: Caller) -> tuple[dict[str, Any], dict[str, Any]]:
    v = vaults.create_vault(svc, owner, "prod", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    e = endpoints.create_endpoint(svc, owner, {"name": "pe1", "region": "local-1", "vault": "prod",
                                               "group_id": "AzureBackup", "vnet": "net1", "subnet": "s"})
    return v, e


def test_every_vault_has_a_system_assigned_identity_without_keys(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    v = vaults.create_vault(svc, owner, "prod", "local-1")
    ident = v["identity"]
    assert ident["type"] == "SystemAssigned" and ident["principal"].endswith(f"role/vault-{v['id']}")
    with svc.store.transaction() as txn:
        assert txn.find("api_key", parent_id=ident["principal_id"]) == []
    vaults.delete_vault(svc, owner, "prod")
    with svc.store.transaction() as txn:
        assert txn.get("principal", ident["principal_id"]) is None


def test_growth_without_the_identity_role_fails_visibly_and_recovers(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    v, e = world(svc, owner)
    vid, domain = v["id"], svc.config.domain
    grow(svc, vid)  # the first storage account: the identity was granted its roles at endpoint create
    assert dns_doctor.doctor(svc, owner, "prod")["ok"]
    # revoke the identity's role on the DNS zones
    blob_zone = N.blob_privatelink_zone(domain)
    zone = dns.get_zone(svc, owner, blob_zone)
    ras = identity.list_roles(svc, owner, f"vault-{vid}")
    on_zones = [r for r in ras if "/dns_zones/" in r["scope"]]
    assert any(r["scope"] == str(Scope(zone["account_id"], "dns_zone", zone["id"])) for r in on_zones)
    for r in on_zones:
        identity.remove_role(svc, owner, r["id"])
    before = endpoint_ips(svc, e["id"])
    second = grow(svc, vid)
    # the endpoint got nothing for the new account, and the refusal is audited with its code
    assert endpoint_ips(svc, e["id"]) == before
    svc.audit.flush()
    refused = svc.store.query_audit({"code": "VaultIdentityNotAuthorized"})
    assert refused and refused[-1]["target"] == second and refused[-1]["decision"] == "denied"
    assert "dns.write" in refused[-1]["message"] and f"vault-{vid}" in refused[-1]["principal"]
    doc = dns_doctor.doctor(svc, owner, "prod")
    found = [p for p in doc["problems"] if p["problem"] == "identity-role-missing"]
    assert found and found[0]["fix"].startswith(f"vaultlink role assign vault-{vid} 'Network Contributor'")
    assert any(p["problem"] == "storage-ip-missing" for p in doc["problems"])
    # grant it back: the next growth succeeds
    for p in found:
        identity.assign_role(svc, owner, f"vault-{vid}", "Network Contributor", p["scope"])
    third = grow(svc, vid)
    ips = endpoint_ips(svc, e["id"])
    assert N.blob_privatelink_name(third, domain) in ips and N.blob_privatelink_name(second, domain) not in ips


def test_dry_run_warns_when_the_identity_cannot_be_granted(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    vaults.create_vault(svc, owner, "prod", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    netop = identity.create_principal(svc, owner, "netop")
    identity.assign_role(svc, owner, "netop", "Network Contributor", None)
    identity.assign_role(svc, owner, "netop", "Backup Operator", None)
    caller = authenticate(svc, netop["api_key"])
    out = endpoints.create_endpoint(svc, caller, {"name": "pe1", "region": "local-1", "vault": "prod",
                                                  "group_id": "AzureBackup", "vnet": "net1", "subnet": "s"},
                                    dry_run=True)
    assert any("managed identity lacks network.write" in w for w in out["warnings"])


@pytest.mark.parametrize("second_endpoint", ["after-the-first-growth", "before-it"])
def test_a_second_vault_in_the_vnet_grows_into_the_storage_zones_the_first_one_made(
    env: tuple[Service, Caller], second_endpoint: str
) -> None:
    """Two vaults with integrated endpoints in one vnet: the first growth makes the blob and queue zones; the
    second vault's identity may write there too, whether its endpoint came after that growth (granted at
    endpoint create) or before it (granted when the zone was made). Before, its growth was refused
    (``VaultIdentityNotAuthorized``) and its machine's registration ended in ``NameNotResolved``."""
    svc, owner = env
    domain = svc.config.domain
    a, _ea = world(svc, owner)
    vaults.create_vault(svc, owner, "second", "local-1")

    def second_pe() -> dict[str, Any]:
        return endpoints.create_endpoint(svc, owner, {"name": "pe2", "region": "local-1", "vault": "second",
                                                      "group_id": "AzureBackup", "vnet": "net1", "subnet": "s"})

    eb = second_pe() if second_endpoint == "before-it" else None
    grow(svc, a["id"])  # the storage zones are made now
    if eb is None:
        eb = second_pe()
    with svc.store.transaction() as txn:
        b = next(v for v in txn.find("vault") if v["name"] == "second")
    account = grow(svc, b["id"])
    ips = endpoint_ips(svc, eb["id"])
    assert N.blob_privatelink_name(account, domain) in ips and N.queue_privatelink_name(account, domain) in ips
    svc.audit.flush()
    assert not svc.store.query_audit({"code": "VaultIdentityNotAuthorized"})
    assert dns_doctor.doctor(svc, owner, "second")["ok"]
    blob = dns.get_zone(svc, owner, N.blob_privatelink_zone(domain))
    assert N.blob_privatelink_name(account, domain) in str(blob)  # its record is in the zone
