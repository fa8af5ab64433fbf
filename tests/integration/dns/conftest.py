"""A running DNS server on 127.0.0.1 (random free port) for real clients (see dns_live.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from dns_live import Running, world

from vaultlink.dns.responder import Responder
from vaultlink.dns.server import DnsServer


@pytest.fixture
def running() -> Iterator[Running]:
    """The server on its own event loop in a thread (as the service would run it in its loop)."""
    responder = Responder(world())
    server = DnsServer(responder, "127.0.0.1", 0, tcp_idle_timeout=1.0, max_tcp_connections=4)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield Running(server, responder, loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
