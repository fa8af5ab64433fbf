"""The queue service (``<storage-account>.queue.<domain>``): agent work items."""

from __future__ import annotations

from typing import Any

from vaultlink.api.data_kit import JSON_OBJECT, DataRequest, DataRouter
from vaultlink.api.routes_data_common import container_for
from vaultlink.errors import AccessDenied, InvalidInput
from vaultlink.service.dataplane import queue
from vaultlink.service.dataplane.context import DataContext

router = DataRouter()


def _account(ctx: DataContext) -> str:
    if not ctx.storage_account:
        raise InvalidInput("send queue requests to a storage account's queue name.", field="host")
    return ctx.storage_account


@router.route("POST", "/messages", "backup:PutWorkItem", body=JSON_OBJECT)
def put_message(r: DataRequest) -> dict[str, Any]:
    if r.ctx.caller.kind == "container":  # its agent runs what its queue holds, as root: no credential steers it
        raise AccessDenied("a machine's credential takes work from its queue and never queues any: the service "
                           "queues a plan's runs and restores (`vaultlink plan`, `vaultlink recovery-point restore`).")
    return queue.put_item(r.svc, _account(r.ctx), container_for(r), r.body)


@router.route("GET", "/messages", "backup:ReceiveWorkItems")
def receive(r: DataRequest) -> list[dict[str, Any]]:
    max_items = r.number("max_items", 10, -(2**31), 2**31, integer=True)  # queue.receive bounds it
    visibility = r.number("visibility", 30.0, -1e12, 1e12)
    return queue.receive(r.svc, _account(r.ctx), container_for(r), max_items, visibility)


@router.route("DELETE", "/messages/{item_id}", "backup:DeleteWorkItem")
def delete_message(r: DataRequest) -> dict[str, Any]:
    return queue.delete_item(r.svc, _account(r.ctx), container_for(r), r.params["item_id"])
