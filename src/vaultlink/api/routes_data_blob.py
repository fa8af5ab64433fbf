"""The blob service (``<storage-account>.blob.<domain>``): put, get (whole or ``Range: bytes=a-b``),
head and list of one container's blobs in one storage account."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from vaultlink.api.routes_data_common import container_for, data_context, svc_of
from vaultlink.errors import InvalidInput, PayloadTooLarge
from vaultlink.service.dataplane import blobs
from vaultlink.service.dataplane.containers import check_blob_read
from vaultlink.service.dataplane.context import DataContext
from vaultlink.service.dataplane.grants import check_grant_read, grant_allows

router = APIRouter()
Ctx = Depends(data_context)
_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


def _account(ctx: DataContext) -> str:
    if not ctx.storage_account or not ctx.vault_id:
        raise InvalidInput("send blob requests to a storage account's blob name.", field="host")
    return ctx.storage_account


@router.get("/", name="backup:GetBackupData")
def list_blobs(request: Request, prefix: str = "", ctx: DataContext = Ctx) -> dict[str, Any]:
    c = container_for(request, ctx)
    names = blobs.list_blobs(svc_of(request), ctx.vault_id or "", _account(ctx), c, prefix)
    return {"names": [n for n in names if grant_allows(c, n)]}  # under a restore grant: only what it covers


@router.put("/{name:path}", name="backup:PutBackupData")
async def put_blob(name: str, request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    svc = svc_of(request)
    c = await run_in_threadpool(container_for, request, ctx)
    limit = svc.config.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"a blob may be at most {limit} bytes.")
    data = await request.body()
    if len(data) > limit:
        raise PayloadTooLarge(f"a blob may be at most {limit} bytes.")
    result: dict[str, Any] = await run_in_threadpool(
        blobs.put_blob, svc, ctx.vault_id or "", _account(ctx), c, name, data
    )
    return result


@router.get("/{name:path}", name="backup:GetBackupData")
def get_blob(name: str, request: Request, ctx: DataContext = Ctx) -> Response:
    c = container_for(request, ctx)
    check_blob_read(c, name)
    check_grant_read(c, name)
    rng = request.headers.get("range")
    svc = svc_of(request)
    if rng:
        m = _RANGE.match(rng.strip())
        if m is None:
            raise InvalidInput("Range must be 'bytes=FIRST-LAST'.", field="range")
        first, last = int(m.group(1)), int(m.group(2))
        if last < first:
            raise InvalidInput("Range must have LAST >= FIRST.", field="range")
        data = blobs.get_blob(svc, ctx.vault_id or "", _account(ctx), c, name, first, last - first + 1)
        return Response(data, status_code=206, media_type="application/octet-stream",
                        headers={"content-range": f"bytes {first}-{last}/*"})
    data = blobs.get_blob(svc, ctx.vault_id or "", _account(ctx), c, name)
    return Response(data, media_type="application/octet-stream")


@router.head("/{name:path}", name="backup:GetBackupData")
def head_blob(name: str, request: Request, ctx: DataContext = Ctx) -> Response:
    c = container_for(request, ctx)
    check_grant_read(c, name)
    size = blobs.blob_size(svc_of(request), ctx.vault_id or "", _account(ctx), c, name)
    return Response(status_code=200, headers={"content-length": str(size), "x-blob-size": str(size)})
