"""the compact audit log: named fields interned in audit_names, the rest as short JSON (audit_log)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Events of the old ``audit_events`` table are carried over (their JSON body is the whole event), then the
old table goes.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NAMED = ("account_id", "plane", "principal", "action", "target", "vault", "endpoint", "source_ip", "vnet",
         "decision", "code", "host", "method", "container")
FILTERS = ("account_id", "plane", "principal", "action", "vault", "endpoint", "decision", "code")


def upgrade() -> None:
    op.create_table(
        "audit_names",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("text", sa.String(1024), nullable=False, unique=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time_ms", sa.BigInteger, nullable=False),
        *(sa.Column(c, sa.Integer, nullable=True) for c in NAMED),
        sa.Column("rest", sa.Text, nullable=True),
    )
    op.create_index("ix_audit_log_time", "audit_log", ["time_ms"])
    for c in FILTERS:
        op.create_index(f"ix_audit_log_{c}", "audit_log", [c, "seq"])
    op.create_index("ix_audit_log_account_code", "audit_log", ["account_id", "code", "seq"])
    bind = op.get_bind()
    names: dict[str, int] = {}
    names_t = sa.table("audit_names", sa.column("id", sa.Integer), sa.column("text", sa.String))
    log_t = sa.table("audit_log", sa.column("seq", sa.Integer), sa.column("time_ms", sa.BigInteger),
                     *(sa.column(c, sa.Integer) for c in NAMED), sa.column("rest", sa.Text))

    def intern(text: str) -> int:
        if text not in names:
            bind.execute(names_t.insert().values(text=text))
            names[text] = int(bind.execute(sa.select(names_t.c.id).where(names_t.c.text == text)).scalar_one())
        return names[text]

    rows = bind.execute(sa.text("SELECT seq, time, body FROM audit_events ORDER BY seq")).fetchall()
    for seq, t, body in rows:
        ev = json.loads(body)
        ev.pop("seq", None)
        ev.pop("time", None)
        row = {"seq": seq, "time_ms": round(float(t) * 1000)}
        for c in NAMED:
            v = ev.pop(c, None)
            row[c] = intern(str(v)[:1024]) if v is not None else None
        rest = {k: v for k, v in ev.items() if v is not None}
        row["rest"] = json.dumps(rest, separators=(",", ":"), default=str) if rest else None
        bind.execute(log_t.insert().values(**row))
    op.drop_table("audit_events")


def downgrade() -> None:
    raise NotImplementedError("the compact audit log is not converted back")
