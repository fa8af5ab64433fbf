"""A backup-gateway endpoint in netns mode listens on the real ports its security group must allow (1026-1028,
1031, 2222; 443 is the API port), inside its vnet's namespace. An appliance in that vnet probes them with
``vaultlink gateway health --ip``; the port its security group leaves closed to it is named (issue #19)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import VAULTLINK, Server


@pytest.fixture
def server(aws_netns_server: Server) -> Server:
    return aws_netns_server


def test_gateway_ports_listen_on_their_real_numbers_in_the_vnet(server: Server) -> None:
    s = server
    s.ok("vnet", "create", "gw-net", "--region", "us-east-1", "--address-space", "10.40.0.0/16",
         "--subnet", "default=10.40.1.0/24")
    rules = ["tcp:443:VirtualNetwork", "tcp:1026-1028:VirtualNetwork", "tcp:2222:VirtualNetwork",
             "tcp:1031:10.99.0.0/16"]
    ep = s.ok("endpoint", "create", "--name", "gw", "--service", "backup-gateway", "--region", "us-east-1",
              "--vnet", "gw-net", "--subnet", "default", *[a for r in rules for a in ("--sg-rule", r)])
    ip = ep["ip_configs"][0]["ip"] if ep.get("ip_configs") else ep["ips"][0]
    ports = s.info["gateway_ports"]
    assert {k: v for k, v in ports.items() if k != "443"} == {"1026": 1026, "1027": 1027, "1028": 1028,
                                                                "1031": 1031, "2222": 2222}
    r = s.cli("vnet", "exec", "gw-net", "--", VAULTLINK, "gateway", "health", "--ip", ip, "--region", "us-east-1",
              "-o", "json", json_out=False)
    assert r.exit_code == 6 and "TCP 1031" in r.stderr, (r.stdout, r.stderr)
    states = {p["port"]: p["state"] for p in json.loads(r.stdout)["ports"]}
    assert states == {443: "open", 1026: "open", 1027: "open", 1028: "open", 1031: "blocked", 2222: "open"}


def test_an_appliance_in_the_vnet_activates_and_beats_through_the_endpoint(server: Server) -> None:
    s = server
    s.ok("vnet", "create", "edge-net", "--region", "us-east-1", "--address-space", "10.41.0.0/16",
         "--subnet", "default=10.41.1.0/24")
    rules = [a for p in ("443", "1026-1028", "1031", "2222") for a in ("--sg-rule", f"tcp:{p}:VirtualNetwork")]
    ep = s.ok("endpoint", "create", "--name", "edge", "--service", "backup-gateway", "--region", "us-east-1",
              "--vnet", "edge-net", "--subnet", "default", *rules)
    ip = ep["ip_configs"][0]["ip"] if ep.get("ip_configs") else ep["ips"][0]
    state = str(s.data_dir.parent / "appliance")
    port = str(s.info["gateway_ports"]["443"])

    def appliance(*args: str) -> dict[str, object]:
        r = s.cli("vnet", "exec", "edge-net", "--", VAULTLINK, "gateway", *args, "--state-dir", state, "-o", "json",
                  json_out=False)
        assert r.exit_code == 0, (args, r.stdout, r.stderr)
        out: dict[str, object] = json.loads(r.stdout)
        return out

    key = appliance("activate", "--region", "us-east-1", "--endpoint-ip", ip, "--port", port)["activation_key"]
    gw = s.ok("gateway", "create", "--activation-key", str(key), "--name", "edge-gw")
    assert appliance("run", "--beats", "1")["gateway_arn"] == gw["arn"]
    shown = s.ok("gateway", "show", gw["id"])
    assert shown["state"] == "ONLINE" and shown["endpoint_id"] == ep["id"]
    claims = s.ok("audit", "list", "--action", "gateway.claim", "--decision", "allowed")
    assert claims and claims[0]["endpoint"] == ep["id"] and claims[0]["source_ip"].startswith("10.41."), claims
