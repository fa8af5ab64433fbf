"""An agent on premises reaches its vault through a real HTTP proxy (Debian's tinyproxy) that sits in the
vault's vnet (issue #19; the Azure seed: "perform your backups through the proxy server"). netns mode: the
machine is in app-net, peered with vm-net but without the private DNS zone, so it cannot resolve the vault's
private address itself. Through the proxy,
the proxy resolves the name with vm-net's DNS (its namespace's resolver is the responder: it never asks the
host's) and connects from its own address, which the endpoint sees and enforces on."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import VAULTLINK, Server, stop_server
from tests.netmodes import OuterNs, start_in
from tests.network.test_netns_mode import PW, tenant

PROXY = "10.0.0.1"  # the proxy's address: vm-net's machine address
VM = "10.20.0.1"  # the on-premises machine, in app-net


@pytest.fixture
def server(outer: OuterNs, tmp_path: Path) -> Iterator[Server]:
    srv = start_in(outer, tmp_path, "netns")
    try:
        yield srv
    finally:
        stop_server(srv)


def start_tinyproxy(s: Server, tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("tinyproxy")
    assert exe, "tinyproxy is missing: scripts/install-system-deps.sh installs it"
    conf = tmp_path / "tinyproxy.conf"
    conf.write_text(f"User nobody\nGroup nogroup\nPort {port}\nListen {PROXY}\nTimeout 120\nMaxClients 20\n"
                    f"Allow 10.0.0.0/8\nConnectPort {s.info['api_port']}\nBasicAuth backup s3cret\n"
                    "LogLevel Info\n")
    proc = subprocess.Popen([*s.prefix, VAULTLINK, "vnet", "exec", "vm-net", "--", exe, "-d", "-c", str(conf)],
                            env=s.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        probe = s.cli("vnet", "exec", "vm-net", "--", "bash", "-c", f"exec 3<>/dev/tcp/{PROXY}/{port}",
                      json_out=False)
        if probe.exit_code == 0:
            return proc
        assert proc.poll() is None, "tinyproxy exited"
        time.sleep(0.2)
    raise AssertionError("tinyproxy did not listen")


def test_an_agent_backs_up_through_a_proxy_in_the_vnet(server: Server, tmp_path: Path) -> None:
    s = server
    t = tenant(s, None, "10.0.1.0/24")
    s.ok("vnet", "create", "app-net", "--region", "local-1", "--address-space", "10.20.0.0/16")
    s.ok("vnet", "peer", "vm-net", "app-net")
    creds = tmp_path / "prod.vaultcredentials"
    assert s.cli("vault", "credentials", "prod", "-o", str(creds), json_out=False).exit_code == 0
    pw = tmp_path / "pw"
    pw.write_text(PW + "\n")
    state = tmp_path / "agent"
    common = ("--state-dir", str(state), "--passphrase-file", str(pw))
    on_prem = ["vnet", "exec", "app-net", "--", VAULTLINK, "agent"]

    # bypassing the proxy, app-net's own DNS does not answer the vault's private address (no zone link there)
    name = f"{t['vault']}.l1.backup.vaultlink.internal"
    dig = s.cli("vnet", "exec", "app-net", "--", "dig", "+short", name, json_out=False)
    assert t["ip"] not in dig.stdout.split(), dig.stdout
    inside = s.cli("vnet", "exec", "vm-net", "--", "dig", "+short", name, json_out=False)
    assert inside.stdout.split()[-1] == t["ip"], "the proxy's DNS (vm-net's) answers it"

    proxy = start_tinyproxy(s, tmp_path, 8888)
    try:
        wrong = s.cli(*on_prem, "register", "--credentials", str(creds), "--hostname", "onprem", "--source-ip", VM,
                      "--proxy", f"http://backup:nope@{PROXY}:8888", *common)
        assert wrong.exit_code != 0 and "refused its credentials" in wrong.stdout + wrong.stderr, wrong.stdout
        r = s.cli(*on_prem, "register", "--credentials", str(creds), "--hostname", "onprem", "--source-ip", VM,
                  "--proxy", f"http://backup:s3cret@{PROXY}:8888", *common)
        assert r.exit_code == 0, (r.stdout, r.stderr)
        assert "s3cret" not in r.stdout, "the proxy's password is never shown"
        src = tmp_path / "src"
        src.mkdir()
        (src / "a.txt").write_text("on premises, through the proxy\n" * 1000)
        r = s.cli(*on_prem, "backup", str(src), *common)
        assert r.exit_code == 0, (r.stdout, r.stderr)
        rp = r.json["recovery_point"]["id"]
        r = s.cli(*on_prem, "restore", rp, "--target", str(tmp_path / "out"), *common)
        assert r.exit_code == 0, (r.stdout, r.stderr)
        assert (tmp_path / "out" / "src" / "a.txt").read_text() == (src / "a.txt").read_text()
    finally:
        proxy.terminate()
        proxy.wait(10)
    # the endpoint saw the proxy, never the machine behind it
    seen = s.ok("audit", "list", "--endpoint", t["endpoint"], "--decision", "allowed", "--limit", "500")
    assert seen and {e["source_ip"] for e in seen} == {PROXY}
    machine = next(c for c in s.ok("container", "list", "prod") if c["hostname"] == "onprem")
    assert machine["source_ip"] == PROXY and machine["endpoint_ids"] == [t["endpoint"]]
