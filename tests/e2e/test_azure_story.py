"""The Azure seed's whole story, end to end, with the real CLI against a real ``vaultlink serve``.

New vault -> deny public network access -> vnet and subnet -> private endpoint with DNS integration
(auto-approved for the owner) -> a network admin's endpoint that stays Pending until the owner approves
it -> ``dig`` from the VM's address answers the private IP (the internet gets the public one) ->
``vaultlink agent register`` from the VM's address through the service's DNS -> backup -> the same
backup from the public side is refused (``PublicNetworkAccessDisabled``, audited) -> restore ->
files, symlinks, modes and times identical. One body, three network modes: loopback, netns (each vnet a
network namespace, VMs run with ``vaultlink vnet exec``) and host (real subnets on veths to machine
namespaces), the last two inside a namespace of the test's own.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import random
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import CliResult, Server, start_server, stop_server
from tests.netmodes import HostNet, Net, NetnsNet, OuterNs, host_machines, require_namespaces, start_in

D = "vaultlink.internal"
PASSPHRASE = "correct horse battery staple"


def dig(server: Server, name: str, source: str) -> list[str]:
    """``dig`` from ``source`` in loopback mode (other tests use it; the story asks through ``Net``)."""
    return Net(server).dig_from(name, source)


def make_tree(root: Path) -> Path:
    """A small tree: random and compressible files, a duplicate, an empty file, a symlink, modes, times."""
    rnd = random.Random(20240607)
    (root / "docs" / "deep").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "random.bin").write_bytes(rnd.randbytes(3 << 20))
    words = [rnd.choice(["alpha", "beta", "gamma", "delta", "vault", "link"]) for _ in range(200_000)]
    (root / "docs" / "report.txt").write_text(" ".join(words))
    (root / "docs" / "deep" / "copy.bin").write_bytes((root / "random.bin").read_bytes())
    (root / "docs" / "empty").write_bytes(b"")
    (root / "bin" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "bin" / "run.sh", 0o755)
    (root / "secret.key").write_bytes(rnd.randbytes(64))
    os.chmod(root / "secret.key", 0o600)
    os.symlink("docs/report.txt", root / "report-link")
    os.chmod(root / "docs" / "deep", 0o700)
    for i, p in enumerate(sorted(root.rglob("*"))):
        if not p.is_symlink():
            os.utime(p, (1_600_000_000 + i, 1_600_000_000 + i * 60))
    return root


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry's kind, mode, mtime and content hash (or link target)."""
    out: dict[str, tuple[Any, ...]] = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        rel = str(p.relative_to(root))
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", os.readlink(p))
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            out[rel] = ("file", stat.S_IMODE(st.st_mode), int(st.st_mtime), hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def assert_same_tree(a: Path, b: Path) -> None:
    cmp = filecmp.dircmp(a, b)

    def walk(c: filecmp.dircmp[str]) -> None:
        assert not c.left_only and not c.right_only and not c.diff_files and not c.funny_files, (c.left, c.right)
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        assert not mismatch and not errors, (mismatch, errors)
        for sub in c.subdirs.values():
            walk(sub)

    walk(cmp)
    assert snapshot(a) == snapshot(b)


def agent(net: Net, who: str, state: Path, *args: str, pw: Path) -> CliResult:
    return net.vm_cli(who, "agent", *args, "--state-dir", str(state), "--passphrase-file", str(pw), timeout=60)


@pytest.fixture(params=["loopback", "netns", "host"])
def net(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Net]:
    """The story's networks in each mode; host and netns inside a namespace of the test's own."""
    if request.param == "loopback":
        srv = start_server(tmp_path / "data")
        try:
            yield Net(srv)
        finally:
            stop_server(srv)
        return
    require_namespaces()
    outer = OuterNs()
    try:
        machines = host_machines(outer) if request.param == "host" else {}
        srv = start_in(outer, tmp_path, request.param)
        try:
            yield HostNet(srv, machines) if request.param == "host" else NetnsNet(srv)
        finally:
            stop_server(srv)
    finally:
        outer.close()


def test_the_azure_story_end_to_end(net: Net, tmp_path: Path) -> None:
    """The same body in loopback, netns and host modes (``tests/netmodes.py``)."""
    s = net.s
    vm, internet = net.vm_ip("vm-net"), net.internet_ip
    pw = tmp_path / "passphrase"
    pw.write_text(PASSPHRASE + "\n")

    # a new vault that denies public network access
    vault = s.ok("vault", "create", "prod", "--region", "local-1")
    vid = vault["id"]
    assert vault["has_protection_history"] is False
    assert s.ok("vault", "update", "prod", "--public-network-access", "Disabled")["public_network_access"] == "Disabled"
    public, private = f"{vid}.l1.backup.{D}", f"{vid}.privatelink.l1.backup.{D}"

    # a vnet with a subnet, and the owner's endpoint with DNS integration: approved at once
    vm_net = s.ok("vnet", "create", "vm-net", "--region", "local-1", "--address-space", net.space("vm-net"))
    s.ok("vnet", "subnet", "add", "vm-net", "default", "--cidr", net.subnet("vm-net"))
    ep = s.ok("endpoint", "create", "--name", "prod-pe", "--region", "local-1", "--vault", "prod",
              "--group-id", "AzureBackup", "--vnet", "vm-net", "--subnet", "default", "--dns-integration")
    assert ep["status"] == "Approved" and ep["dns_integration"] is True
    pe_ip = ep["ip_configs"][0]["ip"]
    assert pe_ip.startswith(net.subnet_prefix("vm-net"))

    # a network admin (Network Contributor on their own vnet) creates an endpoint: it stays Pending and
    # carries no traffic until the vault's owner approves it. (Not DNS-integrated: the privatelink zone
    # is shared, and the newer endpoint's record would win the vault's name for every linked vnet.)
    acct = vm_net["account_id"]
    app = s.ok("vnet", "create", "app-net", "--region", "local-1", "--address-space", net.space("app-net"),
               "--subnet", f"default={net.subnet('app-net')}")
    key = s.ok("principal", "create", "netadmin")["api_key"]
    s.ok("role", "assign", "netadmin", "Network Contributor", "--scope", f"/accounts/{acct}/vnets/{app['id']}")
    ep2 = s.ok("endpoint", "create", "--name", "app-pe", "--region", "local-1", "--vault", "prod",
               "--group-id", "AzureBackup", "--vnet", "app-net", "--subnet", "default",
               "--no-dns-integration", "--request-message", "app tier backups", api_key=key)
    assert ep2["status"] == "Pending"
    conns = {c["id"]: c for c in s.ok("endpoint", "connection", "list", "--vault", "prod")}
    assert conns[ep["id"]]["status"] == "Approved"
    assert conns[ep2["id"]]["status"] == "Pending" and conns[ep2["id"]]["description"] == "app tier backups"
    app_ip = ep2["ip_configs"][0]["ip"]
    assert net.http_code("app-net", app_ip, public) == "EndpointConnectionPending"
    r = s.cli("endpoint", "connection", "approve", ep2["id"], "--description", "me", api_key=key)
    assert (r.exit_code, r.error_code) == (3, "AccessDenied"), "only the vault's owner approves"
    ok = s.ok("endpoint", "connection", "approve", ep2["id"], "--description", "approved for the app tier")
    assert (ok["status"], ok["description"]) == ("Approved", "approved for the app tier")
    assert net.http_code("app-net", app_ip, public) not in ("EndpointConnectionPending", None)

    # DNS: the VM gets the private IP, the internet the public endpoint
    assert net.dig(public, "vm-net") == [private + ".", pe_ip]
    assert net.dig(public, "internet") == [private + ".", net.public_ip]

    creds = tmp_path / "prod.vaultcredentials"
    r = s.cli("vault", "credentials", "prod", "-o", str(creds), json_out=False)
    assert r.exit_code == 0, r.stderr
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600

    # register the VM through DNS from its own address, back up
    src = make_tree(tmp_path / "src")
    before = snapshot(src)
    state = tmp_path / "agent-vm"
    reg = agent(net, "vm-net", state, "register", "--credentials", str(creds), *net.locate("vm-net"),
                "--hostname", "vm1", pw=pw)
    assert reg.exit_code == 0, (reg.stdout, reg.stderr)
    assert reg.json["new"] is True and len(reg.json["storage_accounts"]) == 1
    shown = s.ok("vault", "show", "prod")
    assert shown["protection_history"]["container_registered"] is True
    # the storage account's names now resolve privately inside vm-net
    sa = reg.json["storage_accounts"][0]
    blob_ip = net.dig(f"{sa}.blob.{D}", "vm-net")[-1]
    assert blob_ip.startswith(net.subnet_prefix("vm-net")) and blob_ip != pe_ip
    assert net.dig(f"{sa}.blob.{D}", "internet")[-1] == net.public_ip

    b = agent(net, "vm-net", state, "backup", str(src), pw=pw)
    assert b.exit_code == 0, (b.stdout, b.stderr)
    rp = b.json["recovery_point"]["id"]
    assert b.json["stats"]["files"] == 6
    assert snapshot(src) == before, "backup does not touch the source"

    # from the public side: registration and the same backup are refused
    pub_state = tmp_path / "agent-public"
    r = agent(net, "internet", pub_state, "register", "--credentials", str(creds), *net.locate("internet"),
              "--hostname", "laptop", pw=pw)
    assert (r.exit_code, r.error_code) == (3, "PublicNetworkAccessDisabled"), (r.stdout, r.stderr)
    shutil.copytree(state, pub_state, dirs_exist_ok=True)  # the VM's registration, used from the internet
    st = net.rehome(json.loads((pub_state / "state.json").read_text()), "internet")
    (pub_state / "state.json").write_text(json.dumps(st))
    r = agent(net, "internet", pub_state, "backup", str(src), pw=pw)
    assert (r.exit_code, r.error_code) == (3, "PublicNetworkAccessDisabled"), (r.stdout, r.stderr)
    assert [x["id"] for x in s.ok("recovery-point", "list", "prod")] == [rp], "the refusal stored nothing"
    denied = s.ok("audit", "list", "--vault", "prod", "--code", "PublicNetworkAccessDisabled", "--decision", "denied")
    assert {e["action"] for e in denied} >= {"backup:RegisterContainer", "backup:StartBackupJob"}
    assert all(e["source_ip"] == internet and e["endpoint"] is None and e["status"] == 403 for e in denied)
    allowed = s.ok("audit", "list", "--vault", "prod", "--endpoint", ep["id"], "--decision", "allowed",
                   "--limit", "1000")
    assert any(e["source_ip"] == vm for e in allowed)

    # restore through the private endpoint: identical files, links, modes and times
    out = tmp_path / "restored"
    r = agent(net, "vm-net", state, "restore", rp, "--target", str(out), pw=pw)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert r.json["files"] == 6 and r.json["symlinks"] == 1
    assert_same_tree(src, out / src.name)
    jobs = s.ok("job", "list", "prod")
    assert sorted((j["type"], j["status"]) for j in jobs) == [("Backup", "Completed"), ("Restore", "Completed")]
