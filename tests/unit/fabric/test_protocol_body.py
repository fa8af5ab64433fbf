"""A request body reaches a slow handler in parts of up to about ``BODY_HIGH_WATER`` bytes: the connection stops
reading once that much waits (so a client cannot make the server hold more), and not before (uvicorn paused and
resumed the reader every 64 KiB, a message and a wake-up each)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from typing import Any

import uvicorn

from vaultlink.fabric.protocol import BODY_HIGH_WATER, GuardedProtocol

SIZE = 6 << 20
READ_MAX = 256 << 10  # what one socket read brings at most (asyncio's transport)


class App:
    header_timeout = 5.0
    max_header_bytes = 65536

    def __init__(self) -> None:
        self.parts: list[int] = []
        self.digest = hashlib.sha256()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        while True:
            await asyncio.sleep(0.05)  # a slow handler: the body waits for it
            msg = await receive()
            self.parts.append(len(msg["body"]))
            self.digest.update(msg["body"])
            if not msg.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


def test_a_body_waits_in_parts_of_at_most_the_high_water_mark() -> None:
    app = App()
    body = os.urandom(SIZE)

    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        cfg = uvicorn.Config(app, http=GuardedProtocol, loop="asyncio", lifespan="off",
                             log_level="warning", access_log=False, proxy_headers=False)
        server = uvicorn.Server(cfg)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                await asyncio.sleep(0.01)
            r, w = await asyncio.open_connection("127.0.0.1", int(sock.getsockname()[1]))
            w.write(f"PUT /x HTTP/1.1\r\nhost: x\r\ncontent-length: {SIZE}\r\n\r\n".encode())
            for i in range(0, SIZE, 64 << 10):
                w.write(body[i:i + (64 << 10)])
                await w.drain()
            answer = await asyncio.wait_for(r.read(65536), 30)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok")
            w.close()
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)

    asyncio.run(main())
    assert app.digest.digest() == hashlib.sha256(body).digest()  # whole, in order
    assert max(app.parts) <= BODY_HIGH_WATER + READ_MAX  # reading paused once the mark was passed
    assert len(app.parts) <= 2 * SIZE // BODY_HIGH_WATER + 2  # and not long before it (uvicorn's 64 KiB: ~25+)
