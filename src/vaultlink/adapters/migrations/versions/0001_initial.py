"""initial tables: records, audit events, chunk index

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ux_records_kind_id", "records", ["kind", "id"], unique=True)
    op.create_index("ux_records_name", "records", ["kind", "account_id", "parent_id", "name"], unique=True)
    op.create_index("ix_records_parent", "records", ["kind", "parent_id"])
    op.create_index("ix_records_account", "records", ["kind", "account_id"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("plane", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=True),
        sa.Column("principal", sa.String(255), nullable=True),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("target", sa.String(512), nullable=True),
        sa.Column("vault", sa.String(128), nullable=True),
        sa.Column("endpoint", sa.String(128), nullable=True),
        sa.Column("source_ip", sa.String(64), nullable=True),
        sa.Column("vnet", sa.String(128), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_time", "audit_events", ["time"])
    op.create_index("ix_audit_vault", "audit_events", ["vault", "seq"])
    op.create_index("ix_audit_endpoint", "audit_events", ["endpoint", "seq"])
    op.create_index("ix_audit_principal", "audit_events", ["principal", "seq"])
    op.create_table(
        "chunk_index",
        sa.Column("vault_id", sa.String(64), primary_key=True),
        sa.Column("chunk_id", sa.LargeBinary(32), primary_key=True),
        sa.Column("pack", sa.String(128), nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("length", sa.Integer, nullable=False),
        sa.Column("raw_length", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chunk_index")
    op.drop_table("audit_events")
    op.drop_table("records")
