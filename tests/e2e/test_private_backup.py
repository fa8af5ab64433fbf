"""Backups through private endpoints as the vault grows and as its endpoints change, with real processes:
``vaultlink serve``, the ``vaultlink agent`` CLI resolving names through DNS from a VM's address, ``dig``
and a customer's own ``dnsmasq`` inside the vnet.

(a) A vault whose storage account fills up (``storage_account_max_bytes`` in the config file) gains a
    second account: its endpoints gain IPs, integrated DNS gains records, ``endpoint dns-config`` lists
    the new names, and an agent behind a custom DNS server that does not forward them fails naming the
    missing FQDN and the record to add; once the server forwards them, the backup finishes.
(b) Re-registration: the endpoint a container registered through is deleted -> its data-plane calls
    fail with ``ContainerReregistrationRequired``; ``agent register`` again (through a new endpoint)
    restores service with the recovery points intact.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import CliResult, Server, start_server, stop_server

D = "vaultlink.internal"
VM = "127.10.1.100"
DNS_VM = "127.10.1.53"  # the customer's DNS server, inside the vnet
PASSPHRASE = "correct horse battery staple"


def dig(server: Server, name: str, source: str) -> list[str]:
    exe = shutil.which("dig")
    if exe is None:
        pytest.skip("dig is missing: apt-get install -y bind9-dnsutils")
    cmd = [exe, "-b", source, "@127.0.0.1", "-p", str(server.info["dns_port"]), name, "+short", "+time=2", "+tries=2"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout.split()


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def make_data(root: Path, mib: int, seed: int = 11) -> Path:
    rnd = random.Random(seed)
    root.mkdir(parents=True)
    for i in range(mib // 4):
        (root / f"r{i}.bin").write_bytes(rnd.randbytes(4 << 20))
    (root / "notes.txt").write_text("private endpoints only\n" * 5000)
    return root


class Vm:
    """One machine: the ``vaultlink agent`` CLI with its own state dir, passphrase file and address."""

    def __init__(self, server: Server, tmp: Path, name: str, source_ip: str) -> None:
        self.s, self.source_ip = server, source_ip
        self.state = tmp / f"agent-{name}"
        self.pw = tmp / f"{name}.pass"
        self.pw.write_text(PASSPHRASE)
        self.name = name

    def run(self, *args: str) -> CliResult:
        needs = ("register", "backup", "restore", "check", "passphrase", "db", "ls", "diff", "dump", "find")
        pw = ("--passphrase-file", str(self.pw)) if args[0] in needs else ()
        return self.s.cli("agent", *args, "--state-dir", str(self.state), *pw, timeout=60)

    def ok(self, *args: str) -> Any:
        r = self.run(*args)
        assert r.exit_code == 0, (args, r.stdout, r.stderr)
        return r.json

    def register(self, creds: Path, dns: str) -> CliResult:
        return self.run("register", "--credentials", str(creds), "--source-ip", self.source_ip, "--dns", dns,
                        "--hostname", self.name)


def private_vault(s: Server, tmp: Path) -> tuple[str, Path]:
    """A new vault denying public access, vm-net with its subnet, an integrated endpoint; credentials."""
    vid = s.ok("vault", "create", "prod", "--region", "local-1")["id"]
    s.ok("vault", "update", "prod", "--public-network-access", "Disabled")
    s.ok("vnet", "create", "vm-net", "--region", "local-1", "--address-space", "127.10.0.0/16",
         "--subnet", "default=127.10.1.0/24")
    s.ok("endpoint", "create", "--name", "pe1", "--region", "local-1", "--vault", "prod", "--group-id",
         "AzureBackup", "--vnet", "vm-net", "--subnet", "default", "--dns-integration")
    creds = tmp / "prod.vaultcredentials"
    r = s.cli("vault", "credentials", "prod", "-o", str(creds), json_out=False)
    assert r.exit_code == 0, r.stderr
    return vid, creds


def registered_vm(s: Server, tmp: Path, name: str = "vm-a", ip: str = VM) -> tuple[Vm, Path]:
    """A private vault (``private_vault``) and machine ``name`` registered through its endpoint; the credentials."""
    _vid, creds = private_vault(s, tmp)
    vm = Vm(s, tmp, name, ip)
    r = vm.register(creds, f"127.0.0.1:{s.info['dns_port']}")
    assert r.exit_code == 0, r.stdout + r.stderr
    return vm, creds


def ip_names(s: Server, endpoint: str) -> dict[str, str]:
    return {c["public_name"]: c["ip"] for c in s.ok("endpoint", "show", endpoint)["ip_configs"]}


def start_dnsmasq(tmp: Path, server: Server, forwarded: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """A customer's dnsmasq at DNS_VM forwarding only the ``forwarded`` names (and names under them) to
    the vaultlink responder, from DNS_VM; everything else under the service domain is NXDOMAIN."""
    exe = shutil.which("dnsmasq")
    if exe is None:
        pytest.skip("dnsmasq is missing: apt-get install -y dnsmasq")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((DNS_VM, 0))
        port = int(sock.getsockname()[1])
    up = f"127.0.0.1#{server.info['dns_port']}@{DNS_VM}"
    conf = tmp / f"dnsmasq-{port}.conf"
    conf.write_text("".join(f"server=/{n}/{up}\n" for n in forwarded) + f"local=/{D}/\n")
    args = [exe, "-k", f"--conf-file={conf}", "--no-resolv", "--no-hosts", "--bind-interfaces", "--user=root",
            f"--listen-address={DNS_VM}", f"--port={port}", "--pid-file=", "--cache-size=0"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((DNS_VM, port))
            except OSError:
                return proc, port  # dnsmasq holds the port
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("dnsmasq did not start")


@pytest.fixture
def small_accounts(tmp_path: Path) -> Iterator[Server]:
    """A server whose storage accounts hold 20 MiB before the vault grows another."""
    cfg = tmp_path / "vaultlink.toml"
    cfg.write_text(f"storage_account_max_bytes = {20 << 20}\n")
    srv = start_server(tmp_path / "data", ("--config", str(cfg)))
    try:
        yield srv
    finally:
        stop_server(srv)


def test_vault_grows_storage_accounts_and_custom_dns_must_follow(small_accounts: Server, tmp_path: Path) -> None:
    s = small_accounts
    vid, creds = private_vault(s, tmp_path)
    backup_name = f"{vid}.l1.backup.{D}"
    # the customer's DNS server forwards the vault's name and the storage names known today
    vm = Vm(s, tmp_path, "vm1", VM)
    reg = vm.register(creds, f"127.0.0.1:{s.info['dns_port']}")
    assert reg.exit_code == 0, (reg.stdout, reg.stderr)
    first = reg.json["storage_accounts"]
    assert len(first) == 1
    known = list(ip_names(s, "pe1"))
    assert len(known) == 3 and backup_name in known  # backup + blob + queue of the first account
    forwarded = [f"l1.backup.{D}"] + [n for n in known if n != backup_name]
    forwarded += [n.replace(".blob.", ".privatelink.blob.").replace(".queue.", ".privatelink.queue.")
                  for n in known if n != backup_name]
    proc, port = start_dnsmasq(tmp_path, s, forwarded)
    try:
        again = vm.register(creds, f"{DNS_VM}:{port}")  # the machine now uses the customer's server
        assert again.exit_code == 0 and again.json["new"] is False, (again.stdout, again.stderr)
        assert vm.ok("status")["dns"] == f"{DNS_VM}:{port}"

        src = make_data(tmp_path / "src", 48)
        r = vm.run("backup", str(src))
        # the vault outgrew its first account during the backup; the new names are not forwarded
        assert r.exit_code != 0 and r.error_code == "NameNotResolved", (r.stdout, r.stderr)
        accounts = s.ok("vault", "show", "prod")["storage_accounts"]
        assert len(accounts) >= 2 and accounts[0] == first[0]
        new = accounts[1]
        message = r.json["error"]["message"]
        assert f"{new}.blob.{D}" in message and f"{new}.privatelink.blob.{D}" in message, message
        assert f"zone privatelink.blob.{D}" in message and "dns-config" in message, message
        assert s.ok("recovery-point", "list", "prod") == [], "a failed backup leaves no recovery point"
    finally:
        proc.kill()
        proc.wait(10)

    # the endpoint gained IPs for the new account and integrated DNS answers them inside the vnet
    names = ip_names(s, "pe1")
    assert len(names) == 1 + 2 * len(accounts)
    for acct in accounts:
        for kind in ("blob", "queue"):
            ip = names[f"{acct}.{kind}.{D}"]
            assert ip.startswith("127.10.1.")
            assert dig(s, f"{acct}.{kind}.{D}", VM) == [f"{acct}.privatelink.{kind}.{D}.", ip]
            assert dig(s, f"{acct}.{kind}.{D}", "127.0.0.1")[-1] == "127.0.0.1"
    hosts = s.cli("endpoint", "dns-config", "pe1", "--format", "hosts", json_out=False)
    assert hosts.exit_code == 0, hosts.stderr
    lines = set(hosts.stdout.splitlines())
    assert f"{names[f'{new}.blob.{D}']} {new}.privatelink.blob.{D}" in lines
    assert f"{names[f'{new}.queue.{D}']} {new}.blob.{D}".replace(".blob.", ".queue.") in lines
    as_json = s.ok("endpoint", "dns-config", "pe1", "--format", "json")
    assert f"{new}.privatelink.blob.{D}" in str(as_json)

    # the customer forwards the whole service domain now: the backup finishes and restores
    proc, port = start_dnsmasq(tmp_path, s, [D])
    try:
        assert vm.register(creds, f"{DNS_VM}:{port}").exit_code == 0
        b = vm.ok("backup", str(src))
        assert b["stats"]["files"] == 13
        assert b["stats"]["bytes_new"] < b["stats"]["bytes_total"], "what reached the first account is reused"
        rp = b["recovery_point"]["id"]
        vm.ok("restore", rp, "--target", str(tmp_path / "out"))
        assert tree(tmp_path / "out" / "src") == tree(src)
    finally:
        proc.kill()
        proc.wait(10)
    usage = s.ok("vault", "show", "prod")["storage_accounts"]
    assert len(usage) >= 2


def test_reregistration_after_the_endpoint_goes(server: Server, tmp_path: Path) -> None:
    s = server
    vid, creds = private_vault(s, tmp_path)
    dns = f"127.0.0.1:{s.info['dns_port']}"
    public = f"{vid}.l1.backup.{D}"
    # a second endpoint in the same vnet: the newer one's record wins the vault's name
    pe2 = s.ok("endpoint", "create", "--name", "pe2", "--region", "local-1", "--vault", "prod", "--group-id",
               "AzureBackup", "--vnet", "vm-net", "--subnet", "default", "--dns-integration")
    assert dig(s, public, VM)[-1] == pe2["ip_configs"][0]["ip"]
    vm = Vm(s, tmp_path, "vm1", VM)
    assert vm.register(creds, dns).exit_code == 0
    src = make_data(tmp_path / "src", 8)
    rp1 = vm.ok("backup", str(src))["recovery_point"]["id"]
    (src / "later.txt").write_text("a second recovery point\n")
    rp2 = vm.ok("backup", str(src))["recovery_point"]["id"]
    before = vm.ok("recovery-points")
    assert [r["id"] for r in before] == [rp1, rp2] or [r["id"] for r in before] == [rp2, rp1]
    listed_before = s.ok("recovery-point", "list", "prod")

    # the endpoint the container registered through goes: the name falls back to pe1, and every
    # data-plane call of this container is refused until it registers again
    s.ok("endpoint", "delete", "pe2")
    assert dig(s, public, VM)[-1] == ip_names(s, "pe1")[public]
    for args in (("recovery-points",), ("backup", str(src)), ("restore", rp1, "--target", str(tmp_path / "x"))):
        r = vm.run(*args)
        assert (r.exit_code, r.error_code) == (3, "ContainerReregistrationRequired"), (args, r.stdout, r.stderr)
    assert "register" in r.json["error"]["message"]
    assert not (tmp_path / "x").exists()
    denied = s.ok("audit", "list", "--vault", "prod", "--code", "ContainerReregistrationRequired")
    assert len(denied) >= 3 and all(e["source_ip"] == VM for e in denied)
    assert s.ok("recovery-point", "list", "prod") == listed_before, "protection and recovery points untouched"

    # a new endpoint, register again: service restored, the same container, the history intact
    s.ok("endpoint", "create", "--name", "pe3", "--region", "local-1", "--vault", "prod", "--group-id",
         "AzureBackup", "--vnet", "vm-net", "--subnet", "default", "--dns-integration")
    again = vm.register(creds, dns)
    assert again.exit_code == 0 and again.json["new"] is False, (again.stdout, again.stderr)
    after = vm.ok("recovery-points")
    assert sorted(r["id"] for r in after) == sorted(r["id"] for r in before)
    b = vm.ok("backup", str(src))
    assert b["stats"]["files_unchanged"] == b["stats"]["files"], "the previous recovery point is still the parent"
    vm.ok("restore", rp1, "--target", str(tmp_path / "out"))
    restored = tree(tmp_path / "out" / "src")
    assert restored == {k: v for k, v in tree(src).items() if k != "later.txt"}
    assert len(s.ok("recovery-point", "list", "prod")) == 3
