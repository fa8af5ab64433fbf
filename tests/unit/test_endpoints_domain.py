"""Endpoint rules (pure): validation reports every problem, names, connections, security groups."""

from __future__ import annotations

from typing import Any

import pytest

from vaultlink.domain import connections as conns
from vaultlink.domain import endpoint_names as epnames
from vaultlink.domain import endpoints as dom
from vaultlink.domain import networks as net
from vaultlink.domain import security_groups as sgs
from vaultlink.domain.regions import load_catalog
from vaultlink.errors import (
    EndpointDisconnected,
    GatewayPortsRequired,
    InvalidConnectionTransition,
    InvalidSecurityRule,
    PolicyInvalid,
    PolicyTooLarge,
    RegionMismatch,
    VaultlinkError,
)

CAT = load_catalog("default")
AWS = load_catalog("aws")


def vault(**kw: Any) -> dict[str, Any]:
    v = {
        "id": "v1a2b3c",
        "name": "vault1",
        "region": "local-1",
        "secondary_region": "local-2",
        "cross_region_restore": "Enabled",
        "protection_history": {"container_registered": False, "item_protected": False, "attempted": False},
        "storage_accounts": [],
    }
    v.update(kw)
    return v


def vnet(region: str = "local-1", cidr: str = "127.10.1.0/24") -> dict[str, Any]:
    return {
        "id": "vnet-1",
        "name": "net1",
        "region": region,
        "address_spaces": ["127.10.0.0/16"],
        "subnets": [net.new_subnet("default", cidr)],
    }


def req(**kw: Any) -> dom.ResourceRequest:
    base: dict[str, Any] = dict(
        name="pe1", region="local-1", vault_ref="vault1", group_id="AzureBackup", vnet_ref="net1", subnet="default"
    )
    base.update(kw)
    return dom.ResourceRequest(**base)


def ctx(**kw: Any) -> dom.ResourceContext:
    v = kw.pop("vault", vault())
    base: dict[str, Any] = dict(
        region=CAT.regions["local-1"],
        vault=v,
        vault_paired=v["secondary_region"] if v else None,
        vault_endpoints=[],
        vnet=vnet(),
        name_taken=False,
    )
    base.update(kw)
    return dom.ResourceContext(**base)


def codes(problems: list[dom.Problem]) -> list[str]:
    return [p.error.code for p in problems]


def test_valid_primary_request_has_no_problems() -> None:
    assert dom.validate_resource(req(), ctx()) == []


@pytest.mark.parametrize("spelling", ["AzureBackup_secondary", "AzureBackup_Secondary", "azurebackup_SECONDARY"])
def test_secondary_spellings(spelling: str) -> None:
    assert dom.normalize_group_id(spelling) == dom.SECONDARY
    r = req(group_id=spelling, region="local-2")
    c = ctx(region=CAT.regions["local-2"], vnet=vnet("local-2"))
    assert dom.validate_resource(r, c) == []


def test_every_problem_is_reported_at_once() -> None:
    taken = [{"group_id": dom.SECONDARY}] * 12
    v = vault(cross_region_restore="Disabled")
    r = req(name="Bad Name", group_id="AzureBackup_Secondary", subnet="nope", tags={"k": 1})
    c = ctx(vault=v, vault_endpoints=taken, vnet=vnet("local-2"))
    got = codes(dom.validate_resource(r, c))
    assert got == [
        "InvalidName",
        "RegionMismatch",
        "CrossRegionRestoreDisabled",
        "SecondaryEndpointLimit",
        "RegionMismatch",
        "NotFound",
        "InvalidInput",
    ]
    with pytest.raises(VaultlinkError) as ei:
        dom.raise_problems(dom.validate_resource(r, c))
    assert ei.value.code == "InvalidName" and len(ei.value.details["problems"]) == 7


def test_unknown_group_id_and_missing_vault() -> None:
    assert codes(dom.validate_resource(req(group_id="Blob"), ctx())) == ["UnknownGroupId"]
    assert codes(dom.validate_resource(req(vault_ref="gone"), ctx(vault=None))) == ["NotFound"]
    assert codes(dom.validate_resource(req(vault_ref=None), ctx(vault=None))) == ["MissingField"]


