"""Fixtures for the dns unit tests (the world itself is in dns_world.py)."""

from __future__ import annotations

from typing import Any

import pytest
from dns_world import INTERNET, Ask, build_view
from dnslib import EDNS0, DNSRecord

from vaultlink.dns.model import DnsView
from vaultlink.dns.responder import Responder


@pytest.fixture
def view() -> DnsView:
    return build_view()


@pytest.fixture
def responder(view: DnsView) -> Responder:
    return Responder(view)


@pytest.fixture
def ask(responder: Responder) -> Ask:
    """ask(name, qtype="A", source=INTERNET, transport="udp", edns=None|size) → parsed reply."""

    def _ask(
        name: str, qtype: str = "A", source: str = INTERNET, transport: Any = "udp", edns: int | None = None
    ) -> DNSRecord:
        q = DNSRecord.question(name, qtype)
        if edns is not None:
            q.add_ar(EDNS0(udp_len=edns))
        out = responder.answer(bytes(q.pack()), source, transport)
        assert out is not None
        reply = DNSRecord.parse(out)
        assert reply.header.id == q.header.id
        return reply

    return _ask
