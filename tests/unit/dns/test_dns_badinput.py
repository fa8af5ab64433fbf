"""Bad packets: FORMERR/NOTIMP/REFUSED or silence, never an exception, never SERVFAIL."""

from __future__ import annotations

import random
import struct
import time

import pytest
from dns_world import VNET1_VM, rdata
from dnslib import EDNS0, RCODE, DNSRecord

from vaultlink.dns import names as N
from vaultlink.dns.responder import Responder

V1 = N.vault_public_name("v1", "ge")


def qname(name: str) -> bytes:
    return b"".join(bytes([len(x)]) + x for x in name.encode().split(b".")) + b"\x00"


def header(
    qid: int = 0xBEEF, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0
) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def query(name: str = V1, qtype: int = 1, qclass: int = 1, **kw: int) -> bytes:
    return header(**kw) + qname(name) + struct.pack("!HH", qtype, qclass)


def rcode_of(reply: bytes | None) -> str:
    assert reply is not None and len(reply) >= 12
    assert reply[:2] == b"\xbe\xef" and reply[2] & 0x80  # our id, QR set
    return str(RCODE[reply[3] & 0xF])


def test_runts_and_responses_get_no_reply(responder: Responder) -> None:
    for packet in (b"", b"\x00", b"\xbe\xef" + b"\x00" * 9):
        assert responder.answer(packet, VNET1_VM) is None
    assert responder.answer(query(flags=0x8100), VNET1_VM) is None  # a response: no reflection


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (query(flags=0x2100), "NOTIMP"),  # opcode NOTIFY
        (query(flags=0x2900), "NOTIMP"),  # opcode UPDATE
        (query(qd=0), "FORMERR"),
        (query(qd=2), "FORMERR"),
        (header() + b"\xc0\x0c" + b"\x00\x01\x00\x01", "FORMERR"),  # pointer loop in the question
        (header() + b"\x03abc\xc0\x0c\x00\x01\x00\x01", "FORMERR"),  # pointer back into the name
        (header() + b"\x05ab", "FORMERR"),  # truncated label
        (header() + qname(V1), "FORMERR"),  # no type and class
        (header() + b"\x41" + b"a" * 65 + b"\x00\x00\x01\x00\x01", "FORMERR"),  # extended label type
        (header() + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01", "FORMERR"),  # name > 255
        (query(qclass=3), "NOTIMP"),  # CHAOS
        (query(qclass=255), "NOTIMP"),
        (query(qtype=252), "REFUSED"),  # AXFR
        (query(qtype=41), "FORMERR"),  # OPT as a question
        (query() + b"\x00" * 5000, "FORMERR"),  # oversize
        (query() + b"junk", "FORMERR"),  # trailing bytes
        (query(ar=1), "FORMERR"),  # announced record missing
        (query(ar=2) + (b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00") * 2, "FORMERR"),  # two OPTs
        (query(an=1) + b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00", "FORMERR"),  # OPT in answers
    ],
)
def test_bad_queries_get_error_rcodes(responder: Responder, packet: bytes, expected: str) -> None:
    assert rcode_of(responder.answer(packet, VNET1_VM)) == expected


def test_edns_version_1_gets_badvers(responder: Responder) -> None:
    q = DNSRecord.question(V1)
    q.add_ar(EDNS0(version=1))
    reply = DNSRecord.parse(responder.answer(bytes(q.pack()), VNET1_VM) or b"")
    opt = reply.ar[0]
    assert (opt.ttl >> 24) << 4 | reply.header.rcode == 16  # BADVERS
    assert not reply.rr


def test_unknown_additional_records_with_compressed_names_are_skipped(responder: Responder) -> None:
    extra = b"\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x00\x00\x03\x02hi"  # TXT owned by a pointer
    reply = responder.answer(query(ar=1) + extra, VNET1_VM)
    assert rcode_of(reply) == "NOERROR"


def _mutations(rng: random.Random, seeds: list[bytes]) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 600))
    base = bytearray(rng.choice(seeds))
    if kind == 1:
        return bytes(base[: rng.randrange(len(base) + 1)])
    if kind == 2:
        for _ in range(rng.randrange(1, 6)):
            pos = rng.randrange(len(base))
            base[pos] = rng.randrange(256)
        return bytes(base)
    return bytes(base[:12]) + rng.randbytes(rng.randrange(0, 300))


def test_fuzz_never_raises_and_answers_correctly_after(responder: Responder) -> None:
    rng = random.Random(20261123)
    seeds = [query(), query(N.blob_public_name("acct1"), 28)]
    q = DNSRecord.question(V1, "TXT")
    q.add_ar(EDNS0(udp_len=1400))
    seeds.append(bytes(q.pack()))
    deadline = time.monotonic() + 20
    count = 0
    for count in range(1, 30_001):
        packet = _mutations(rng, seeds)
        reply = responder.answer(
            packet, VNET1_VM if count % 2 else "127.0.0.9", "udp" if count % 3 else "tcp"
        )
        if reply is not None:
            assert len(reply) >= 12 and reply[:2] == packet[:2] and reply[2] & 0x80
            # NOERROR, FORMERR, NXDOMAIN, NOTIMP, REFUSED; never SERVFAIL (= an internal error)
            assert reply[3] & 0xF in (0, 1, 3, 4, 5), f"rcode {reply[3] & 0xF} for {packet.hex()}"
        if time.monotonic() > deadline:
            break
    assert count > 5000
    good = DNSRecord.parse(responder.answer(bytes(DNSRecord.question(V1).pack()), VNET1_VM) or b"")
    assert rdata(good)[-1] == "127.10.1.4"
