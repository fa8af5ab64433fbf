"""A producer's pipe read ahead until the engine's first read (agent/prefetch.py), then handed over."""

from __future__ import annotations

import os
import threading
import time

from vaultlink.agent.prefetch import Prefetch, _Pipe, reader
from vaultlink.data.chunker import _read_exact

MiB = 1 << 20


def _writer(fd: int, data: bytes) -> threading.Thread:
    def run() -> None:
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _wait_stopped(p: Prefetch) -> None:
    deadline = time.monotonic() + 10
    while p._thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not p._thread.is_alive()


def test_bytes_come_back_whole_and_in_order_across_the_handover() -> None:
    data = os.urandom(9 * MiB + 12345)
    r, w = os.pipe()
    writer = _writer(w, data)
    p = Prefetch(_Pipe(r), limit=3 * MiB)
    _wait_stopped(p)  # read ahead up to the limit, then stopped: the writer waits on the full pipe
    held = sum(len(m) for m in p._held)
    assert 0 < held <= 3 * MiB
    out = bytearray()
    while True:
        got = _read_exact(p, 700_001)  # what cut_tar_stream does: readinto, pieces that straddle the handover
        out += got
        if len(got) < 700_001:
            break
    writer.join(10)
    assert bytes(out) == data
    p.close()
    os.close(r)


def test_a_short_stream_ends_before_the_first_read() -> None:
    r, w = os.pipe()
    _writer(w, b"tar" * 1000).join(10)
    p = Prefetch(_Pipe(r))
    _wait_stopped(p)
    assert p._eof
    buf = bytearray(10_000)
    n = p.readinto(buf)
    assert bytes(buf[:n]) == b"tar" * 1000
    assert p.readinto(buf) == 0  # the end, and again
    assert p.readinto(buf) == 0
    p.close()
    os.close(r)


def test_close_without_a_read_stops_the_thread_once_the_producer_ends() -> None:
    r, w = os.pipe()
    p = Prefetch(_Pipe(r), limit=64 * MiB)
    assert p._thread.is_alive()  # waiting for the producer's first bytes
    os.close(w)  # the producer is killed (a failed job start): the read ends
    p.close()
    assert not p._thread.is_alive()
    os.close(r)


def test_the_buffered_file_reads_tar_headers_and_pieces_alike() -> None:
    """What ``pg_basebackup``'s pipe is to the engine: 512-byte headers and 1 MiB pieces, then the end."""
    data = os.urandom(3 * MiB + 512)
    r, w = os.pipe()
    writer = _writer(w, data)
    f = reader(r, limit=MiB)
    got = _read_exact(f, 512) + _read_exact(f, MiB) + _read_exact(f, 4 * MiB)
    writer.join(10)
    assert bytes(got) == data
    f.close()
    assert not f.raw._thread.is_alive()  # type: ignore[attr-defined]
    os.close(r)
