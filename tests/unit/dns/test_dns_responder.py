from __future__ import annotations

from dns_world import (
    INTERNET,
    PUBLIC_IP,
    VNET1_VM,
    VNET2_VM,
    VNET3_VM,
    VNET4_VM,
    Ask,
    build_view,
    rdata,
)
from dnslib import QTYPE, RCODE, DNSRecord

from vaultlink.dns import names as N
from vaultlink.dns.responder import Responder

V1 = N.vault_public_name("v1", "ge")
V1_PL = N.vault_privatelink_name("v1", "ge")
ACCT1_BLOB = N.blob_public_name("acct1")
ACCT2_BLOB = N.blob_public_name("acct2")


def test_vnet_linked_to_the_zone_gets_the_private_ip(ask: Ask) -> None:
    reply = ask(V1, source=VNET1_VM)
    assert RCODE[reply.header.rcode] == "NOERROR" and reply.header.aa
    assert [(str(rr.rname), QTYPE[rr.rtype]) for rr in reply.rr] == [(V1 + ".", "CNAME"), (V1_PL + ".", "A")]
    assert rdata(reply) == [V1_PL + ".", "127.10.1.4"]
    assert [rr.ttl for rr in reply.rr] == [300, 10]


def test_internet_and_unlinked_vnets_get_the_public_address(ask: Ask) -> None:
    for source in (INTERNET, VNET2_VM, "::1"):
        reply = ask(V1, source=source)
        assert rdata(reply) == [V1_PL + ".", PUBLIC_IP]
    assert rdata(ask(V1_PL, source=INTERNET)) == [PUBLIC_IP]


def test_longest_prefix_decides_the_vnet(ask: Ask) -> None:
    # 127.10.5.9 is in vnet1's /16 but vnet4's /24 is more specific; vnet4 has no links
    assert rdata(ask(V1, source=VNET4_VM)) == [V1_PL + ".", PUBLIC_IP]


def test_linked_zone_without_record_and_without_fallback_is_nxdomain(ask: Ask) -> None:
    reply = ask(N.vault_public_name("v2", "ge"), source=VNET1_VM)
    assert RCODE[reply.header.rcode] == "NXDOMAIN"
    assert rdata(reply, "CNAME") == [N.vault_privatelink_name("v2", "ge") + "."]
    assert [QTYPE[rr.rtype] for rr in reply.auth] == ["SOA"]
    assert str(reply.auth[0].rname) == N.vault_privatelink_zone("ge") + "."
    assert reply.auth[0].ttl == 10  # min(SOA ttl, minimum)


def test_fallback_link_resolves_missing_records_publicly(ask: Ask) -> None:
    assert rdata(ask(ACCT1_BLOB, source=VNET1_VM))[-1] == "127.10.1.6"
    assert rdata(ask(ACCT2_BLOB, source=VNET1_VM))[-1] == PUBLIC_IP


def test_nodata_has_soa_and_noerror(ask: Ask) -> None:
    reply = ask(V1_PL, "AAAA", source=VNET1_VM)
    assert RCODE[reply.header.rcode] == "NOERROR" and not reply.rr
    assert [QTYPE[rr.rtype] for rr in reply.auth] == ["SOA"]
    # empty non-terminal: sub.<zone> exists because deep.sub.<zone> does
    reply = ask("sub." + N.vault_privatelink_zone("ge"), source=VNET1_VM)
    assert RCODE[reply.header.rcode] == "NOERROR" and not reply.rr and reply.auth


def test_zone_apex_answers_soa_and_ns(ask: Ask) -> None:
    zone = N.vault_privatelink_zone("ge")
    assert QTYPE[ask(zone, "SOA", source=VNET1_VM).rr[0].rtype] == "SOA"
    assert rdata(ask(zone, "NS", source=VNET1_VM)) == ["ns1.vaultlink.internal."]
    assert rdata(ask("vaultlink.internal", "NS")) == ["ns1.vaultlink.internal."]
    assert rdata(ask("ns1.vaultlink.internal")) == [PUBLIC_IP]


def test_names_outside_the_service_domains_are_refused(ask: Ask) -> None:
    for name in ("example.com", "vaultlink.internal.evil.com", "com"):
        reply = ask(name, source=VNET1_VM)
        assert RCODE[reply.header.rcode] == "REFUSED" and not reply.header.aa and not reply.rr


def test_unknown_name_under_the_domain_is_nxdomain_with_public_soa(ask: Ask) -> None:
    reply = ask("nope.vaultlink.internal")
    assert RCODE[reply.header.rcode] == "NXDOMAIN"
    assert str(reply.auth[0].rname) == "vaultlink.internal."


def test_service_endpoint_private_dns_only_inside_its_vnet(ask: Ask) -> None:
    name = N.regional_service_name("backup", "local-1")
    assert rdata(ask(name, source=VNET3_VM)) == ["127.30.1.4"]
    assert rdata(ask(name, source=VNET1_VM)) == [PUBLIC_IP]
    # endpoint-specific names always resolve, from anywhere
    ep = N.endpoint_service_name("ep1", "backup", "local-1")
    assert rdata(ask(ep, source=INTERNET)) == ["127.30.1.4"]
    # other names still work from inside vnet3 (service zone falls back)
    assert RCODE[ask("x." + name, source=VNET3_VM).header.rcode] == "NXDOMAIN"


