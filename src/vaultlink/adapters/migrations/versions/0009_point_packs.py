"""a recovery point's pack list in a record of its own (kind point_packs)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

A point's record held every pack its chunks live in (``pack_refs``: 12,800 names, about 1 MB, for a 100 GiB
machine), so every listing of a vault's points (an agent's ``restore latest``, ``ls``, ``find``; ``recovery-point
list``) and every maintenance pass over them decoded all of them: 0.45 s and hundreds of MB of the server's memory
at 200 such points. The list now lives in a ``point_packs`` record (id: the point's; parent: its vault), read only
by what needs it (prune, copies, restore grants, object lock, ``show``); the point keeps the count
(``packs_referenced``; null: its agent did not register them). Carried over a point at a time.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

records = sa.table("records", sa.column("seq", sa.Integer), sa.column("kind", sa.String),
                   sa.column("id", sa.String), sa.column("account_id", sa.String), sa.column("parent_id", sa.String),
                   sa.column("name", sa.String), sa.column("body", sa.Text), sa.column("status", sa.String))


def upgrade() -> None:
    bind = op.get_bind()
    seqs = [s for (s,) in bind.execute(sa.text("SELECT seq FROM records WHERE kind = 'recovery_point' ORDER BY seq"))]
    for seq in seqs:  # a point at a time: a vault's pack lists are never all in memory
        body = bind.execute(sa.select(records.c.body).where(records.c.seq == seq)).scalar_one()
        rp = json.loads(body)
        if "pack_refs" not in rp:
            continue
        refs = rp.pop("pack_refs")
        rp["packs_referenced"] = len(refs) if isinstance(refs, list) else None
        if isinstance(refs, list):
            bind.execute(records.insert().values(
                kind="point_packs", id=rp["id"], account_id=rp.get("account_id") or "",
                parent_id=rp.get("vault_id") or rp.get("parent_id") or "", name=None, status="",
                body=json.dumps({"id": rp["id"], "account_id": rp.get("account_id"),
                                 "parent_id": rp.get("vault_id") or rp.get("parent_id"), "name": None, "refs": refs},
                                sort_keys=True)))
        bind.execute(records.update().where(records.c.seq == seq).values(body=json.dumps(rp, sort_keys=True)))


def downgrade() -> None:
    bind = op.get_bind()
    lists = bind.execute(sa.select(records.c.id, records.c.body).where(records.c.kind == "point_packs")).all()
    for rp_id, body in lists:
        row = bind.execute(sa.select(records.c.seq, records.c.body).where(
            records.c.kind == "recovery_point", records.c.id == rp_id)).first()
        if row is not None:
            rp = json.loads(row[1])
            rp.pop("packs_referenced", None)
            rp["pack_refs"] = json.loads(body)["refs"]
            bind.execute(records.update().where(records.c.seq == row[0]).values(body=json.dumps(rp, sort_keys=True)))
    bind.execute(records.delete().where(records.c.kind == "point_packs"))
    rest = bind.execute(sa.select(records.c.seq, records.c.body).where(records.c.kind == "recovery_point")).all()
    for seq, body in rest:  # points whose agent did not register their packs
        rp = json.loads(body)
        if "packs_referenced" in rp:
            rp.pop("packs_referenced")
            rp["pack_refs"] = None
            bind.execute(records.update().where(records.c.seq == seq).values(body=json.dumps(rp, sort_keys=True)))
