"""``vaultlink dns forwarders`` (issue #19, the Azure seed's custom DNS and SQL availability groups): the
dnsmasq and Unbound configurations it prints, fed unchanged to real servers (Debian's) running as the
group's own DNS server at an address in the vnet, resolve the vault's backup name to the private endpoint's
address. Neither server ever asks the host's resolver (no upstream but the responder)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from tests.conftest import Server
from tests.e2e.test_private_backup import ip_names, private_vault

DNS_VM = "127.10.1.53"


def free_udp(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def dig(port: int, name: str) -> list[str]:
    out = subprocess.run(["dig", "-b", DNS_VM, f"@{DNS_VM}", "-p", str(port), name, "+short", "+time=2",
                          "+tries=1"], capture_output=True, text=True, timeout=15).stdout
    return [line for line in out.split() if line[0].isdigit()]


def serving(proc: subprocess.Popen[bytes], port: int, name: str, want: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the DNS server exited"
        if want in dig(port, name):
            return
        time.sleep(0.3)
    raise AssertionError(f"{name} did not resolve to {want} through the forwarder")


def answered(port: int, name: str) -> list[str]:
    """The addresses of the first answer within 10 s. Under a loaded CI one query through Unbound once got no
    address (``dig +short`` printed nothing: a timeout or a SERVFAIL, the test could not tell which); an
    empty result is asked again, a wrong one is returned as it is."""
    deadline = time.monotonic() + 10
    got = dig(port, name)
    while not got and time.monotonic() < deadline:
        time.sleep(0.3)
        got = dig(port, name)
    return got


def forwarders(s: Server, fmt: str) -> str:
    r = s.cli("dns", "forwarders", "prod", "--format", fmt, "--source", DNS_VM, json_out=False)
    assert r.exit_code == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("server_kind", ["dnsmasq", "unbound"])
def test_the_printed_forwarders_work_in_a_real_dns_server(server: Server, tmp_path: Path, server_kind: str) -> None:
    s = server
    private_vault(s, tmp_path)
    names = ip_names(s, "pe1")
    backup_name = next(n for n in names if ".backup." in n)
    config = forwarders(s, server_kind)
    port = free_udp(DNS_VM)
    conf = tmp_path / f"{server_kind}.conf"
    if server_kind == "dnsmasq":
        exe = shutil.which("dnsmasq")
        assert exe, "dnsmasq is missing: scripts/install-system-deps.sh installs it"
        assert f"#{s.info['dns_port']}@{DNS_VM}" in config
        conf.write_text(config)
        argv = [exe, "-k", f"--conf-file={conf}", "--no-resolv", "--no-hosts", "--bind-interfaces", "--user=root",
                f"--listen-address={DNS_VM}", f"--port={port}", "--pid-file=", "--cache-size=0"]
    else:
        exe = shutil.which("unbound") or "/usr/sbin/unbound"
        assert Path(exe).exists(), "unbound is missing: scripts/install-system-deps.sh installs it"
        assert "forward-zone:" in config and f"outgoing-interface: {DNS_VM}" in config
        conf.write_text(
            f"server:\n    interface: {DNS_VM}\n    port: {port}\n    do-daemonize: no\n    username: \"\"\n"
            f"    chroot: \"\"\n    directory: \"{tmp_path}\"\n    pidfile: \"\"\n    use-syslog: no\n"
            "    access-control: 127.0.0.0/8 allow\n    do-ip6: no\n    module-config: \"iterator\"\n"
            "    cache-max-ttl: 0\n    root-hints: \"\"\n" + config)
        check = subprocess.run([str(Path(exe).parent / "unbound-checkconf"), str(conf)], capture_output=True,
                               text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        argv = [exe, "-d", "-c", str(conf)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        serving(proc, port, backup_name, names[backup_name])
        assert answered(port, backup_name) == [names[backup_name]]  # exactly that address, nothing more
    finally:
        proc.terminate()
        proc.wait(10)


def test_every_format_names_the_three_zones(server: Server, tmp_path: Path) -> None:
    s = server
    private_vault(s, tmp_path)
    shown = s.ok("dns", "forwarders", "prod", "--target", "10.0.0.4")
    assert shown["zones"] == [z for z in shown["zones"]] and len(shown["zones"]) == 3
    assert any(".backup." in z for z in shown["zones"]) and shown["target"] == "10.0.0.4:53"
    for fmt, marker in (("bind", "type forward;"), ("windows", "Add-DnsServerConditionalForwarderZone")):
        text = s.cli("dns", "forwarders", "prod", "--format", fmt, "--target", "10.0.0.4", json_out=False).stdout
        assert all(z in text for z in shown["zones"]) and marker in text
    bad = s.cli("dns", "forwarders", "prod", "--target", "not-an-ip")
    assert bad.error_code == "InvalidInput"
