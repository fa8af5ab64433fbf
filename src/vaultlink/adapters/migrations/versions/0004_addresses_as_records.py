"""a subnet's allocated addresses as records of their own (kind ``address``), out of the vnet record

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

The vnet record held every allocation of its subnets (``"allocations": {ip: endpoint_id}``, and ``free_from``), so
it grew with the endpoints (76 KB at 2,000) and every endpoint create or delete decoded, encoded and wrote it whole
(issue #13). Each allocation becomes an ``address`` record and each ``free_from`` an ``address_cursor`` record
(``service/addresses.py``); the vnet record keeps its subnets' names and ranges. Downgrade puts them back.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

records = sa.table("records", sa.column("kind", sa.String), sa.column("id", sa.String),
                   sa.column("account_id", sa.String), sa.column("parent_id", sa.String),
                   sa.column("name", sa.String), sa.column("body", sa.Text))


def _row(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "id": body["id"], "account_id": body["account_id"], "parent_id": body["parent_id"],
            "name": body["name"], "body": json.dumps(body, sort_keys=True)}


def upgrade() -> None:
    bind = op.get_bind()
    vnets = bind.execute(sa.select(records.c.id, records.c.body).where(records.c.kind == "vnet")).all()
    for vnet_id, raw in vnets:
        vnet = json.loads(raw)
        rows: list[dict[str, Any]] = []
        for sub in vnet.get("subnets") or []:
            parent = f"{vnet_id}/{sub['name']}"
            for ip, owner in (sub.pop("allocations", None) or {}).items():
                rows.append(_row("address", {"id": f"{vnet_id}/{ip}", "account_id": vnet["account_id"],
                                             "parent_id": parent, "name": ip, "vnet_id": vnet_id,
                                             "subnet": sub["name"], "ip": ip, "owner": owner}))
            free_from = sub.pop("free_from", None)
            if free_from is not None:
                rows.append(_row("address_cursor", {"id": parent, "account_id": vnet["account_id"],
                                                    "parent_id": vnet_id, "name": sub["name"],
                                                    "free_from": int(free_from)}))
        if rows:
            bind.execute(records.insert(), rows)
        bind.execute(records.update().where(records.c.kind == "vnet", records.c.id == vnet_id)
                     .values(body=json.dumps(vnet, sort_keys=True)))


def downgrade() -> None:
    bind = op.get_bind()
    held: dict[str, dict[str, dict[str, Any]]] = {}  # vnet id -> subnet -> {"allocations", "free_from"}
    for kind, raw in bind.execute(sa.select(records.c.kind, records.c.body)
                                  .where(records.c.kind.in_(("address", "address_cursor")))).all():
        rec = json.loads(raw)
        if kind == "address":
            vnet_id, subnet = rec["vnet_id"], rec["subnet"]
            held.setdefault(vnet_id, {}).setdefault(subnet, {}).setdefault("allocations", {})[rec["ip"]] = rec["owner"]
        else:
            held.setdefault(rec["parent_id"], {}).setdefault(rec["name"], {})["free_from"] = rec["free_from"]
    for vnet_id, raw in bind.execute(sa.select(records.c.id, records.c.body).where(records.c.kind == "vnet")).all():
        vnet = json.loads(raw)
        for sub in vnet.get("subnets") or []:
            got = held.get(vnet_id, {}).get(sub["name"], {})
            sub["allocations"] = got.get("allocations", {})
            if got.get("free_from") is not None:
                sub["free_from"] = got["free_from"]
        bind.execute(records.update().where(records.c.kind == "vnet", records.c.id == vnet_id)
                     .values(body=json.dumps(vnet, sort_keys=True)))
    bind.execute(records.delete().where(records.c.kind.in_(("address", "address_cursor"))))
