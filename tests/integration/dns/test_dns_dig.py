"""Real dig against the running server, asking from inside a vnet (-b) and from the internet."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time

from dns_live import INTERNET, V1, V1_PL, VM, Running, dig, short, world

from vaultlink.dns import names as N
from vaultlink.dns.responder import Responder
from vaultlink.dns.server import DnsServer


def test_vm_in_linked_vnet_gets_the_private_ip(running: Running) -> None:
    assert short(running.port, V1) == [V1_PL + ".", "127.10.1.4"]
    assert short(running.port, V1, "+tcp") == [V1_PL + ".", "127.10.1.4"]


def test_internet_gets_the_public_address(running: Running) -> None:
    assert short(running.port, V1, source=INTERNET) == [V1_PL + ".", "127.0.0.1"]


def test_negative_answers_carry_the_soa(running: Running) -> None:
    out = dig(running.port, N.vault_public_name("nope", "ge"))
    assert "status: NXDOMAIN" in out
    assert "AUTHORITY SECTION" in out and "SOA" in out
    out = dig(running.port, V1_PL, "AAAA")
    assert "status: NOERROR" in out and "ANSWER: 0" in out and "SOA" in out


def test_outside_names_are_refused(running: Running) -> None:
    assert "status: REFUSED" in dig(running.port, "example.com")


def test_ttls_are_served(running: Running) -> None:
    out = dig(running.port, V1, "+noall", "+answer")
    ttls = [int(line.split()[1]) for line in out.splitlines() if line.strip()]
    assert ttls == [300, 10]


def test_truncation_makes_dig_retry_over_tcp(running: Running) -> None:
    big = N.vault_public_name("big", "ge")
    out = dig(running.port, big, "+noedns", "+ignore")
    assert " tc" in out.split("flags:")[1].split(";")[0]  # truncated over UDP
    out = dig(running.port, big, "+noedns")  # dig retries over TCP by itself
    assert "Truncated, retrying in TCP mode" in out and "ANSWER: 61" in out
    out = dig(running.port, big, "+bufsize=4096")  # EDNS0: a large UDP answer fits
    assert "Truncated" not in out and "ANSWER: 61" in out and "udp: 1232" in out


def test_view_update_is_seen_at_once(running: Running) -> None:
    assert short(running.port, V1)[-1] == "127.10.1.4"
    running.loop.call_soon_threadsafe(running.responder.update, world(v1_ip="127.10.2.9"))
    deadline = time.monotonic() + 5
    while short(running.port, V1)[-1] != "127.10.2.9" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert short(running.port, V1)[-1] == "127.10.2.9"


def _frame(name: str, qid: int) -> bytes:
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(x)]) + x for x in name.encode().split(b".")) + b"\x00\x00\x01\x00\x01"
    return len(q).to_bytes(2, "big") + q


def _read_frame(sock: socket.socket) -> bytes:
    head = sock.recv(2, socket.MSG_WAITALL)
    return sock.recv(int.from_bytes(head, "big"), socket.MSG_WAITALL) if len(head) == 2 else b""


def test_tcp_pipelining_idle_timeout_and_connection_bound(running: Running) -> None:
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
        sock.sendall(_frame(V1, 1) + _frame(V1_PL, 2))  # two queries in one write
        ids = {_read_frame(sock)[:2], _read_frame(sock)[:2]}
        assert ids == {b"\x00\x01", b"\x00\x02"}
        start = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server after the idle timeout (1 s here)
        assert time.monotonic() - start < 4
    held = [socket.create_connection(("127.0.0.1", running.port), timeout=5) for _ in range(4)]
    try:
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as extra:
            assert extra.recv(1) == b""  # over the bound: closed at once
    finally:
        for sock in held:
            sock.close()


def test_fuzz_over_the_wire_then_still_answers(running: Running) -> None:
    rng = random.Random(5)
    base = _frame(V1, 9)[2:]
    deadline = time.monotonic() + 15
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((VM, 0))
        udp.setblocking(False)
        for i in range(5000):
            if i % 2:
                packet = rng.randbytes(rng.randrange(0, 700))
            else:
                packet = bytearray(base[: rng.randrange(len(base) + 1)])
                for _ in range(rng.randrange(3)):
                    if packet:
                        packet[rng.randrange(len(packet))] = rng.randrange(256)
                packet = bytes(packet)
            try:
                udp.sendto(packet, ("127.0.0.1", running.port))
                if i % 50 == 0:
                    time.sleep(0.002)  # stay inside socket buffers; we test robustness, not loss
                while True:
                    udp.recv(4096)
            except (BlockingIOError, OSError):
                pass
            if time.monotonic() > deadline:
                break
    for _ in range(50):  # garbage TCP frames, including lying lengths
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
            sock.sendall(rng.randbytes(rng.randrange(0, 200)))
    assert short(running.port, V1) == [V1_PL + ".", "127.10.1.4"]
    assert short(running.port, V1, "+tcp") == [V1_PL + ".", "127.10.1.4"]


def test_runs_inside_a_callers_event_loop() -> None:
    async def main() -> list[str]:
        server = DnsServer(Responder(world()), "127.0.0.1", 0)
        await server.start()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, lambda: short(server.port, V1))
        finally:
            await server.stop()

    assert asyncio.run(main()) == [V1_PL + ".", "127.10.1.4"]
