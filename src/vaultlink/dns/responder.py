"""The DNS responder (pure: bytes in → bytes out).

``Responder(view).answer(packet, source_ip, transport)`` returns the reply to send, or None to
send nothing (runt packets, responses). It never raises. It is not thread-safe: call ``answer``
and ``update`` from one thread (the event loop that runs the server).

Speed comes from two caches, both dropped by :meth:`Responder.update`:

- *templates*, per (classified vnet, qname, qtype, EDNS, size limit): the packed reply with
  message id 0 and a lower-case question, from which a reply is made by patching the id and the
  RD/CD flags and splicing in the client's own question bytes (so its letter case is echoed);
- *replies*, per (source ip, packet without its id): the finished reply minus its 2-byte id, so a
  repeated query costs one dict lookup and one concatenation.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from dnslib import EDNS0, DNSHeader, DNSLabel, DNSQuestion, DNSRecord

from vaultlink.dns.model import DnsView
from vaultlink.dns.resolve import CompiledView, Resolution
from vaultlink.dns.wire import (
    BADVERS,
    CLASS_IN,
    FORMERR,
    NOTIMP,
    REFUSED,
    SERVFAIL,
    TYPE_AXFR,
    TYPE_IXFR,
    TYPE_MAILA,
    TYPE_MAILB,
    TYPE_OPT,
    Query,
    WireError,
    error_reply,
    parse_query,
)

Transport = Literal["udp", "tcp"]
EDNS_UDP_SIZE = 1232  # what we advertise (DNS flag day 2020)
MAX_UDP_SIZE = 4096  # the most we send over UDP, whatever the client offers
PLAIN_UDP_SIZE = 512
TCP_SIZE = 65535
MAX_CACHE = 65536


@dataclass(frozen=True, slots=True)
class Template:
    """A packed reply split around its question: flags, counts and what follows the question."""

    flags: int
    counts: bytes
    question_len: int
    tail: bytes
    whole: bytes


def _pack(q: Query, res: Resolution, edns: bool, limit: int) -> Template:
    header = DNSHeader(id=0, qr=1, rd=0, aa=int(res.aa), rcode=res.rcode & 0xF)
    rec = DNSRecord(header, q=DNSQuestion(DNSLabel(list(q.labels)), q.qtype, q.qclass))
    for rr in res.answer:
        rec.add_answer(rr)
    for rr in res.authority:
        rec.add_auth(rr)
    if edns:
        rec.add_ar(EDNS0(udp_len=EDNS_UDP_SIZE, ext_rcode=res.rcode >> 4))
    data = rec.pack()
    if len(data) > limit:
        header = DNSHeader(id=0, qr=1, rd=0, aa=int(res.aa), tc=1, rcode=res.rcode & 0xF)
        rec = DNSRecord(header, q=DNSQuestion(DNSLabel(list(q.labels)), q.qtype, q.qclass))
        if edns:
            rec.add_ar(EDNS0(udp_len=EDNS_UDP_SIZE, ext_rcode=res.rcode >> 4))
        data = rec.pack()
    qlen = q.question_end - 12
    return Template(struct.unpack_from("!H", data, 2)[0], data[4:12], qlen, data[12 + qlen :], data)


class Responder:
    """Answers DNS queries from a DnsView; call :meth:`update` with a new view when it changes."""

    def __init__(self, view: DnsView | CompiledView) -> None:
        self._compiled = view if isinstance(view, CompiledView) else CompiledView(view)
        self._replies: dict[tuple[str, bytes], bytes] = {}
        self._tcp_replies: dict[tuple[str, bytes], bytes] = {}
        self._templates: dict[tuple[str | None, str, int, int, bool, int], Template] = {}
        self._vnets: dict[str, str | None] = {}

    @property
    def view(self) -> DnsView:
        return self._compiled.view

    @property
    def compiled(self) -> CompiledView:
        """The indexed view served now (give it to the next ``CompiledView`` to reuse its zones)."""
        return self._compiled

    def update(self, view: DnsView | CompiledView) -> None:
        """Serve ``view`` from now on; every cached answer is dropped. Give a ``CompiledView`` built in
        another thread to keep the (O(records)) compilation off the event loop."""
        compiled = view if isinstance(view, CompiledView) else CompiledView(view)  # a bad view: the old one serves
        self._compiled = compiled
        self._replies = {}
        self._tcp_replies = {}
        self._templates = {}
        self._vnets = {}

    def classify(self, source_ip: str, domain: str = "") -> str | None:
        """The asker's vnet id, or None for the internet (``domain``: the routing domain the query arrived
        in; netns mode answers each vnet's DNS address in the vnet's own namespace)."""
        key = f"{domain}|{source_ip}" if domain else source_ip
        vnet = self._vnets.get(key, "")
        if vnet == "":
            vnet = self._compiled.classify(source_ip, domain)
            if len(self._vnets) >= MAX_CACHE:
                self._vnets.clear()
            self._vnets[key] = vnet
        return vnet

    def resolve(self, name: str, qtype: int, source_ip: str, domain: str = "") -> Resolution:
        """Resolve as the responder would for an asker at ``source_ip`` (for explanations)."""
        return self._compiled.resolve(name.lower().rstrip("."), qtype, self.classify(source_ip, domain))

    def in_domain(self, domain: str) -> Callable[[bytes, str, Transport], bytes | None]:
        """``answer`` for queries that arrive in routing domain ``domain`` (a listener in a vnet's namespace)."""
        answer = self.answer

        def answer_in(packet: bytes, source_ip: str, transport: Transport = "udp") -> bytes | None:
            return answer(packet, source_ip, transport, domain)

        return answer_in

    @property
    def udp_replies(self) -> dict[tuple[str, bytes], bytes]:
        """The UDP reply cache, (source address, query without its ID) -> reply without its ID: the UDP
        worker's hot loop looks a repeated query up here itself (one dict probe, one concatenation) and
        calls :meth:`answer` only on a miss, which fills it."""
        return self._replies

    def answer(self, packet: bytes, source_ip: str, transport: Transport = "udp", domain: str = "") -> bytes | None:
        if type(packet) is not bytes:
            packet = bytes(packet)
        cache = self._replies if transport == "udp" else self._tcp_replies
        key = (f"{domain}|{source_ip}" if domain else source_ip, packet[2:])
        hit = cache.get(key)
        if hit is not None:
            return packet[:2] + hit
        try:
            return self._answer(packet, source_ip, transport, cache, key, domain)
        except Exception:
            return error_reply(packet, SERVFAIL)

    def _answer(
        self,
        packet: bytes,
        source_ip: str,
        transport: Transport,
        cache: dict[tuple[str, bytes], bytes],
        key: tuple[str, bytes],
        domain: str = "",
    ) -> bytes | None:
        try:
            q = parse_query(packet)
        except WireError as err:
            return None if err.rcode is None else error_reply(packet, err.rcode, err.question_end)
        if q.qclass != CLASS_IN or q.qtype in (TYPE_MAILA, TYPE_MAILB):
            return error_reply(packet, NOTIMP, q.question_end)
        if q.qtype in (TYPE_AXFR, TYPE_IXFR):
            return error_reply(packet, REFUSED, q.question_end)
        if q.qtype == TYPE_OPT or q.qtype == 0:
            return error_reply(packet, FORMERR, q.question_end)
        if q.edns and q.edns_version > 0:
            res = Resolution(BADVERS, False, [], [])
            return q.qid + _pack(q, res, True, TCP_SIZE).whole[2:]
        if transport == "udp":
            limit = max(PLAIN_UDP_SIZE, min(q.udp_size, MAX_UDP_SIZE)) if q.edns else PLAIN_UDP_SIZE
        else:
            limit = TCP_SIZE
        vnet = self.classify(source_ip, domain)
        tkey = (vnet, q.name, q.qtype, q.qclass, q.edns, limit)
        tmpl = self._templates.get(tkey)
        if tmpl is None:
            res = self._compiled.resolve(q.name, q.qtype, vnet)
            tmpl = _pack(q, res, q.edns, limit)
            if len(self._templates) >= MAX_CACHE:
                self._templates.clear()
            self._templates[tkey] = tmpl
        flags = tmpl.flags | (q.flags & 0x0110)  # echo RD and CD
        if tmpl.question_len == q.question_end - 12:
            reply = q.qid + struct.pack("!H", flags) + tmpl.counts + packet[12 : q.question_end] + tmpl.tail
        else:  # cannot happen for names we parsed, but never send a broken reply
            reply = q.qid + struct.pack("!H", flags) + tmpl.whole[4:]
        if len(cache) >= MAX_CACHE:
            cache.clear()
        cache[key] = reply[2:]
        return reply