def test_queue_zone_linked_to_vnet2_only(ask: Ask) -> None:
    q = N.queue_public_name("acct1")
    assert rdata(ask(q, source=VNET2_VM))[-1] == "127.20.1.7"
    assert rdata(ask(q, source=VNET1_VM))[-1] == PUBLIC_IP


def test_cname_loop_stops(ask: Ask) -> None:
    reply = ask("loop1." + N.vault_privatelink_zone("ge"), source=VNET1_VM)
    assert RCODE[reply.header.rcode] == "NOERROR"
    assert 1 <= len(reply.rr) <= 9


def test_qtype_cname_and_any(ask: Ask) -> None:
    assert rdata(ask(V1, "CNAME", source=VNET1_VM)) == [V1_PL + "."]
    assert rdata(ask(V1_PL, "ANY", source=VNET1_VM)) == ["127.10.1.4"]


def test_letter_case_id_and_rd_are_echoed(responder: Responder) -> None:
    q = DNSRecord.question("V1.Ge.BACKUP.vaultlink.internal")
    q.header.id = 4242
    q.header.rd = 0
    out = responder.answer(bytes(q.pack()), VNET1_VM, "udp")
    assert out is not None
    reply = DNSRecord.parse(out)
    assert reply.header.id == 4242 and reply.header.rd == 0
    assert str(reply.q.qname) == "V1.Ge.BACKUP.vaultlink.internal."
    assert rdata(reply)[-1] == "127.10.1.4"
    q.header.id = 7
    q.header.rd = 1
    reply = DNSRecord.parse(responder.answer(bytes(q.pack()), VNET1_VM, "udp") or b"")
    assert reply.header.id == 7 and reply.header.rd == 1


def test_edns_is_echoed_only_when_asked(ask: Ask) -> None:
    assert not ask(V1, source=VNET1_VM).ar
    reply = ask(V1, source=VNET1_VM, edns=4096)
    assert [QTYPE[rr.rtype] for rr in reply.ar] == ["OPT"]
    assert reply.ar[0].rclass == 1232


def test_big_answers_truncate_over_udp_and_fit_over_tcp() -> None:
    responder = Responder(build_view(extra_records=60))
    q = DNSRecord.question("big." + N.vault_privatelink_zone("ge"))
    plain = DNSRecord.parse(responder.answer(bytes(q.pack()), VNET1_VM, "udp") or b"")
    assert plain.header.tc == 1 and not plain.rr
    tcp = DNSRecord.parse(responder.answer(bytes(q.pack()), VNET1_VM, "tcp") or b"")
    assert tcp.header.tc == 0 and len(tcp.rr) == 60
    q.add_ar(__import__("dnslib").EDNS0(udp_len=4096))
    big = responder.answer(bytes(q.pack()), VNET1_VM, "udp") or b""
    assert len(big) > 512 and DNSRecord.parse(big).header.tc == 0
    txt = DNSRecord.question("text." + N.vault_privatelink_zone("ge"), "TXT")
    assert DNSRecord.parse(responder.answer(bytes(txt.pack()), VNET1_VM, "udp") or b"").header.tc == 1


def test_update_invalidates_cached_answers(responder: Responder) -> None:
    q = bytes(DNSRecord.question(V1).pack())
    first = DNSRecord.parse(responder.answer(q, VNET1_VM) or b"")
    assert rdata(first)[-1] == "127.10.1.4"
    responder.update(build_view(generation=1, v1_ip="127.10.2.8"))
    assert rdata(DNSRecord.parse(responder.answer(q, VNET1_VM) or b""))[-1] == "127.10.2.8"
    assert responder.view.generation == 1


def test_resolve_explains_which_zone_answered(responder: Responder) -> None:
    res = responder.resolve(V1, 1, VNET1_VM)
    assert res.private and res.zone == N.vault_privatelink_zone("ge")
    res = responder.resolve(V1, 1, INTERNET)
    assert not res.private and res.zone == "vaultlink.internal"
    assert responder.classify(VNET1_VM) == "vnet1" and responder.classify(INTERNET) is None


# A golden exchange: the exact bytes of a query from vnet1 and of its reply.
GOLDEN_QUERY = bytes.fromhex(
    "1234010000010000000000000276310267650662616300000000"  # placeholder replaced below
)


def _golden_query() -> bytes:
    name = b"".join(bytes([len(x)]) + x for x in V1.encode().split(b".")) + b"\x00"
    return bytes.fromhex("123401000001000000000000") + name + b"\x00\x01\x00\x01"


GOLDEN_REPLY = (
    "123485000001000200000000"  # id 0x1234, QR AA RD, 1 question, 2 answers
    "02763102676506626163"
    "6b7570097661756c746c696e6b08696e7465726e616c00"
    "00010001"
    "c00c0005000100"
    "00012c0011"
    "0276310b707269766174656c696e6bc00f"
    "c03d000100010000000a0004"
    "7f0a0104"
)


def test_golden_reply_bytes(responder: Responder) -> None:
    out = responder.answer(_golden_query(), VNET1_VM, "udp")
    assert out is not None
    assert out.hex() == GOLDEN_REPLY
