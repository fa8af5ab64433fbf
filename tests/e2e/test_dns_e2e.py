"""Private DNS end to end: a real `vaultlink serve`, the real CLI, and real `dig` asking as a VM.

A VM is any address in a vnet's range (`dig -b 127.50.1.9`); the internet is 127.0.0.1.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import Server

VM = "127.50.1.9"
INTERNET = "127.0.0.1"
D = "vaultlink.internal"


def dig(server: Server, name: str, source: str, *args: str) -> list[str]:
    path = shutil.which("dig")
    if path is None:
        pytest.skip("dig is missing: apt-get install -y bind9-dnsutils")
    cmd = [path, "-b", source, "@127.0.0.1", "-p", str(server.info["dns_port"]), name, "+short", *args]
    cmd += ["+time=2", "+tries=2"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout.split()


def customer_dnsmasq(tmp: Path, server: Server, source: str) -> tuple[subprocess.Popen[bytes], int]:
    """A customer's dnsmasq at ``source`` forwarding the whole service domain from ``source``."""
    exe = shutil.which("dnsmasq")
    if exe is None:
        pytest.skip("dnsmasq is missing: apt-get install -y dnsmasq")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        port = int(sock.getsockname()[1])
    conf = tmp / "dnsmasq.conf"
    conf.write_text(f"server=/{D}/127.0.0.1#{server.info['dns_port']}@{source}\n")
    args = [exe, "-k", f"--conf-file={conf}", "--no-resolv", "--no-hosts", "--bind-interfaces", "--user=root"]
    args += [f"--listen-address={source}", f"--port={port}", "--pid-file=", "--cache-size=0"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((source, port))
            except OSError:
                return proc, port  # dnsmasq holds the port
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("dnsmasq did not start")


def refused(r: Any, code: str) -> None:
    assert r.exit_code == 2 and r.error_code == code, (r.stdout, r.stderr)


def test_endpoint_with_dns_integration_answers_privately_inside_the_vnet(server: Server, tmp_path: Path) -> None:
    s = server
    assert s.info["dns_address"] == "127.0.0.1" and s.info["dns_port"] > 0
    vid = s.ok("vault", "create", "v1", "--region", "local-1")["id"]
    public, private = f"{vid}.l1.backup.{D}", f"{vid}.privatelink.l1.backup.{D}"
    zone = f"privatelink.l1.backup.{D}"
    assert dig(s, public, VM) == [private + ".", INTERNET], "before the endpoint: public everywhere"
    subnet = ("--subnet", "s=127.50.1.0/24")
    s.ok("vnet", "create", "net1", "--region", "local-1", "--address-space", "127.50.0.0/16", *subnet)
    ep = s.ok(
        "endpoint", "create", "--name", "pe1", "--region", "local-1", "--vnet", "net1", "--subnet", "s",
        "--vault", "v1", "--group-id", "AzureBackup",
    )  # fmt: skip
    ip = ep["ip_configs"][0]["ip"]
    assert dig(s, public, VM) == [private + ".", ip]
    assert dig(s, public, VM, "+tcp") == [private + ".", ip]
    assert dig(s, public, INTERNET) == [private + ".", INTERNET]
    # a customer's own DNS server inside the vnet, forwarding the whole service domain from there
    proc, port = customer_dnsmasq(tmp_path, s, "127.50.1.53")
    try:
        via = subprocess.run(
            ["dig", "-b", VM, "@127.50.1.53", "-p", str(port), public, "+short", "+time=2", "+tries=2"],
            capture_output=True, text=True, timeout=30, check=False,
        ).stdout.split()  # fmt: skip
        assert via == [private + ".", ip]
    finally:
        proc.kill()
        proc.wait(10)
    hosts = s.cli("endpoint", "dns-config", "pe1", "--format", "hosts", json_out=False)
    assert hosts.exit_code == 0 and hosts.stdout.splitlines() == [f"{ip} {public}", f"{ip} {private}"]
    why = s.ok("dns", "check", "--from", VM, public)
    assert why["addresses"] == [ip] and why["private"] and why["steps"][1]["zone"] == zone
    assert s.ok("dns", "doctor", "v1")["ok"] is True

    # bad zone/record input: clear codes, stored data untouched
    before = s.ok("dns", "zone", "show", zone)
    refused(s.cli("dns", "record", "set", zone, "x", "A", "999.1.1.1"), "InvalidRecord")
    refused(s.cli("dns", "record", "set", zone, "x.example.org.", "A", "127.50.1.4"), "RecordOutsideZone")
    refused(s.cli("dns", "record", "set", zone, vid, "CNAME", "elsewhere.example"), "CnameConflict")
    refused(s.cli("dns", "zone", "create", "bad name!"), "InvalidName")
    assert s.ok("dns", "zone", "show", zone) == before

    # the endpoint goes: its record goes with it
    s.ok("endpoint", "delete", "pe1")
    assert dig(s, public, VM) == [private + ".", INTERNET]

    # every management call was audited, refusals included
    with s.http() as h:
        events = h.get("/audit", params={"limit": 1000}).json()
    actions = [(e["action"], e["decision"]) for e in events]
    assert actions.count(("dns.record.set", "denied")) == 3
    assert ("dns.zone.create", "denied") in actions and ("dns.check", "allowed") in actions
    assert ("endpoint.dns-config", "allowed") in actions and ("dns.doctor", "allowed") in actions
    assert any(e["action"] == "dns.auto" for e in events), "automatic record changes are audited too"


def test_own_zone_link_with_fallback_through_the_cli(server: Server) -> None:
    s = server
    s.ok("vnet", "create", "net1", "--region", "local-1", "--address-space", "127.50.0.0/16")
    vid = s.ok("vault", "create", "v1", "--region", "local-1")["id"]
    zone = f"privatelink.l1.backup.{D}"
    s.ok("dns", "zone", "create", zone)
    s.ok("dns", "record", "set", zone, "other", "A", "127.50.1.44")
    s.ok("dns", "link", "add", zone, "--vnet", "net1", "--fallback-to-public")
    assert dig(s, f"other.{zone}", VM) == ["127.50.1.44"]
    assert dig(s, f"other.{zone}", INTERNET) == [], "outside the vnet the zone does not exist"
    # the vault's name has no record in the zone: the link falls back to the public answer
    assert dig(s, f"{vid}.l1.backup.{D}", VM)[-1] == INTERNET
    assert s.cli("dns", "zone", "delete", zone).error_code == "DnsZoneInUse"
    s.ok("dns", "link", "remove", zone, "net1")
    assert dig(s, f"other.{zone}", VM) == []
    assert s.ok("dns", "zone", "delete", zone)["deleted"] is True
