"""Host mode end to end: vnets are real subnets the server is attached to (veths to machine namespaces,
all inside a namespace of the test's own); endpoint IPs are real addresses on the server's interface."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import VAULTLINK, Server, stop_server
from tests.netmodes import OuterNs, curl, run_cli, start_in

D = "vaultlink.internal"


def addresses(outer: OuterNs, ifname: str) -> list[str]:
    out = outer.run("ip", "-o", "-4", "addr", "show", "dev", ifname).stdout
    return [line.split()[3] for line in out.splitlines()]


def setup(s: Server) -> tuple[str, str, str]:
    vault = s.ok("vault", "create", "prod", "--region", "local-1")["id"]
    s.ok("vnet", "create", "lan", "--region", "local-1", "--address-space", "10.10.0.0/16",
         "--subnet", "servers=10.10.1.0/24")
    ep = s.ok("endpoint", "create", "--name", "pe", "--region", "local-1", "--vault", "prod", "--group-id",
              "AzureBackup", "--vnet", "lan", "--subnet", "servers", "--dns-integration")
    return vault, ep["id"], ep["ip_configs"][0]["ip"]


def test_endpoint_addresses_come_and_go_with_the_endpoint(outer: OuterNs, tmp_path: Path) -> None:
    """Two real subnets on two veths, a machine on each; each endpoint's IP appears on its subnet's interface."""
    machine = outer.machine("sv0", "10.10.1.1/24", "10.10.1.100/24")
    other = outer.machine("sv1", "10.20.1.1/24", "10.20.1.100/24")
    outer.run("ip", "addr", "add", "10.10.1.200/32", "dev", "sv0")  # pre-provisioned by someone else
    s = start_in(outer, tmp_path, "host")
    try:
        vault, ep_id, ip = setup(s)
        s.ok("vnet", "create", "lab", "--region", "local-1", "--address-space", "10.20.0.0/16",
             "--subnet", "machines=10.20.1.0/24")
        lab = s.ok("endpoint", "create", "--name", "lab-pe", "--region", "local-1", "--vault", "prod",
                   "--group-id", "AzureBackup", "--vnet", "lab", "--subnet", "machines")["ip_configs"][0]["ip"]
        assert f"{ip}/32" in addresses(outer, "sv0"), "endpoint creation adds its IP to the subnet's interface"
        assert f"{lab}/32" in addresses(outer, "sv1") and f"{lab}/32" not in addresses(outer, "sv0")
        # a machine on the subnet reaches it, and the pipeline sees the machine's own address
        url = f"https://{ip}:{s.info['api_port']}/recovery-points"
        out = subprocess.run([*machine, *curl(s), "-m", "5", "-H", f"host: {vault}.l1.backup.{D}", url],
                             capture_output=True, text=True, timeout=30).stdout
        assert json.loads(out)["error"]["code"] == "Unauthenticated"
        seen = s.ok("audit", "list", "--endpoint", ep_id, "--code", "Unauthenticated")
        assert seen and seen[0]["source_ip"] == "10.10.1.100" and seen[0]["vnet"]
        # DNS on a real address: the machine asks the server's address on its subnet
        dig = subprocess.run([*machine, "dig", "@10.10.1.1", "-p", str(s.info["dns_port"]), "+short",
                              f"{vault}.l1.backup.{D}"], capture_output=True, text=True, timeout=30).stdout.split()
        assert dig[-1] == ip
        # the lan machine backs up through its endpoint, found through that DNS
        creds, pw, src = tmp_path / "c.vaultcredentials", tmp_path / "pw", tmp_path / "src"
        assert s.cli("vault", "credentials", "prod", "-o", str(creds), json_out=False).exit_code == 0
        pw.write_text("correct horse battery staple\n")
        src.mkdir()
        (src / "file").write_bytes(b"host mode" * 1000)
        agent = ["--state-dir", str(tmp_path / "agent"), "--passphrase-file", str(pw)]
        r = run_cli(machine, "agent", "register", "--credentials", str(creds), "--dns",
                    f"10.10.1.1:{s.info['dns_port']}", "--hostname", "lan-1", *agent, env=s.env())
        assert r.exit_code == 0, (r.stdout, r.stderr)
        r = run_cli(machine, "agent", "backup", str(src), *agent, env=s.env())
        assert r.exit_code == 0 and r.json["stats"]["files"] == 1, (r.stdout, r.stderr)
        # the lab machine is not peered with lan: the pipeline refuses it at lan's endpoint
        out = subprocess.run([*other, *curl(s), "-m", "5", "-H", f"host: {vault}.l1.backup.{D}", url],
                             capture_output=True, text=True, timeout=30).stdout
        assert json.loads(out)["error"]["code"] == "EndpointUnreachable"
        s.ok("endpoint", "delete", ep_id)
        assert f"{ip}/32" not in addresses(outer, "sv0"), "deletion removes it"
        _, _, ip2 = setup_second(s)
        assert f"{ip2}/32" in addresses(outer, "sv0")
    finally:
        assert stop_server(s) == 0
    left = addresses(outer, "sv0")
    assert f"{ip2}/32" not in left and f"{lab}/32" not in addresses(outer, "sv1"), "a stop removes what it added"
    assert "10.10.1.200/32" in left and "10.10.1.1/24" in left, "and nothing it did not add"


def setup_second(s: Server) -> tuple[str, str, str]:
    ep = s.ok("endpoint", "create", "--name", "pe2", "--region", "local-1", "--vault", "prod", "--group-id",
              "AzureBackup", "--vnet", "lan", "--subnet", "servers")
    return "", ep["id"], ep["ip_configs"][0]["ip"]


def test_addresses_managed_elsewhere_need_no_privilege(outer: OuterNs, tmp_path: Path) -> None:
    """host_manage_addresses = false: listeners bind with IP_FREEBIND before the address exists."""
    machine = outer.machine("sv0", "10.10.1.1/24", "10.10.1.100/24")
    s = start_in(outer, tmp_path, "host", "host_manage_addresses = false\n")
    try:
        vault, _, ip = setup(s)
        assert f"{ip}/32" not in addresses(outer, "sv0")
        outer.run("ip", "addr", "add", f"{ip}/32", "dev", "sv0")  # keepalived, cloud-init, an admin…
        url = f"https://{ip}:{s.info['api_port']}/recovery-points"
        out = subprocess.run([*machine, *curl(s), "-m", "5", "-H", f"host: {vault}.l1.backup.{D}", url],
                             capture_output=True, text=True, timeout=30).stdout
        assert json.loads(out)["error"]["code"] == "Unauthenticated"
    finally:
        stop_server(s)
    assert f"{ip}/32" in addresses(outer, "sv0"), "never removes an address it did not add"


def test_without_cap_net_admin_the_service_says_how_to_run_it(outer: OuterNs, tmp_path: Path) -> None:
    cfg = tmp_path / "host.toml"
    cfg.write_text('fabric = "host"\n')
    r = subprocess.run([*outer.enter, "setpriv", "--bounding-set", "-net_admin", "--", VAULTLINK, "serve",
                        "--data-dir", str(tmp_path / "d"), "--config", str(cfg), "--api-port", "0", "--dns-port", "0"],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    for words in ("CAP_NET_ADMIN", "AmbientCapabilities", "host_manage_addresses = false"):
        assert words in out, out
    assert "Traceback" not in out, out