def test_region_rules() -> None:
    assert codes(dom.validate_resource(req(region="local-2"), ctx(region=CAT.regions["local-2"]))) == [
        "RegionMismatch",  # primary endpoint not in the vault's region
        "RegionMismatch",  # vnet in another region than the endpoint
    ]
    c = ctx(vault=vault(secondary_region=None), vault_paired=None)
    assert "RegionMismatch" in codes(dom.validate_resource(req(group_id="AzureBackup_secondary"), c))


def test_protection_history_rule() -> None:
    used = vault(protection_history={"container_registered": True})
    assert codes(dom.validate_resource(req(), ctx(vault=used))) == ["VaultHasProtectionHistory"]
    existing = [{"group_id": dom.PRIMARY}]
    assert dom.validate_resource(req(), ctx(vault=used, vault_endpoints=existing)) == []
    # secondary endpoints may be created before or after protection
    r = req(group_id="AzureBackup_secondary", region="local-2")
    c = ctx(vault=used, region=CAT.regions["local-2"], vnet=vnet("local-2"))
    assert dom.validate_resource(r, c) == []


def test_secondary_limit_is_twelve() -> None:
    r = req(group_id="AzureBackup_secondary", region="local-2")
    c = ctx(region=CAT.regions["local-2"], vnet=vnet("local-2"), vault_endpoints=[{"group_id": dom.SECONDARY}] * 11)
    assert dom.validate_resource(r, c) == []
    c.vault_endpoints = [{"group_id": dom.SECONDARY}] * 12
    assert codes(dom.validate_resource(r, c)) == ["SecondaryEndpointLimit"]


def test_subnet_capacity_counts_storage_accounts() -> None:
    small = vnet(cidr="127.10.1.0/29")  # 3 usable
    v = vault(storage_accounts=["sa1"])  # needs 3: backup + blob + queue
    assert dom.validate_resource(req(), ctx(vault=v, vnet=small, storage_accounts=["sa1"])) == []
    v2 = vault(storage_accounts=["sa1", "sa2"])
    assert codes(dom.validate_resource(req(), ctx(vault=v2, vnet=small, storage_accounts=["sa1", "sa2"]))) == [
        "SubnetFull"
    ]


def test_names_served() -> None:
    cfgs = epnames.resource_configs("v1a2b3c", "l1", ["sa1"], "vaultlink.internal")
    assert [(c["purpose"], c["fqdn"]) for c in cfgs] == [
        ("backup", "v1a2b3c.privatelink.l1.backup.vaultlink.internal"),
        ("blob", "sa1.privatelink.blob.vaultlink.internal"),
        ("queue", "sa1.privatelink.queue.vaultlink.internal"),
    ]
    assert cfgs[0]["public_name"] == "v1a2b3c.l1.backup.vaultlink.internal"
    svc = epnames.service_configs("pe-abc", "backup", "local-1", "vaultlink.internal")
    assert svc[0]["fqdn"] == "pe-abc.backup.local-1.vpce.vaultlink.internal"
    assert svc[0]["public_name"] == "backup.local-1.vaultlink.internal"
    assert epnames.storage_account_names({"storage_accounts": ["a", {"name": "b"}]}) == ["a", "b"]


def test_a_secondary_endpoint_serves_the_replica_names() -> None:
    """An AzureBackup_secondary endpoint: the paired region's geo, and each account's ``-secondary`` names
    (Azure's name for the paired region's copy), still of the same storage account."""
    cfgs = epnames.resource_configs("v1a2b3c", "l2", ["sa1"], "vaultlink.internal", secondary=True)
    assert [(c["purpose"], c["fqdn"], c["storage_account"]) for c in cfgs] == [
        ("backup", "v1a2b3c.privatelink.l2.backup.vaultlink.internal", None),
        ("blob", "sa1-secondary.privatelink.blob.vaultlink.internal", "sa1"),
        ("queue", "sa1-secondary.privatelink.queue.vaultlink.internal", "sa1"),
    ]
    assert cfgs[1]["public_name"] == "sa1-secondary.blob.vaultlink.internal"


