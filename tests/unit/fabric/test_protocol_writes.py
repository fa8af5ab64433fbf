"""How a response leaves the guarded protocol (``fabric/protocol.py``): a head held until its body's first part
and written with it, never delayed past the event loop's next turn, and never lost."""

from __future__ import annotations

import asyncio
from typing import Any

from vaultlink.fabric.protocol import _JOIN_LIMIT, _HeadWithBody


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 443) if name == "sockname" else None


class Cycle:
    response_started = False


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"


def out() -> tuple[_HeadWithBody, Transport, Cycle, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    t, c = Transport(), Cycle()
    return _HeadWithBody(t, c, loop), t, c, loop  # type: ignore[arg-type]


def test_a_small_answer_leaves_in_one_write() -> None:
    w, t, c, loop = out()
    c.response_started = True
    w.write(HEAD)
    assert t.writes == []
    w.write(b"hello")
    assert t.writes == [HEAD + b"hello"]
    loop.run_until_complete(asyncio.sleep(0))  # the scheduled flush finds nothing held
    assert t.writes == [HEAD + b"hello"]
    w.write(b"more")  # later parts go as they come
    assert t.writes[-1] == b"more"
    loop.close()


def test_a_large_body_follows_its_head_uncopied() -> None:
    w, t, c, loop = out()
    c.response_started = True
    big = b"x" * (_JOIN_LIMIT + 1)
    w.write(HEAD)
    w.write(memoryview(big))
    assert t.writes == [HEAD, big]
    loop.close()


def test_what_is_written_before_the_response_starts_goes_at_once() -> None:
    w, t, c, loop = out()
    w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert t.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    c.response_started = True
    w.write(HEAD)
    w.write(b"hello")
    assert t.writes[-1] == HEAD + b"hello"
    loop.close()


def test_a_head_whose_body_comes_later_leaves_at_the_next_turn() -> None:
    w, t, c, loop = out()
    c.response_started = True
    w.write(HEAD)  # a stream whose first part is not ready yet
    loop.run_until_complete(asyncio.sleep(0))
    assert t.writes == [HEAD]
    w.write(b"line\n")
    assert t.writes == [HEAD, b"line\n"]
    loop.close()


def test_close_and_flush_send_a_held_head_first() -> None:
    w, t, c, loop = out()
    c.response_started = True
    w.write(HEAD)
    w.close()
    assert t.writes == [HEAD] and t.closed
    w.flush()
    assert t.writes == [HEAD]  # once
    w2, t2, c2, _ = out()
    c2.response_started = True
    w2.write(HEAD)
    w2.flush()  # a HEAD request's answer: no body part at all
    assert t2.writes == [HEAD] and w2.get_extra_info("sockname") == ("127.0.0.1", 443)
    loop.close()
