"""Netns mode end to end: each vnet a network namespace, so two tenants can both use 10.0.0.0/16.

Every test runs its server inside a network + mount namespace of its own (``tests/netmodes.OuterNs``):
the vnets' namespaces, veths and addresses exist only there and go with it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import VAULTLINK, Server, stop_server
from tests.e2e.test_azure_story import assert_same_tree, make_tree
from tests.netmodes import NetnsNet, OuterNs, curl, start_in

D = "vaultlink.internal"
PW = "correct horse battery staple"


@pytest.fixture
def netns(outer: OuterNs, tmp_path: Path) -> Iterator[NetnsNet]:
    srv = start_in(outer, tmp_path, "netns")
    try:
        yield NetnsNet(srv)
    finally:
        stop_server(srv)


def tenant(s: Server, key: str | None, subnet: str) -> dict[str, str]:
    """A vault that denies public access, vm-net 10.0.0.0/16 with ``subnet``, an endpoint with DNS integration."""
    vault = s.ok("vault", "create", "prod", "--region", "local-1", api_key=key)
    s.ok("vault", "update", "prod", "--public-network-access", "Disabled", api_key=key)
    s.ok("vnet", "create", "vm-net", "--region", "local-1", "--address-space", "10.0.0.0/16",
         "--subnet", f"default={subnet}", api_key=key)
    ep = s.ok("endpoint", "create", "--name", "pe", "--region", "local-1", "--vault", "prod", "--group-id",
              "AzureBackup", "--vnet", "vm-net", "--subnet", "default", "--dns-integration", api_key=key)
    return {"vault": vault["id"], "ip": ep["ip_configs"][0]["ip"], "endpoint": ep["id"]}


def test_two_tenants_with_the_same_address_space_each_back_up_through_their_own_endpoint(
    netns: NetnsNet, tmp_path: Path
) -> None:
    s = netns.s
    key_b = s.ok("account", "create", "tenant-b")["owner_api_key"]
    a = tenant(s, None, "10.0.1.0/24")
    b = tenant(s, key_b, "10.0.2.0/24")  # the same vnet range, in the other tenant's own namespace
    assert a["ip"] == "10.0.1.4" and b["ip"] == "10.0.2.4"
    pw = tmp_path / "pw"
    pw.write_text(PW + "\n")
    src = make_tree(tmp_path / "src")
    for name, t, key in (("a", a, None), ("b", b, key_b)):
        # each VM's DNS answers its own endpoint's IP
        vm_cli = ["vnet", "exec", "vm-net", "--"]
        dig = s.cli(*vm_cli, "dig", "+short", f"{t['vault']}.l1.backup.{D}", api_key=key, json_out=False)
        assert dig.stdout.split()[-1] == t["ip"], dig
        creds = tmp_path / f"{name}.vaultcredentials"
        r = s.cli("vault", "credentials", "prod", "-o", str(creds), api_key=key, json_out=False)
        assert r.exit_code == 0, r.stderr
        state = tmp_path / f"agent-{name}"
        common = ("--state-dir", str(state), "--passphrase-file", str(pw))
        r = s.cli(*vm_cli, VAULTLINK, "agent", "register", "--credentials", str(creds), "--hostname", f"vm-{name}",
                  *common, api_key=key)
        assert r.exit_code == 0, (r.stdout, r.stderr)
        r = s.cli(*vm_cli, VAULTLINK, "agent", "backup", str(src), *common, api_key=key)
        assert r.exit_code == 0, (r.stdout, r.stderr)
        rp = r.json["recovery_point"]["id"]
        out = tmp_path / f"restored-{name}"
        r = s.cli(*vm_cli, VAULTLINK, "agent", "restore", rp, "--target", str(out), *common, api_key=key)
        assert r.exit_code == 0, (r.stdout, r.stderr)
        assert_same_tree(src, out / src.name)
        # the service saw the VM at its vnet's base + 1, through this tenant's endpoint
        allowed = s.ok("audit", "list", "--endpoint", t["endpoint"], "--decision", "allowed", api_key=key)
        assert allowed and {e["source_ip"] for e in allowed} == {"10.0.0.1"}
    # neither reaches the other's endpoint: no route in its namespace (the kernel drops it)
    for other, key in ((b, None), (a, key_b)):
        r = s.cli("vnet", "exec", "vm-net", "--", *curl(s), "-m", "3", "-o", "/dev/null", "-w", "%{http_code}",
                  "-H", f"host: {other['vault']}.l1.backup.{D}", f"https://{other['ip']}:{s.info['api_port']}/",
                  api_key=key, json_out=False)
        assert r.stdout == "000", f"a VM reached the other tenant's endpoint: {r.stdout}"
    # the one path a VM has is its own endpoint: asked there for the other tenant's vault, the pipeline refuses
    # (and audits the refusal with the endpoint it arrived on)
    r = s.cli("vnet", "exec", "vm-net", "--", *curl(s), "-m", "3", "-H", f"host: {b['vault']}.l1.backup.{D}",
              f"https://{a['ip']}:{s.info['api_port']}/recovery-points", json_out=False)
    assert json.loads(r.stdout)["error"]["code"] == "EndpointTargetMismatch"
    refused = s.ok("audit", "list", "--endpoint", a["endpoint"], "--code", "EndpointTargetMismatch")
    assert refused and refused[0]["decision"] == "denied" and refused[0]["source_ip"] == "10.0.0.1"
    # and the internet reaches neither (the public endpoint refuses: public access is disabled)
    r = s.cli("vnet", "exec", "--internet", "--", *curl(s), "-m", "3", "-o", "/dev/null", "-w", "%{http_code}",
              f"https://{a['ip']}:{s.info['api_port']}/", json_out=False)
    assert r.stdout == "000"


def test_peering_is_a_link_and_unpeering_cuts_it(netns: NetnsNet, tmp_path: Path) -> None:
    s = netns.s
    t = tenant(s, None, "10.0.1.0/24")
    s.ok("vnet", "create", "app-net", "--region", "local-1", "--address-space", "10.20.0.0/16")
    # overlapping ranges cannot be peered, even in netns mode (the routes would be ambiguous)
    s.ok("vnet", "create", "twin-net", "--region", "local-1", "--address-space", "10.0.0.0/16")
    assert s.cli("vnet", "peer", "vm-net", "twin-net").error_code == "CidrOverlap"
    url = f"https://{t['ip']}:{s.info['api_port']}/recovery-points"
    host = f"host: {t['vault']}.l1.backup.{D}"

    def from_app() -> str:
        r = s.cli("vnet", "exec", "app-net", "--", *curl(s), "-m", "3", "-H", host, url, json_out=False)
        return r.stdout

    assert from_app() == "", "no peering: no route"
    s.ok("vnet", "peer", "vm-net", "app-net")
    # through the link, the pipeline sees app-net's VM and answers (here: no credential)
    assert json.loads(from_app())["error"]["code"] == "Unauthenticated"
    seen = s.ok("audit", "list", "--endpoint", t["endpoint"], "--code", "Unauthenticated")
    assert seen and seen[0]["source_ip"] == "10.20.0.1"
    # app-net's VM resolves vm-net's private name only if its own DNS is linked: the vault name is public here
    s.ok("vnet", "unpeer", "vm-net", "app-net")
    assert from_app() == "", "unpeered: the link is gone"


def test_a_crash_leaves_nothing_the_next_start_cannot_clean_up(outer: OuterNs, tmp_path: Path) -> None:
    srv = start_in(outer, tmp_path, "netns")
    t = tenant(srv, None, "10.0.1.0/24")
    ns_dir = tmp_path / "netns"
    names = sorted(p.name for p in ns_dir.iterdir())
    assert len(names) == 2 and "vl-internet" in names
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    (srv.data_dir / "server.json").unlink()  # left by the killed process
    # the namespaces outlive the process (they are mounted)
    assert outer.run("stat", "-f", "-c", "%T", str(ns_dir / "vl-internet")).stdout.strip() == "nsfs"
    srv2 = start_in(outer, tmp_path, "netns")
    try:
        r = srv2.cli("vnet", "exec", "vm-net", "--", "dig", "+short", f"{t['vault']}.l1.backup.{D}", json_out=False)
        assert r.stdout.split()[-1] == t["ip"], r
        assert "removing namespace" in srv2.log()
        health = json.loads(outer.run(*curl(srv2), srv2.url + "/healthz").stdout)
        assert health["fabric"] == "netns"
    finally:
        assert stop_server(srv2) == 0
    # a clean stop removes every namespace and resolver file it made
    left = subprocess.run([*outer.enter, "sh", "-c", f"ls -A {ns_dir} {tmp_path / 'netns-etc'}"],
                          capture_output=True, text=True).stdout.split()
    assert [x for x in left if x.startswith("vl-")] == []


def test_without_privilege_the_service_says_what_it_needs(outer: OuterNs, tmp_path: Path) -> None:
    cfg = tmp_path / "netns.toml"
    cfg.write_text(f'fabric = "netns"\nnetns_dir = "{tmp_path / "ns"}"\nnetns_etc_dir = "{tmp_path / "etc"}"\n')
    r = subprocess.run([*outer.enter, "setpriv", "--bounding-set", "-sys_admin,-net_admin", "--", VAULTLINK, "serve",
                        "--data-dir", str(tmp_path / "d"), "--config", str(cfg), "--api-port", "0", "--dns-port", "0"],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "CAP_SYS_ADMIN" in out and "CAP_NET_ADMIN" in out and "AmbientCapabilities" in out, out
    assert "Traceback" not in out, out
