"""Bench-only data-plane routes (registered by bench/_serve.py, never by the product): stream bytes in/out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

router = APIRouter()
_CHUNK = b"\0" * (1 << 20)


@router.put("/bench/stream", name="backup:PutBenchObject")
async def put_stream(request: Request) -> dict[str, int]:
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
    return {"bytes": n}


@router.get("/bench/stream", name="backup:GetBenchObject")
async def get_stream(size: int) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        left = size
        while left > 0:
            part = _CHUNK if left >= len(_CHUNK) else _CHUNK[:left]
            left -= len(part)
            yield part

    return StreamingResponse(body(), media_type="application/octet-stream", headers={"content-length": str(size)})
