"""The Azure seed's whole story, end to end, with the real CLI against a real ``vaultlink serve``.

New vault -> deny public network access -> vnet and subnet -> private endpoint with DNS integration
(auto-approved for the owner) -> a network admin's endpoint that stays Pending until the owner approves
it -> ``dig`` from the VM's address answers the private IP (the internet gets the public one) ->
``vaultlink agent register`` from the VM's address through the service's DNS -> backup -> the same
backup from the public side is refused (``PublicNetworkAccessDisabled``, audited) -> restore ->
files, symlinks, modes and times identical.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import random
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import CliResult, Server

D = "vaultlink.internal"
VM = "127.10.1.100"  # a machine in vm-net (endpoint IPs are allocated from .4 upwards)
APP_VM = "127.11.1.100"  # a machine in the network admin's app-net
INTERNET = "127.0.0.1"
PASSPHRASE = "correct horse battery staple"


def dig(server: Server, name: str, source: str) -> list[str]:
    exe = shutil.which("dig")
    if exe is None:
        pytest.skip("dig is missing: apt-get install -y bind9-dnsutils")
    cmd = [exe, "-b", source, "@127.0.0.1", "-p", str(server.info["dns_port"]), name, "+short", "+time=2", "+tries=2"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout.split()


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


def code_via(s: Server, source: str, ip: str, host: str) -> str | None:
    """The error code of an unauthenticated request sent from ``source`` straight to endpoint ``ip``."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10, trust_env=False) as c:
        resp = c.get(f"http://{ip}:{s.info['api_port']}/recovery-points", headers={"host": host})
    assert resp.status_code >= 400
    return resp.headers.get("x-error-code") or (resp.json().get("error") or {}).get("code")


def agent(s: Server, state: Path, *args: str, pw: Path) -> CliResult:
    return s.cli("agent", *args, "--state-dir", str(state), "--passphrase-file", str(pw), timeout=60)


