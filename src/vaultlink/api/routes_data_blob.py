"""The blob service (``<storage-account>.blob.<domain>``): put, get (whole or ``Range: bytes=a-b``),
head and list of one container's blobs in one storage account."""

from __future__ import annotations

import re
from typing import Any

from vaultlink.api.data_kit import BodyStream, DataRequest, DataRouter, Reply, Stream
from vaultlink.api.routes_data_common import container_for
from vaultlink.errors import InvalidInput
from vaultlink.service.dataplane import blobs
from vaultlink.service.dataplane.containers import check_blob_read, check_key_visible, key_visible
from vaultlink.service.dataplane.context import DataContext
from vaultlink.service.dataplane.grants import check_grant_read, grant_allows

router = DataRouter()
_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")
STREAM_MIN = (1 << 20) + 1  # a longer range is sent a piece at a time, each while the next one is read


def _account(ctx: DataContext) -> str:
    if not ctx.storage_account or not ctx.vault_id:
        raise InvalidInput("send blob requests to a storage account's blob name.", field="host")
    return ctx.storage_account


@router.route("GET", "/", "backup:GetBackupData")
def list_blobs(r: DataRequest) -> dict[str, Any]:
    c = container_for(r)
    names = blobs.list_blobs(r.svc, r.ctx.vault_id or "", _account(r.ctx), c, r.query.get("prefix", ""))
    # under a restore grant only what it covers; never a key version its machine retired
    return {"names": [n for n in names if grant_allows(c, n) and key_visible(c, n)]}


@router.route("PUT", "/{name:path}", "backup:PutBackupData", body=BodyStream)
def put_blob(r: DataRequest) -> dict[str, Any]:
    """The body is read as it arrives, within ``max_body_bytes`` (a larger one is refused as it arrives)."""
    c = container_for(r)
    account = _account(r.ctx)
    body: BodyStream = r.body
    result: dict[str, Any] = blobs.put_blob_from(r.svc, r.ctx.vault_id or "", account, c, r.params["name"], body)
    return result


@router.route("GET", "/{name:path}", "backup:GetBackupData")
def get_blob(r: DataRequest) -> Reply:
    c = container_for(r)
    name = r.params["name"]
    vault, account = r.ctx.vault_id or "", _account(r.ctx)
    check_blob_read(c, name)
    check_grant_read(c, name)
    check_key_visible(c, name, account)
    rng = r.headers.get("range")
    if rng:
        m = _RANGE.match(rng.strip())
        if m is None:
            raise InvalidInput("Range must be 'bytes=FIRST-LAST'.", field="range")
        first, last = int(m.group(1)), int(m.group(2))
        if last < first:
            raise InvalidInput("Range must have LAST >= FIRST.", field="range")
        length, head = last - first + 1, (("content-range", f"bytes {first}-{last}/*"),)
        pieces = blobs.blob_pieces(r.svc, vault, account, c, name, first, length) if length >= STREAM_MIN else None
        if pieces is not None:
            return Reply(Stream(length, pieces), 206, head)
        return Reply(blobs.get_blob(r.svc, vault, account, c, name, first, length), 206, head)
    return Reply(blobs.get_blob(r.svc, vault, account, c, name))


@router.route("HEAD", "/{name:path}", "backup:GetBackupData")
def head_blob(r: DataRequest) -> Reply:
    """GET's answer without the body: the same refusals, the size without reading the blob."""
    c = container_for(r)
    check_blob_read(c, r.params["name"])
    check_grant_read(c, r.params["name"])
    check_key_visible(c, r.params["name"], _account(r.ctx))
    size = blobs.blob_size(r.svc, r.ctx.vault_id or "", _account(r.ctx), c, r.params["name"])
    return Reply(b"", 200, (("content-length", str(size)), ("x-blob-size", str(size))))