def test_connection_state_machine() -> None:
    pending = conns.new_connection(False)
    assert pending["status"] == "Pending" and "approve" in pending["actions_required"]
    assert conns.new_connection(True)["status"] == "Approved"
    approved = conns.transition(pending, "approve", "ok by me")
    assert approved == {"status": "Approved", "description": "ok by me", "actions_required": "None"}
    assert conns.transition(approved, "reject", "")["status"] == "Rejected"
    assert conns.transition(pending, "reject", "")["status"] == "Rejected"
    gone = conns.transition(approved, "remove", "bye")
    assert gone["status"] == "Disconnected" and "Delete" in gone["actions_required"]
    rejected = conns.transition(pending, "reject", "")
    for cur, action in [(approved, "approve"), (rejected, "approve"), (gone, "approve"), (gone, "remove")]:
        with pytest.raises(InvalidConnectionTransition):
            conns.transition(cur, action, "")
    with pytest.raises(EndpointDisconnected):
        conns.ensure_live({"name": "pe1", "connection": gone})


def test_security_group_rules() -> None:
    r = sgs.parse_rule_spec("tcp:1026-1028:127.10.0.0/16")
    assert (r["protocol"], r["from_port"], r["to_port"], r["source"]) == ("tcp", 1026, 1028, "127.10.0.0/16")
    assert r["id"] == sgs.parse_rule({"protocol": "TCP", "ports": "1026-1028", "source": "127.10.0.0/16"})["id"]
    for bad in [
        "tcp:443",
        "icmp:1:127.10.0.0/16",
        "tcp:65536:127.10.0.0/16",
        "tcp:-1:127.10.0.0/16",
        "tcp:9-3:127.10.0.0/16",
        "tcp:443:VirtualNetworks",
        "tcp:443:Internet",
        "tcp:443:nowhere",
        "tcp:x:127.10.0.0/16",
    ]:
        with pytest.raises(InvalidSecurityRule):
            sgs.parse_rule_spec(bad)
    # explicit CIDR rules (what endpoints created before VirtualNetwork hold) ignore peerings
    explicit = [sgs.parse_rule_spec("tcp:1-65535:127.10.0.0/16")]
    peered = ["127.10.0.0/16", "127.20.0.0/16"]
    compiled = sgs.compile_rules(explicit, peered)  # what the request pipeline matches against
    assert sgs.rules_allow(compiled, "tcp", 443, "127.10.9.9")
    assert not sgs.rules_allow(compiled, "tcp", 443, "127.20.9.9")
    assert not sgs.rules_allow(compiled, "udp", 53, "127.10.9.9")
    assert sgs.missing_gateway_ports(explicit) == []


def test_virtual_network_tag_and_the_default_group() -> None:
    """The default group is one rule, TCP 0-65535 from VirtualNetwork: the vnet and its peers."""
    (default,) = sgs.default_rules()
    assert (default["protocol"], default["from_port"], default["to_port"], default["source"]) == (
        "tcp",
        0,
        65535,
        "VirtualNetwork",
    )
    assert default["description"] == "default: the endpoint's vnet and its peers"
    # accepted wherever a CIDR is, in any case, normalized; the id is stable and dedups
    for spec in ("tcp:0-65535:VirtualNetwork", "TCP:0-65535:virtualnetwork"):
        assert sgs.parse_rule_spec(spec)["id"] == default["id"]
    assert sgs.parse_rule({"protocol": "tcp", "ports": "443", "source": "VirtualNetwork"})["source"] == "VirtualNetwork"
    assert sgs.parse_rule_spec("tcp:443:VirtualNetwork")["id"] != sgs.parse_rule_spec("tcp:443:127.10.0.0/16")["id"]
    # what the tag stands for: the endpoint's vnet address spaces, then each peer's
    vnets = {
        "vnet-a": {"id": "vnet-a", "address_spaces": ["127.10.0.0/16", "127.11.0.0/24"], "peerings": ["vnet-b"]},
        "vnet-b": {"id": "vnet-b", "address_spaces": ["127.20.0.0/16"], "peerings": ["vnet-a"]},
        "vnet-c": {"id": "vnet-c", "address_spaces": ["127.30.0.0/16"], "peerings": []},
    }
    vn = sgs.virtual_network_spaces(vnets["vnet-a"], vnets)
    assert vn == ["127.10.0.0/16", "127.11.0.0/24", "127.20.0.0/16"]
    assert sgs.virtual_network_spaces(None, vnets) == []
    assert sgs.virtual_network_spaces({"address_spaces": ["127.10.0.0/16"], "peerings": ["gone"]}, vnets) == [
        "127.10.0.0/16"
    ], "a peer that no longer exists adds nothing"
    rules = sgs.default_rules()
    compiled = sgs.compile_rules(rules, vn)
    assert sgs.rules_allow(compiled, "tcp", 443, "127.11.0.9")
    assert sgs.rules_allow(compiled, "tcp", 443, "127.20.200.1"), "a peered vnet reaches the endpoint"
    assert not sgs.rules_allow(compiled, "tcp", 443, "127.30.0.9"), "an unpeered vnet does not"
    assert not sgs.rules_allow(compiled, "udp", 53, "127.10.0.9")
    unresolved = sgs.compile_rules(rules, [])
    assert not sgs.rules_allow(unresolved, "tcp", 443, "127.10.0.9"), "an unresolved tag matches nothing"
    assert sgs.missing_gateway_ports(rules) == [], "the default group satisfies the gateway ports"
    # the gateway requirement counts VirtualNetwork rules like CIDR ones
    gw = [sgs.parse_rule_spec("tcp:443:VirtualNetwork"), sgs.parse_rule_spec("tcp:1026-1028:VirtualNetwork")]
    assert sgs.missing_gateway_ports(gw) == [1031, 2222]
    with pytest.raises(InvalidSecurityRule) as bad:
        sgs.parse_rule_spec("tcp:443:nowhere")
    assert "VirtualNetwork" in bad.value.message
    only443 = [sgs.parse_rule_spec("tcp:443:127.10.0.0/16"), sgs.parse_rule_spec("udp:1-65535:127.10.0.0/16")]
    assert sgs.missing_gateway_ports(only443) == [1026, 1027, 1028, 1031, 2222]
    with pytest.raises(GatewayPortsRequired) as ei:
        sgs.check_gateway_rules("backup-gateway", only443)
    assert "1026, 1027, 1028, 1031, 2222" in ei.value.message
    sgs.check_gateway_rules("backup", only443)


