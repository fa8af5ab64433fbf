"""The queue service: a small queue of agent work items per storage account and container.

``put`` adds a JSON item; ``receive`` hands out visible items and hides them for ``visibility``
seconds (an agent that dies does not lose them); ``delete`` removes a handled item.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from typing import Any

from vaultlink.domain.records import ContainerRecord
from vaultlink.errors import InvalidInput, NotFound
from vaultlink.ports import Txn
from vaultlink.service.core import Service

MAX_ITEM = 64 * 1024


def put_item(svc: Service, account: str, container: ContainerRecord, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or len(json.dumps(body)) > MAX_ITEM:
        raise InvalidInput("a work item is a JSON object of at most 64 KiB.", field="body")
    rec = {
        "id": "q" + secrets.token_hex(8),
        "account_id": container["account_id"],
        "parent_id": f"{account}/{container['id']}",
        "name": None,
        "body": body,
        "created": svc.clock.now(),
        "visible_at": 0.0,
        "receives": 0,
    }
    with svc.store.transaction() as txn:
        txn.insert("queue_item", rec["id"], rec)
    return rec


def receive(svc: Service, account: str, container: ContainerRecord, max_items: int = 10,
            visibility: float = 30.0) -> list[dict[str, Any]]:
    if not 1 <= max_items <= 100 or not 0 <= visibility <= 3600:
        raise InvalidInput("max_items is 1-100 and visibility 0-3600 seconds.", field="max_items")
    now = svc.clock.now()
    out = []
    with svc.store.transaction() as txn:
        for rec in txn.find("queue_item", parent_id=f"{account}/{container['id']}"):
            if rec["visible_at"] <= now:
                rec["visible_at"] = now + visibility
                rec["receives"] += 1
                txn.update("queue_item", rec["id"], rec)
                out.append(rec)
                if len(out) >= max_items:
                    break
    return out


def delete_item(svc: Service, account: str, container: ContainerRecord, item_id: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        rec = txn.get("queue_item", item_id)
        if rec is None or rec["parent_id"] != f"{account}/{container['id']}":
            raise NotFound(f"work item {item_id} does not exist in this queue.", field="item")
        txn.delete("queue_item", item_id)
    return {"id": item_id, "deleted": True}


def drop_items(txn: Txn, accounts: Iterable[str], container_id: str, job_id: str | None = None) -> None:
    """Remove a machine's queued work items (in ``txn``) when the machine or its vault goes for good; with ``job_id``,
    only that job's, when the job ended before its machine ran it."""
    for account in accounts:
        for rec in txn.find("queue_item", parent_id=f"{account}/{container_id}"):
            body = rec.get("body")
            if job_id is None or (isinstance(body, dict) and body.get("job_id") == job_id):
                txn.delete("queue_item", rec["id"])
