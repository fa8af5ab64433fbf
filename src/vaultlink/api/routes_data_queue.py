"""The queue service (``<storage-account>.queue.<domain>``): agent work items."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from vaultlink.api.routes_data_common import container_for, data_context, svc_of
from vaultlink.errors import InvalidInput
from vaultlink.service.dataplane import queue
from vaultlink.service.dataplane.context import DataContext

router = APIRouter()
Ctx = Depends(data_context)


def _account(ctx: DataContext) -> str:
    if not ctx.storage_account:
        raise InvalidInput("send queue requests to a storage account's queue name.", field="host")
    return ctx.storage_account


@router.post("/messages", name="backup:PutWorkItem")
def put_message(body: dict[str, Any], request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    return queue.put_item(svc_of(request), _account(ctx), container_for(request, ctx), body)


@router.get("/messages", name="backup:ReceiveWorkItems")
def receive(request: Request, max_items: int = 10, visibility: float = 30.0,
            ctx: DataContext = Ctx) -> list[dict[str, Any]]:
    c = container_for(request, ctx)
    return queue.receive(svc_of(request), _account(ctx), c, max_items, visibility)


@router.delete("/messages/{item_id}", name="backup:DeleteWorkItem")
def delete_message(item_id: str, request: Request, ctx: DataContext = Ctx) -> dict[str, Any]:
    return queue.delete_item(svc_of(request), _account(ctx), container_for(request, ctx), item_id)
