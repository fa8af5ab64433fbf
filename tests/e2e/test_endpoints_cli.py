"""Virtual networks and private endpoints end to end: a real server driven by the real CLI.

Follows the control-plane steps of both seeds: the creation wizard (basics, resource,
virtual network, DNS, tags, review + create), auto-approval for the vault owner, manual
approval, the protection-history rule, the 12-secondary limit, service endpoints with
their partition prefixes and gateway ports, policies, security groups and deletion.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import CliResult, Server, start_server, stop_server


def refused(r: CliResult, code: str, exit_code: int) -> None:
    assert r.exit_code == exit_code and r.error_code == code, (r.exit_code, r.stdout, r.stderr)


def audit_has(s: Server, code: str, action: str | None = None) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        events = s.ok("audit", "list", "--code", code, "--decision", "denied")
        if any(action is None or e.get("action") == action for e in events):
            return
        time.sleep(0.2)
    raise AssertionError(f"no denied audit event with code {code} ({action})")


def allocated(s: Server, vnet: str) -> int:
    return sum(sub["allocated"] for sub in s.ok("vnet", "show", vnet)["subnets"])


def test_vnets_subnets_peering_and_bad_cidrs(shared_server: Server) -> None:
    s = shared_server
    n = s.ok(
        "vnet",
        "create",
        "hub",
        "--region",
        "local-1",
        "--address-space",
        "127.40.0.0/16",
        "--subnet",
        "default=127.40.1.0/24",
        "--tag",
        "env=test",
    )
    assert n["address_spaces"] == ["127.40.0.0/16"] and n["tags"] == {"env": "test"}
    sub = n["subnets"][0]
    assert sub["reserved"] == ["127.40.1.0", "127.40.1.1", "127.40.1.2", "127.40.1.3", "127.40.1.255"]
    assert sub["capacity"] == 251
    s.ok("vnet", "create", "spoke", "--region", "local-1", "--address-space", "127.41.0.0/16")
    refused(
        s.cli("vnet", "create", "x1", "--region", "local-1", "--address-space", "127.0.9.0/24"), "CidrOutOfRange", 2
    )
    refused(s.cli("vnet", "create", "x2", "--region", "local-1", "--address-space", "10.0.0.0/16"), "CidrOutOfRange", 2)
    refused(
        s.cli("vnet", "create", "x3", "--region", "local-1", "--address-space", "127.40.128.0/17"), "CidrOverlap", 2
    )
    refused(s.cli("vnet", "create", "x4", "--region", "local-1", "--address-space", "127.42.0.1/16"), "InvalidCidr", 2)
    refused(s.cli("vnet", "subnet", "add", "hub", "out", "--cidr", "127.41.0.0/24"), "SubnetOutsideVnet", 2)
    refused(s.cli("vnet", "subnet", "add", "hub", "dup", "--cidr", "127.40.1.128/25"), "CidrOverlap", 2)
    refused(s.cli("vnet", "subnet", "add", "hub", "tiny", "--cidr", "127.40.2.0/30"), "SubnetTooSmall", 2)
    assert s.ok("vnet", "subnet", "add", "hub", "apps", "--cidr", "127.40.2.0/24")["free"] == 251
    assert [x["name"] for x in s.ok("vnet", "subnet", "list", "hub")] == ["default", "apps"]
    assert all(not v["name"].startswith("x") for v in s.ok("vnet", "list")), "refusals create nothing"
    # more address space later, with the checks of creation; nothing changes on a refusal
    for cidr, code, exit_code in [
        ("127.40.5.0/24", "CidrOverlap", 2),  # inside its own space
        ("127.41.0.0/24", "CidrOverlap", 2),  # another vnet's
        ("127.0.9.0/24", "CidrOutOfRange", 2),
        ("127.43.0.1/16", "InvalidCidr", 2),
        ("127.40.0.0/16", "AlreadyExists", 4),
    ]:
        refused(s.cli("vnet", "update", "hub", "--add-address-space", cidr), code, exit_code)
    assert s.ok("vnet", "show", "hub")["address_spaces"] == ["127.40.0.0/16"]
    more = ("--add-address-space", "127.43.0.0/16", "--add-address-space", "127.44.0.0/24")
    grown = s.ok("vnet", "update", "hub", *more)
    assert grown["address_spaces"] == ["127.40.0.0/16", "127.43.0.0/16", "127.44.0.0/24"]
    assert s.ok("vnet", "subnet", "add", "hub", "grown", "--cidr", "127.43.1.0/24")["free"] == 251
    refused(s.cli("vnet", "create", "x5", "--region", "local-1", "--address-space", "127.43.0.0/16"), "CidrOverlap", 2)
    assert s.ok("vnet", "subnet", "delete", "hub", "grown")["deleted"] is True
    peered = s.ok("vnet", "peer", "hub", "spoke")
    assert [p["name"] for p in peered["peerings"]] == ["spoke"]
    assert [p["name"] for p in s.ok("vnet", "show", "spoke")["peerings"]] == ["hub"], "both directions"
    refused(s.cli("vnet", "peer", "spoke", "hub"), "AlreadyExists", 4)
    assert s.ok("vnet", "unpeer", "spoke", "hub")["peerings"] == []
    assert s.ok("vnet", "show", "hub")["peerings"] == []
    assert s.ok("vnet", "subnet", "delete", "hub", "apps")["deleted"] is True
    assert s.ok("vnet", "delete", "spoke")["deleted"] is True
    refused(s.cli("vnet", "show", "spoke"), "NotFound", 4)
    audit_has(s, "CidrOverlap", "vnet.create")
    audit_has(s, "SubnetOutsideVnet", "vnet.subnet.add")
    audit_has(s, "CidrOutOfRange", "vnet.update")


def test_wizard_auto_approval_policy_sg_and_delete(shared_server: Server, tmp_path: Path) -> None:
    s = shared_server
    v = s.ok("vault", "create", "wiz", "--region", "local-1")
    s.ok(
        "vnet",
        "create",
        "wiznet",
        "--region",
        "local-1",
        "--address-space",
        "127.50.0.0/16",
        "--subnet",
        "default=127.50.1.0/24",
    )
    s.ok(
        "vnet",
        "create",
        "wiznet2",
        "--region",
        "local-2",
        "--address-space",
        "127.51.0.0/16",
        "--subnet",
        "default=127.51.1.0/24",
    )
    base = [
        "endpoint",
        "create",
        "--name",
        "pe-wiz",
        "--region",
        "local-1",
        "--vault",
        "wiz",
        "--group-id",
        "AzureBackup",
        "--vnet",
        "wiznet",
        "--subnet",
        "default",
    ]
    # review + create: every problem at once, nothing created
    r = s.cli(
        "endpoint",
        "create",
        "--name",
        "Bad_Name",
        "--region",
        "local-2",
        "--vault",
        "wiz",
        "--group-id",
        "AzureBackup",
        "--vnet",
        "wiznet",
        "--subnet",
        "nope",
        "--dry-run",
        json_out=False,
    )
    assert r.exit_code == 2 and "InvalidName" in r.stderr
    for code in ("RegionMismatch (region)", "RegionMismatch (vnet)", "NotFound (subnet)"):
        assert code in r.stderr, r.stderr
    r = s.cli(
        "endpoint",
        "create",
        "--name",
        "pe-x",
        "--region",
        "local-1",
        "--vault",
        "wiz",
        "--group-id",
        "Blob",
        "--vnet",
        "wiznet",
        "--subnet",
        "default",
    )
    refused(r, "UnknownGroupId", 2)
    dry = s.ok(*base, "--dry-run")
    assert dry["valid"] is True and dry["endpoint"]["connection"]["status"] == "Approved"
    assert s.ok("endpoint", "list") == [] or all(e["name"] != "pe-wiz" for e in s.ok("endpoint", "list"))
    assert allocated(s, "wiznet") == 0
    # create: owner's endpoint is auto-approved; one IP for the vault's backup name
    ep = s.ok(*base, "--no-dns-integration", "--tag", "team=ops")
    assert ep["status"] == "Approved" and ep["dns_integration"] is False and ep["tags"] == {"team": "ops"}
    assert ep["group_id"] == "AzureBackup" and ep["region"] == "local-1"
    assert [(c["purpose"], c["ip"], c["fqdn"]) for c in ep["ip_configs"]] == [
        ("backup", "127.50.1.4", f"{v['id']}.privatelink.l1.backup.vaultlink.internal")
    ]
    assert allocated(s, "wiznet") == 1
    assert s.ok("endpoint", "show", "pe-wiz")["id"] == ep["id"]
    assert [e["id"] for e in s.ok("endpoint", "list", "--vnet", "wiznet")] == [ep["id"]]
    conns = s.ok("endpoint", "connection", "list", "--vault", "wiz")
    assert [(c["id"], c["status"], c["actions_required"]) for c in conns] == [(ep["id"], "Approved", "None")]
    refused(s.cli(*base), "AlreadyExists", 4)
    # policy: set, show, malformed, reset
    pol = tmp_path / "p.json"
    doc = {"Statement": [{"Action": "backup:*", "Effect": "Allow", "Principal": "*", "Resource": "*"}]}
    pol.write_text(json.dumps(doc))
    assert s.ok("endpoint", "policy", "set", "pe-wiz", str(pol))["default"] is False
    assert s.ok("endpoint", "policy", "show", "pe-wiz")["policy"]["Statement"][0]["Action"] == "backup:*"
    pol.write_text(json.dumps({"Statement": [{"Effect": "Perhaps", "Action": "*", "Resource": "*"}]}))
    refused(s.cli("endpoint", "policy", "set", "pe-wiz", str(pol)), "PolicyInvalid", 2)
    pol.write_text("{not json")
    refused(s.cli("endpoint", "policy", "set", "pe-wiz", str(pol)), "MalformedJSON", 2)
    reset = s.ok("endpoint", "policy", "reset", "pe-wiz")
    assert reset["default"] is True and reset["policy"] == {
        "Statement": [{"Action": "*", "Effect": "Allow", "Principal": "*", "Resource": "*"}]
    }
    # security group: default TCP from VirtualNetwork (the vnet and its peers, as they are now)
    sg = s.ok("endpoint", "sg", "show", "pe-wiz")
    assert [(x["protocol"], x["from_port"], x["to_port"], x["source"], x["description"]) for x in sg["rules"]] == [
        ("tcp", 0, 65535, "VirtualNetwork", "default: the endpoint's vnet and its peers")
    ]
    assert sg["virtual_network"] == ["127.50.0.0/16"]
    s.ok("vnet", "peer", "wiznet", "wiznet2")
    assert s.ok("endpoint", "sg", "show", "pe-wiz")["virtual_network"] == ["127.50.0.0/16", "127.51.0.0/16"]
    s.ok("vnet", "unpeer", "wiznet", "wiznet2")
    assert s.ok("endpoint", "sg", "show", "pe-wiz")["virtual_network"] == ["127.50.0.0/16"]
    table = s.cli("endpoint", "sg", "show", "pe-wiz", json_out=False)
    assert table.exit_code == 0 and "VirtualNetwork" in table.stdout
    refused(
        s.cli("endpoint", "sg", "add-rule", "pe-wiz", "--ports", "0-65535", "--source", "virtualnetwork"),
        "AlreadyExists",
        4,
    )
    # the IP sync: the vault has no storage accounts yet, so there is nothing to add (idempotent)
    synced = s.ok("endpoint", "sync", "pe-wiz")
    assert (synced["added"], synced["in_sync"], synced["ips"]) == ([], True, ["127.50.1.4"])
    added = s.ok("endpoint", "sg", "add-rule", "pe-wiz", "--ports", "443", "--source", "127.51.0.0/16")
    new = next(x for x in added["rules"] if x["source"] == "127.51.0.0/16")
    refused(
        s.cli("endpoint", "sg", "add-rule", "pe-wiz", "--protocol", "gre", "--source", "127.51.0.0/16"),
        "InvalidSecurityRule",
        2,
    )
    assert len(s.ok("endpoint", "sg", "remove-rule", "pe-wiz", new["id"])["rules"]) == 1
    # the vault cannot go while it has endpoints
    refused(s.cli("vault", "delete", "wiz"), "VaultHasEndpoints", 4)
    # deletion frees the IP and drops the connection; then the vault can go
    gone = s.ok("endpoint", "delete", "pe-wiz")
    assert gone["deleted"] is True and gone["connection"]["status"] == "Deleted" and gone["freed_ips"] == 1
    assert allocated(s, "wiznet") == 0
    assert s.ok("endpoint", "connection", "list", "--vault", "wiz") == []
    refused(s.cli("endpoint", "show", "pe-wiz"), "NotFound", 4)
    assert s.ok("vault", "delete", "wiz")["deleted"] is True
    audit_has(s, "UnknownGroupId", "endpoint.create")
    audit_has(s, "PolicyInvalid", "endpoint.policy.set")


def test_manual_approval_and_connection_states(shared_server: Server) -> None:
    s = shared_server
    s.ok("vault", "create", "appr", "--region", "local-1")
    n = s.ok(
        "vnet",
        "create",
        "apprnet",
        "--region",
        "local-1",
        "--address-space",
        "127.60.0.0/16",
        "--subnet",
        "default=127.60.1.0/24",
    )
    acct = n["account_id"]
    key = s.ok("principal", "create", "netadmin")["api_key"]
    s.ok("role", "assign", "netadmin", "Network Contributor", "--scope", f"/accounts/{acct}/vnets/{n['id']}")
    args = [
        "--region",
        "local-1",
        "--vault",
        "appr",
        "--group-id",
        "AzureBackup",
        "--vnet",
        "apprnet",
        "--subnet",
        "default",
    ]
    ep = s.ok("endpoint", "create", "--name", "pe-na", *args, "--request-message", "for the web tier", api_key=key)
    assert ep["status"] == "Pending"
    conns = s.ok("endpoint", "connection", "list", "--vault", "appr")
    assert conns[0]["status"] == "Pending" and conns[0]["description"] == "for the web tier"
    assert "approve" in conns[0]["actions_required"]
    # a non-owner cannot approve
    refused(s.cli("endpoint", "connection", "approve", ep["id"], "--description", "me", api_key=key), "AccessDenied", 3)
    audit_has(s, "AccessDenied", "connection.approve")
    ok = s.ok("endpoint", "connection", "approve", "pe-na", "--vault", "appr", "--description", "web tier ok")
    assert (ok["status"], ok["description"], ok["actions_required"]) == ("Approved", "web tier ok", "None")
    refused(s.cli("endpoint", "connection", "approve", ep["id"]), "InvalidConnectionTransition", 4)
    assert s.ok("endpoint", "connection", "reject", ep["id"], "--description", "no")["status"] == "Rejected"
    refused(s.cli("endpoint", "connection", "approve", ep["id"]), "InvalidConnectionTransition", 4)
    audit_has(s, "InvalidConnectionTransition")
    gone = s.ok("endpoint", "connection", "remove", ep["id"], "--description", "decommissioned")
    assert gone["status"] == "Disconnected" and "Delete" in gone["actions_required"]
    assert s.ok("endpoint", "show", "pe-na", api_key=key)["status"] == "Disconnected"
    refused(s.cli("endpoint", "policy", "reset", "pe-na", api_key=key), "EndpointDisconnected", 4)
    refused(s.cli("endpoint", "connection", "remove", ep["id"]), "InvalidConnectionTransition", 4)
    # a second endpoint of the network admin's, rejected straight from Pending
    ep2 = s.ok("endpoint", "create", "--name", "pe-na2", *args, api_key=key)
    assert s.ok("endpoint", "connection", "reject", ep2["id"], "--description", "nope")["status"] == "Rejected"
    # the owner of the endpoint deletes both; the network admin may not touch other vnets
    assert s.ok("endpoint", "delete", "pe-na", api_key=key)["deleted"] is True
    assert s.ok("endpoint", "delete", "pe-na2", api_key=key)["deleted"] is True
    assert allocated(s, "apprnet") == 0
    refused(
        s.cli("vnet", "create", "other", "--region", "local-1", "--address-space", "127.61.0.0/16", api_key=key),
        "AccessDenied",
        3,
    )


def _give_history(s: Server, vault_id: str) -> None:
    """Simulate a past registration (the data path sets this flag) by writing the record directly."""
    from vaultlink.adapters.sqlstore import SqlStore
    from vaultlink.errors import StoreError

    store = SqlStore(f"sqlite:///{s.data_dir / 'vaultlink.db'}")
    try:
        for attempt in range(50):  # another process's write (the server's audit writer) may hold the database
            try:
                with store.transaction() as txn:
                    rec = txn.require("vault", vault_id)
                    rec["protection_history"] = {"container_registered": True, "item_protected": True,
                                                 "attempted": True}
                    txn.update("vault", vault_id, rec)
                break
            except StoreError:
                if attempt == 49:
                    raise
                time.sleep(0.1)
    finally:
        store.close()


def test_protection_history_and_secondary_rules(server: Server) -> None:
    s = server
    used = s.ok("vault", "create", "used", "--region", "local-1")
    early = s.ok("vault", "create", "early", "--region", "local-1")
    s.ok(
        "vnet",
        "create",
        "p1",
        "--region",
        "local-1",
        "--address-space",
        "127.70.0.0/16",
        "--subnet",
        "default=127.70.1.0/24",
    )
    s.ok(
        "vnet",
        "create",
        "p2",
        "--region",
        "local-2",
        "--address-space",
        "127.71.0.0/16",
        "--subnet",
        "default=127.71.1.0/24",
    )
    prim = ["--region", "local-1", "--group-id", "AzureBackup", "--vnet", "p1", "--subnet", "default"]
    sec = ["--region", "local-2", "--group-id", "AzureBackup_Secondary", "--vnet", "p2", "--subnet", "default"]
    # a vault that already has AzureBackup endpoints keeps accepting them after protection starts
    s.ok("endpoint", "create", "--name", "early-1", "--vault", "early", *prim)
    _give_history(s, used["id"])
    _give_history(s, early["id"])
    assert s.ok("vault", "show", "used")["has_protection_history"] is True
    refused(s.cli("endpoint", "create", "--name", "u1", "--vault", "used", *prim), "VaultHasProtectionHistory", 4)
    audit_has(s, "VaultHasProtectionHistory", "endpoint.create")
    assert s.ok("endpoint", "create", "--name", "early-2", "--vault", "early", *prim)["status"] == "Approved"
    # secondary: needs cross-region restore, the paired region; allowed after protection
    refused(s.cli("endpoint", "create", "--name", "s0", "--vault", "used", *sec), "CrossRegionRestoreDisabled", 4)
    s.ok("vault", "update", "used", "--cross-region-restore", "Enabled")
    wrong = ["--region", "local-1", "--group-id", "AzureBackup_secondary", "--vnet", "p1", "--subnet", "default"]
    refused(s.cli("endpoint", "create", "--name", "s0", "--vault", "used", *wrong), "RegionMismatch", 2)
    for i in range(12):
        e = s.ok("endpoint", "create", "--name", f"s{i}", "--vault", "used", *sec)
        assert e["group_id"] == "AzureBackup_secondary" and e["ips"] == [f"127.71.1.{4 + i}"]
    assert e["ip_configs"][0]["fqdn"] == f"{used['id']}.privatelink.l2.backup.vaultlink.internal"
    before = allocated(s, "p2")
    refused(s.cli("endpoint", "create", "--name", "s12", "--vault", "used", *sec), "SecondaryEndpointLimit", 4)
    assert allocated(s, "p2") == before == 12, "a refused endpoint leaks no IP"
    assert len(s.ok("endpoint", "connection", "list", "--vault", "used")) == 12
    audit_has(s, "SecondaryEndpointLimit", "endpoint.create")
    # deleting one makes room again; a vnet with endpoints cannot be deleted
    s.ok("endpoint", "delete", "s3")
    assert s.ok("endpoint", "create", "--name", "s12", "--vault", "used", *sec)["ips"] == ["127.71.1.7"]
    refused(s.cli("vnet", "delete", "p2"), "VnetInUse", 4)
    refused(s.cli("vnet", "subnet", "delete", "p2", "default"), "SubnetInUse", 4)


@pytest.fixture(scope="module")
def aws_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    srv = start_server(tmp_path_factory.mktemp("aws") / "data", extra_args=("--regions", "aws"))
    try:
        yield srv
    finally:
        stop_server(srv)


def test_service_endpoints_names_availability_and_gateway_ports(aws_server: Server) -> None:
    s = aws_server
    for name, region, cidr in [
        ("use1", "us-east-1", "127.80"),
        ("bjs", "cn-north-1", "127.81"),
        ("jkt", "ap-southeast-3", "127.82"),
    ]:
        s.ok(
            "vnet",
            "create",
            name,
            "--region",
            region,
            "--address-space",
            f"{cidr}.0.0/16",
            "--subnet",
            f"default={cidr}.1.0/24",
        )
    e = s.ok(
        "endpoint",
        "create",
        "--name",
        "vpce-b",
        "--service",
        "backup",
        "--region",
        "us-east-1",
        "--vnet",
        "use1",
        "--subnet",
        "default",
    )
    assert e["service_name"] == "com.amazonaws.us-east-1.backup" and e["status"] == "Approved"
    assert e["private_dns_enabled"] is True and e["kind"] == "service"
    assert e["ip_configs"][0]["fqdn"] == f"{e['id']}.backup.us-east-1.vpce.vaultlink.internal"
    assert e["ip_configs"][0]["public_name"] == "backup.us-east-1.vaultlink.internal"
    refused(
        s.cli(
            "endpoint",
            "create",
            "--name",
            "vpce-b2",
            "--service",
            "backup",
            "--region",
            "us-east-1",
            "--vnet",
            "use1",
            "--subnet",
            "default",
        ),
        "PrivateDnsConflict",
        4,
    )
    cn = s.ok(
        "endpoint",
        "create",
        "--name",
        "vpce-cn",
        "--service",
        "backup",
        "--region",
        "cn-north-1",
        "--vnet",
        "bjs",
        "--subnet",
        "default",
        "--no-private-dns",
    )
    assert cn["service_name"] == "cn.com.amazonaws.cn-north-1.backup" and cn["private_dns_enabled"] is False
    for vnet, region in [("bjs", "cn-north-1"), ("jkt", "ap-southeast-3")]:
        refused(
            s.cli(
                "endpoint",
                "create",
                "--name",
                "gw-x",
                "--service",
                "backup-gateway",
                "--region",
                region,
                "--vnet",
                vnet,
                "--subnet",
                "default",
            ),
            "ServiceNotAvailableInRegion",
            2,
        )
    refused(
        s.cli(
            "endpoint",
            "create",
            "--name",
            "gw-x",
            "--service",
            "s3",
            "--region",
            "us-east-1",
            "--vnet",
            "use1",
            "--subnet",
            "default",
        ),
        "UnknownService",
        2,
    )
    gw = [
        "endpoint",
        "create",
        "--name",
        "gw",
        "--service",
        "backup-gateway",
        "--region",
        "us-east-1",
        "--vnet",
        "use1",
        "--subnet",
        "default",
    ]
    r = s.cli(*gw, "--sg-rule", "tcp:443:127.80.0.0/16", "--sg-rule", "tcp:1026-1028:127.80.0.0/16", json_out=False)
    assert r.exit_code == 2 and "GatewayPortsRequired" in r.stderr and "missing: TCP 1031, 2222" in r.stderr
    assert allocated(s, "use1") == 1, "nothing half-created"
    ok = s.ok(
        *gw,
        "--sg-rule",
        "tcp:443:127.80.0.0/16",
        "--sg-rule",
        "tcp:1026-1028:127.80.0.0/16",
        "--sg-rule",
        "tcp:1031:127.80.0.0/16",
        "--sg-rule",
        "tcp:2222:127.80.0.0/16",
    )
    assert ok["service_name"] == "com.amazonaws.us-east-1.backup-gateway"
    rule2222 = next(x for x in ok["security_group"]["rules"] if x["from_port"] == 2222)
    refused(s.cli("endpoint", "sg", "remove-rule", "gw", rule2222["id"]), "GatewayPortsRequired", 2)
    audit_has(s, "GatewayPortsRequired")
    assert s.ok("endpoint", "delete", "gw")["freed_ips"] == 1
    assert {x["name"] for x in s.ok("endpoint", "list")} == {"vpce-b", "vpce-cn"}
