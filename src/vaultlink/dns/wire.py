"""Strict, bounded parsing of DNS queries and building of error replies (pure).

Only what a query needs is parsed: the header, exactly one question (whose name may not be
compressed: the only thing before it is the header, so any pointer there is bogus, which also
rules out pointer loops) and the records after it, skipped by their lengths, to find one EDNS0
OPT record. Every bound is checked; nothing here loops more than the packet's length.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# rcodes
NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5
BADVERS = 16

# types and classes
TYPE_A = 1
TYPE_NS = 2
TYPE_CNAME = 5
TYPE_SOA = 6
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_OPT = 41
TYPE_IXFR = 251
TYPE_AXFR = 252
TYPE_MAILB = 253
TYPE_MAILA = 254
TYPE_ANY = 255
CLASS_IN = 1

HEADER = struct.Struct("!2sHHHHH")
MAX_QUERY_SIZE = 4096  # larger queries are answered FORMERR
MAX_NAME_WIRE = 255
SAFE_LABEL_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_*")


class WireError(Exception):
    """A query that gets an error reply (``rcode``) or none (``rcode`` None)."""

    def __init__(self, rcode: int | None, question_end: int = 0) -> None:
        super().__init__(rcode)
        self.rcode = rcode
        self.question_end = question_end


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query. ``labels`` are lower-cased; ``name`` is their text (``weird`` if unsafe)."""

    qid: bytes
    flags: int
    labels: tuple[bytes, ...]
    name: str
    weird: bool
    qtype: int
    qclass: int
    question_end: int
    edns: bool
    edns_version: int
    udp_size: int


def _skip_name(packet: bytes, off: int) -> int:
    """Skip a possibly compressed name; return the offset after it (pointers end a name)."""
    n = len(packet)
    total = 0
    while True:
        if off >= n:
            raise WireError(FORMERR)
        length = packet[off]
        if length & 0xC0 == 0xC0:
            if off + 2 > n:
                raise WireError(FORMERR)
            return off + 2
        if length & 0xC0:
            raise WireError(FORMERR)
        off += 1
        if length == 0:
            return off
        off += length
        total += length + 1
        if total > MAX_NAME_WIRE:
            raise WireError(FORMERR)


def parse_query(packet: bytes) -> Query:
    """Parse a query or raise WireError (rcode None: drop silently)."""
    n = len(packet)
    if n < 12:
        raise WireError(None)
    qid, flags, qd, an, ns, ar = HEADER.unpack_from(packet)
    if flags & 0x8000:
        raise WireError(None)  # a response: never answer it (no reflection loops)
    if n > MAX_QUERY_SIZE:
        raise WireError(FORMERR)
    if (flags >> 11) & 0xF != 0:
        raise WireError(NOTIMP)
    if qd != 1:
        raise WireError(FORMERR)
    off = 12
    labels: list[bytes] = []
    total = 1
    while True:
        if off >= n:
            raise WireError(FORMERR)
        length = packet[off]
        if length & 0xC0:
            raise WireError(FORMERR)  # compressed or extended label in the question
        off += 1
        if length == 0:
            break
        total += length + 1
        if total > MAX_NAME_WIRE or off + length > n:
            raise WireError(FORMERR)
        labels.append(packet[off : off + length].lower())
        off += length
    if off + 4 > n:
        raise WireError(FORMERR)
    qtype, qclass = struct.unpack_from("!HH", packet, off)
    off += 4
    question_end = off
    edns = False
    version = 0
    udp_size = 512
    for index in range(an + ns + ar):
        start = off
        off = _skip_name(packet, off)
        if off + 10 > n:
            raise WireError(FORMERR, question_end)
        rtype, rclass, ttl, rdlen = struct.unpack_from("!HHIH", packet, off)
        off += 10 + rdlen
        if off > n:
            raise WireError(FORMERR, question_end)
        if rtype == TYPE_OPT:
            if edns or index < an + ns or packet[start] != 0:
                raise WireError(FORMERR, question_end)
            edns = True
            udp_size = max(512, rclass)
            version = (ttl >> 16) & 0xFF
    if off != n:
        raise WireError(FORMERR, question_end)
    weird = any(not SAFE_LABEL_BYTES.issuperset(lb) for lb in labels)
    if weird:
        name = ".".join(lb.decode("latin-1").encode("unicode_escape").decode("ascii") for lb in labels)
        name = "\\weird\\" + name
    else:
        name = b".".join(labels).decode("ascii")
    return Query(qid, flags, tuple(labels), name, weird, qtype, qclass, question_end, edns, version, udp_size)


def error_reply(packet: bytes, rcode: int, question_end: int = 0) -> bytes | None:
    """A bare reply with ``rcode``: id, opcode and RD echoed, the question when it was parsed."""
    if len(packet) < 12:
        return None
    qid, flags = struct.unpack_from("!2sH", packet)
    out_flags = 0x8000 | (flags & 0x7900) | (rcode & 0xF)  # QR + opcode + RD
    qd = 1 if question_end > 12 else 0
    head = HEADER.pack(qid, out_flags, qd, 0, 0, 0)
    return head + (packet[12:question_end] if qd else b"")