def test_the_azure_story_end_to_end(server: Server, tmp_path: Path) -> None:
    s = server
    dns = f"127.0.0.1:{s.info['dns_port']}"
    pw = tmp_path / "passphrase"
    pw.write_text(PASSPHRASE + "\n")

    # a new vault that denies public network access
    vault = s.ok("vault", "create", "prod", "--region", "local-1")
    vid = vault["id"]
    assert vault["has_protection_history"] is False
    assert s.ok("vault", "update", "prod", "--public-network-access", "Disabled")["public_network_access"] == "Disabled"
    public, private = f"{vid}.l1.backup.{D}", f"{vid}.privatelink.l1.backup.{D}"

    # a vnet with a subnet, and the owner's endpoint with DNS integration: approved at once
    net = s.ok("vnet", "create", "vm-net", "--region", "local-1", "--address-space", "127.10.0.0/16")
    s.ok("vnet", "subnet", "add", "vm-net", "default", "--cidr", "127.10.1.0/24")
    ep = s.ok("endpoint", "create", "--name", "prod-pe", "--region", "local-1", "--vault", "prod",
              "--group-id", "AzureBackup", "--vnet", "vm-net", "--subnet", "default", "--dns-integration")
    assert ep["status"] == "Approved" and ep["dns_integration"] is True
    pe_ip = ep["ip_configs"][0]["ip"]
    assert pe_ip.startswith("127.10.1.")

    # a network admin (Network Contributor on their own vnet) creates an endpoint: it stays Pending and
    # carries no traffic until the vault's owner approves it. (Not DNS-integrated: the privatelink zone
    # is shared, and the newer endpoint's record would win the vault's name for every linked vnet.)
    acct = net["account_id"]
    app = s.ok("vnet", "create", "app-net", "--region", "local-1", "--address-space", "127.11.0.0/16",
               "--subnet", "default=127.11.1.0/24")
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
    assert code_via(s, APP_VM, app_ip, public) == "EndpointConnectionPending"
    r = s.cli("endpoint", "connection", "approve", ep2["id"], "--description", "me", api_key=key)
    assert (r.exit_code, r.error_code) == (3, "AccessDenied"), "only the vault's owner approves"
    ok = s.ok("endpoint", "connection", "approve", ep2["id"], "--description", "approved for the app tier")
    assert (ok["status"], ok["description"]) == ("Approved", "approved for the app tier")
    assert code_via(s, APP_VM, app_ip, public) not in ("EndpointConnectionPending", None)

    # DNS: the VM gets the private IP, the internet the public endpoint
    assert dig(s, public, VM) == [private + ".", pe_ip]
    assert dig(s, public, INTERNET) == [private + ".", INTERNET]

    creds = tmp_path / "prod.vaultcredentials"
    r = s.cli("vault", "credentials", "prod", "-o", str(creds), json_out=False)
    assert r.exit_code == 0, r.stderr
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600

    # register the VM through DNS from its own address, back up
    src = make_tree(tmp_path / "src")
    before = snapshot(src)
    state = tmp_path / "agent-vm"
    reg = agent(s, state, "register", "--credentials", str(creds), "--source-ip", VM, "--dns", dns,
                "--hostname", "vm1", pw=pw)
    assert reg.exit_code == 0, (reg.stdout, reg.stderr)
    assert reg.json["new"] is True and len(reg.json["storage_accounts"]) == 1
    shown = s.ok("vault", "show", "prod")
    assert shown["protection_history"]["container_registered"] is True
    # the storage account's names now resolve privately inside vm-net
    sa = reg.json["storage_accounts"][0]
    blob_ip = dig(s, f"{sa}.blob.{D}", VM)[-1]
    assert blob_ip.startswith("127.10.1.") and blob_ip != pe_ip
    assert dig(s, f"{sa}.blob.{D}", INTERNET)[-1] == INTERNET

    b = agent(s, state, "backup", str(src), pw=pw)
    assert b.exit_code == 0, (b.stdout, b.stderr)
    rp = b.json["recovery_point"]["id"]
    assert b.json["stats"]["files"] == 6
    assert snapshot(src) == before, "backup does not touch the source"

    # from the public side: registration and the same backup are refused
    pub_state = tmp_path / "agent-public"
    r = agent(s, pub_state, "register", "--credentials", str(creds), "--source-ip", INTERNET, "--dns", dns,
              "--hostname", "laptop", pw=pw)
    assert (r.exit_code, r.error_code) == (3, "PublicNetworkAccessDisabled"), (r.stdout, r.stderr)
    shutil.copytree(state, pub_state, dirs_exist_ok=True)  # the VM's registration, used from the internet
    st = json.loads((pub_state / "state.json").read_text())
    st["source_ip"] = INTERNET
    (pub_state / "state.json").write_text(json.dumps(st))
    r = agent(s, pub_state, "backup", str(src), pw=pw)
    assert (r.exit_code, r.error_code) == (3, "PublicNetworkAccessDisabled"), (r.stdout, r.stderr)
    assert [x["id"] for x in s.ok("recovery-point", "list", "prod")] == [rp], "the refusal stored nothing"
    denied = s.ok("audit", "list", "--vault", "prod", "--code", "PublicNetworkAccessDisabled", "--decision", "denied")
    assert {e["action"] for e in denied} >= {"backup:RegisterContainer", "backup:StartBackupJob"}
    assert all(e["source_ip"] == INTERNET and e["endpoint"] is None and e["status"] == 403 for e in denied)
    allowed = s.ok("audit", "list", "--vault", "prod", "--endpoint", ep["id"], "--decision", "allowed",
                   "--limit", "1000")
    assert any(e["source_ip"] == VM for e in allowed)

    # restore through the private endpoint: identical files, links, modes and times
    out = tmp_path / "restored"
    r = agent(s, state, "restore", rp, "--target", str(out), pw=pw)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert r.json["files"] == 6 and r.json["symlinks"] == 1
    assert_same_tree(src, out / src.name)
    jobs = s.ok("job", "list", "prod")
    assert sorted((j["type"], j["status"]) for j in jobs) == [("Backup", "Completed"), ("Restore", "Completed")]
