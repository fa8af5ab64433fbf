"""The agent's resolver against a tiny DNS server on loopback: CNAME chase, source address, and the
error that names the missing FQDN and the record to add."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from dnslib import CNAME, QTYPE, RCODE, RR, A, DNSRecord

from vaultlink.agent.resolver import DnsResolver, parse_hostport
from vaultlink.errors import InvalidInput, NameNotResolved, ServiceUnavailable

D = "vaultlink.internal"
RECORDS = {
    f"v1.l1.backup.{D}": ("CNAME", f"v1.privatelink.l1.backup.{D}"),
    f"v1.privatelink.l1.backup.{D}": ("A", "127.10.1.4"),
    f"sabc.blob.{D}": ("CNAME", f"sabc.privatelink.blob.{D}"),  # no A record behind it
}


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    askers: list[str] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(4096)
            except TimeoutError:
                continue
            askers.append(addr[0])
            q = DNSRecord.parse(data)
            r = q.reply()
            name = str(q.q.qname).rstrip(".")
            while name in RECORDS:
                kind, value = RECORDS[name]
                if kind == "A":
                    r.add_answer(RR(name + ".", QTYPE.A, rdata=A(value), ttl=60))
                    break
                r.add_answer(RR(name + ".", QTYPE.CNAME, rdata=CNAME(value + "."), ttl=60))
                name = value
            else:
                r.header.rcode = RCODE.NXDOMAIN
            sock.sendto(r.pack(), addr)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    yield f"127.0.0.1:{sock.getsockname()[1]}", askers
    stop.set()
    th.join(timeout=2)
    sock.close()


def test_follows_cname_to_private_ip_and_asks_from_source(server: tuple[str, list[str]]) -> None:
    addr, askers = server
    r = DnsResolver(addr, "127.10.1.5", D)
    assert r.resolve(f"v1.l1.backup.{D}") == "127.10.1.4"
    assert askers == ["127.10.1.5"]
    r.resolve(f"v1.l1.backup.{D}")  # cached
    assert len(askers) == 1


def test_missing_record_names_fqdn_and_record(server: tuple[str, list[str]]) -> None:
    addr, _ = server
    with pytest.raises(NameNotResolved) as ei:
        DnsResolver(addr, "127.10.1.5", D).resolve(f"sabc.blob.{D}")
    msg = ei.value.message
    assert f"sabc.privatelink.blob.{D}" in msg and f"zone privatelink.blob.{D}" in msg
    assert ei.value.details["fqdn"] == f"sabc.privatelink.blob.{D}"


def test_nxdomain_for_public_name_suggests_privatelink_record(server: tuple[str, list[str]]) -> None:
    addr, _ = server
    with pytest.raises(NameNotResolved) as ei:
        DnsResolver(addr, "127.0.0.1", D).resolve(f"sxyz.queue.{D}")
    assert f"sxyz.privatelink.queue.{D}" in ei.value.message and "NXDOMAIN" in ei.value.message


def test_silent_server_is_service_unavailable() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        with pytest.raises(ServiceUnavailable):
            DnsResolver(f"127.0.0.1:{sock.getsockname()[1]}", "127.0.0.1", D, timeout=0.3).resolve(f"a.blob.{D}")
    finally:
        sock.close()


def test_parse_hostport() -> None:
    assert parse_hostport("127.0.0.1:8453") == ("127.0.0.1", 8453)
    assert parse_hostport("127.0.0.1") == ("127.0.0.1", 53)
    with pytest.raises(InvalidInput):
        parse_hostport("127.0.0.1:xx")
