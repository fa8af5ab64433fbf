"""A backup-gateway service endpoint listens on every port its security group must allow (TCP 443, 1026-1028,
1031, 2222; in loopback mode all but 443 at ``gateway_port_offset``), each checked against the security
group for its own port (issue #19). With 1031 open only to another range, ``vaultlink gateway health``
from the appliance names 1031 as blocked (exit 6, ``GatewayPortsBlocked``); once a rule allows it, every
port is open."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import Server, start_server, stop_server

APPLIANCE = "127.80.1.50"


@pytest.fixture
def aws_server(tmp_path: Path) -> Iterator[Server]:
    cfg = tmp_path / "aws.toml"
    cfg.write_text('regions = "aws"\n')
    srv = start_server(tmp_path / "data", ("--config", str(cfg)))
    try:
        yield srv
    finally:
        stop_server(srv)


def test_gateway_ports_are_checked_one_by_one(aws_server: Server) -> None:
    s = aws_server
    s.ok("vnet", "create", "onprem-link", "--region", "us-east-1", "--address-space", "127.80.0.0/16",
         "--subnet", "default=127.80.1.0/24")
    rules = ["tcp:443:VirtualNetwork", "tcp:1026-1028:VirtualNetwork", "tcp:2222:VirtualNetwork",
             "tcp:1031:10.99.0.0/16"]  # 1031 is allowed, but not to the appliance's network
    ep = s.ok("endpoint", "create", "--name", "gw", "--service", "backup-gateway", "--region", "us-east-1",
              "--vnet", "onprem-link", "--subnet", "default", *[a for r in rules for a in ("--sg-rule", r)])
    ports = s.info["gateway_ports"]
    assert ports["443"] == s.info["api_port"] and ports["1031"] == 21031 and ports["2222"] == 22222

    r = s.cli("gateway", "health", "gw", "--from", APPLIANCE)
    assert r.exit_code == 6 and "GatewayPortsBlocked" in r.stderr and "TCP 1031" in r.stderr, (r.stdout, r.stderr)
    report = r.json
    states = {p["port"]: p["state"] for p in report["ports"]}
    assert states == {443: "open", 1026: "open", 1027: "open", 1028: "open", 1031: "blocked", 2222: "open"}
    refused = s.ok("audit", "list", "--endpoint", ep["id"], "--code", "SecurityGroupDenied")
    assert refused and refused[0]["source_ip"] == APPLIANCE, "the blocked probe is an audited refusal"

    s.ok("endpoint", "sg", "add-rule", ep["id"], "--protocol", "tcp", "--ports", "1031", "--source", "VirtualNetwork")
    ok = s.ok("gateway", "health", "gw", "--from", APPLIANCE)
    assert ok["ok"] is True and ok["blocked"] == []
    # the extra ports close with the endpoint
    ip = ep["ip_configs"][0]["ip"] if ep.get("ip_configs") else ep["ips"][0]
    with socket.create_connection((ip, 21031), timeout=2):
        pass
    s.ok("endpoint", "delete", "gw")
    with pytest.raises(OSError):
        socket.create_connection((ip, 21031), timeout=2).close()