def svc_req(**kw: Any) -> tuple[dom.ServiceRequest, dom.ServiceContext]:
    region = kw.pop("region_obj", CAT.regions["local-1"])
    base: dict[str, Any] = dict(name="vpce1", region=region.name, service="backup", vnet_ref="net1", subnet="default")
    base.update(kw)
    return dom.ServiceRequest(**base), dom.ServiceContext(region=region, vnet=vnet(region.name), name_taken=False)


def test_service_endpoint_validation() -> None:
    assert dom.validate_service(*svc_req()) == []
    assert codes(dom.validate_service(*svc_req(service="s3"))) == ["UnknownService"]
    bj = AWS.regions["cn-north-1"]
    assert bj.service_name("backup") == "cn.com.amazonaws.cn-north-1.backup"
    assert dom.validate_service(*svc_req(region_obj=bj)) == []
    assert codes(dom.validate_service(*svc_req(region_obj=bj, service="backup-gateway"))) == [
        "ServiceNotAvailableInRegion"
    ]
    jkt = AWS.regions["ap-southeast-3"]
    assert codes(dom.validate_service(*svc_req(region_obj=jkt, service="backup-gateway"))) == [
        "ServiceNotAvailableInRegion"
    ]
    rules = ["tcp:443:127.10.0.0/16", "tcp:1026-1028:127.10.0.0/16"]
    problems = dom.validate_service(*svc_req(service="backup-gateway", rules=rules))
    assert codes(problems) == ["GatewayPortsRequired"] and "1031, 2222" in problems[0].message
    rules += ["tcp:1031:127.10.0.0/16", "tcp:2222:127.10.0.0/16"]
    assert dom.validate_service(*svc_req(service="backup-gateway", rules=rules)) == []


def test_policy_validation() -> None:
    assert dom.check_policy(dom.DEFAULT_POLICY) == dom.DEFAULT_POLICY
    with pytest.raises(PolicyInvalid):
        dom.check_policy({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*", "Principal": "*"}]})
    big = {"Statement": [{"Effect": "Allow", "Action": "*", "Principal": "*", "Resource": ["*"] * 8000}]}
    with pytest.raises(PolicyTooLarge):
        dom.check_policy(big)


def test_region_mismatch_message_says_what_to_do() -> None:
    problems = dom.validate_resource(req(region="local-2"), ctx(region=CAT.regions["local-2"]))
    with pytest.raises(RegionMismatch) as ei:
        dom.raise_problems(problems)
    assert "local-1" in ei.value.message
