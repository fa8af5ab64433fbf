"""The guarded protocol's one timer per connection (``fabric/protocol.py``): an idle keep-alive connection is
closed quietly after the keep-alive wait, a connection in use is not, and slow headers still get 408."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import uvicorn

from vaultlink.fabric.protocol import GuardedProtocol

REQUEST = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"


class App:
    header_timeout = 0.6
    max_header_bytes = 65536

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


async def _serve(keep_alive: float) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    cfg = uvicorn.Config(App(), http=GuardedProtocol, loop="asyncio", lifespan="off", log_level="warning",
                         timeout_keep_alive=keep_alive, access_log=False, proxy_headers=False)  # type: ignore[arg-type]
    server = uvicorn.Server(cfg)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, int(sock.getsockname()[1])


async def _read(reader: asyncio.StreamReader, seconds: float) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(65536), seconds)
    except TimeoutError:
        return b"(nothing)"


def test_idle_closed_busy_kept_slow_headers_refused() -> None:
    async def main() -> None:
        server, task, port = await _serve(keep_alive=1.2)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(8):  # in use for 2 s, longer than the keep-alive wait: kept open
                w.write(REQUEST)
                assert (await _read(r, 2)).endswith(b"ok")
                await asyncio.sleep(0.25)
            t0 = time.monotonic()
            assert await _read(r, 5) == b""  # then idle: closed quietly, no answer
            assert 0.5 <= time.monotonic() - t0 < 4
            w.close()

            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(REQUEST)
            assert (await _read(r, 2)).endswith(b"ok")
            w.write(b"GET / HTTP/1.1\r\nhost:")  # a request's headers begun, never finished
            got = await _read(r, 3)
            assert b"408" in got.split(b"\r\n", 1)[0] and b"RequestTimeout" in got
            w.close()
        finally:
            server.should_exit = True
            await task

    asyncio.run(main())


def test_slow_headers_after_a_long_idle_wait_still_get_their_own_deadline() -> None:
    async def main() -> None:
        server, task, port = await _serve(keep_alive=5.0)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(REQUEST)
            assert (await _read(r, 2)).endswith(b"ok")
            await asyncio.sleep(0.9)  # the timer has moved on to the end of the 5-second keep-alive wait
            w.write(b"GET / HTTP/1.1\r\nhost:")
            t0 = time.monotonic()
            got = await _read(r, 4)
            assert b"RequestTimeout" in got and time.monotonic() - t0 < 1.5  # its 0.6 s, not the idle 5 s
            w.close()
        finally:
            server.should_exit = True
            await task

    asyncio.run(main())
