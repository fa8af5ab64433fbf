"""A data-plane route's request body for its handler (a worker thread), a group of parts at a time.

The handler stores one group while the event loop receives the next: a 64 MiB upload is never held whole, and
its writes overlap its arrival. Parts are handed over in groups of at least ``GROUP`` bytes (or the end of the
body), each group fetched from the event loop in one hop: a hop per part as the server received it (64-256 KiB)
cost more of the event loop than it saved (bench/README-backup.md, 2026-12-05 night). At most one group waits
ahead of the handler. The pipeline's limits apply as to a whole body: ``PayloadTooLarge`` and ``RequestTimeout``
are raised in the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import anyio.from_thread

from vaultlink.fabric.asgi import BodyReader

GROUP = 4 << 20


class BodyStream:
    """One pass over the body's parts (``for part in body``)."""

    __slots__ = ("_ahead", "_end", "_reader")

    def __init__(self, reader: BodyReader) -> None:
        self._reader = reader
        self._ahead: asyncio.Task[list[bytes]] | None = None
        self._end = False

    async def _collect(self) -> list[bytes]:
        parts: list[bytes] = []
        size = 0
        while size < GROUP:
            part = await self._reader.part()
            if part is None:
                self._end = True
                break
            if part:
                parts.append(part)
                size += len(part)
        return parts

    async def _next_group(self) -> list[bytes]:
        """The group received next; the one after it starts arriving now (on the event loop)."""
        if self._end and self._ahead is None:
            return []
        task = self._ahead if self._ahead is not None else asyncio.ensure_future(self._collect())
        self._ahead = None
        group = await task
        if not self._end:
            self._ahead = asyncio.ensure_future(self._collect())
        return group

    def __iter__(self) -> Iterator[bytes]:
        while group := anyio.from_thread.run(self._next_group):
            yield from group

    async def close(self) -> None:
        """Stop receiving ahead (the handler is done, perhaps without reading it all); on the event loop."""
        task, self._ahead = self._ahead, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
