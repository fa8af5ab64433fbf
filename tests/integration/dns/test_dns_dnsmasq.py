"""A customer's own DNS server (real dnsmasq) forwarding the privatelink zones to the responder.

dnsmasq runs as a VM inside vnet1 (127.10.1.53) and forwards from that address
(``server=/zone/ip#port@source``), so the responder classifies its queries as vnet1's; a VM
(127.10.1.5) that uses the dnsmasq gets the private IP.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dns_live import V1, V1_PL, Running, need, short

from vaultlink.dns import names as N

DNSMASQ_IP = "127.10.1.53"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _start_dnsmasq(tmp_path: Path, lines: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    exe = need("dnsmasq", "dnsmasq")
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text("\n".join(lines) + "\n")
    port = _free_port(DNSMASQ_IP)
    log = open(tmp_path / "dnsmasq.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            exe,
            "--keep-in-foreground",
            f"--conf-file={conf}",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            f"--listen-address={DNSMASQ_IP}",
            f"--port={port}",
            "--user=root",
            "--pid-file=",
            "--cache-size=0",
            "--log-queries",
            "--log-facility=-",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "dnsmasq.log").read_text())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((DNSMASQ_IP, port))
            except OSError:
                return proc, port  # dnsmasq holds the port: it is up
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("dnsmasq did not start")


@pytest.fixture
def dnsmasq_forwarder(running: Running, tmp_path: Path) -> Iterator[int]:
    upstream = f"127.0.0.1#{running.port}"
    lines = [
        # the privatelink zones: forwarded from an address inside the vnet
        f"server=/{N.vault_privatelink_zone('ge')}/{upstream}@{DNSMASQ_IP}",
        f"server=/{N.blob_privatelink_zone()}/{upstream}@{DNSMASQ_IP}",
        # the rest of the service's names: public resolution (from the internet side)
        f"server=/vaultlink.internal/{upstream}@127.0.0.1",
    ]
    proc, port = _start_dnsmasq(tmp_path, lines)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_vm_using_its_dnsmasq_gets_the_private_ip(running: Running, dnsmasq_forwarder: int) -> None:
    answer = short(dnsmasq_forwarder, V1_PL, server=DNSMASQ_IP)
    assert answer == ["127.10.1.4"]
    blob = short(dnsmasq_forwarder, N.blob_privatelink_name("acct1"), server=DNSMASQ_IP)
    assert blob == ["127.10.1.6"]


def test_public_names_through_dnsmasq_resolve_publicly_when_forwarded_from_outside(
    running: Running, dnsmasq_forwarder: int
) -> None:
    # the public name goes to "public DNS" (the responder asked from 127.0.0.1), which follows the
    # CNAME as the internet sees it: this is why the whole domain must be forwarded from the vnet
    assert short(dnsmasq_forwarder, V1, server=DNSMASQ_IP) == [V1_PL + ".", "127.0.0.1"]


def test_forwarding_the_whole_domain_from_the_vnet_gives_the_private_ip(
    running: Running, tmp_path: Path
) -> None:
    lines = [f"server=/vaultlink.internal/127.0.0.1#{running.port}@{DNSMASQ_IP}"]
    proc, port = _start_dnsmasq(tmp_path, lines)
    try:
        assert short(port, V1, server=DNSMASQ_IP) == [V1_PL + ".", "127.10.1.4"]
    finally:
        proc.terminate()
        proc.wait(10)
