"""a record's status in an indexed column: a vault's running jobs found without reading every job it ever had

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Every job start (the machine's running jobs), every scheduler pass (the open jobs of every vault), each container's
prune and ``job list --status`` read every job record of the vault (or of the service) and decoded it: at 100k jobs
(a year of hourly backups of a dozen machines) 1.4 s of the server's time per backup start, in the write
transaction, and 1.5-2 s per scheduler pass. ``status`` holds the body's ``status`` (``ports.record_status``), and
``(kind, status, parent_id)`` finds the few open ones. The rows stored are given theirs here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("records", sa.Column("status", sa.String(32), nullable=False, server_default=""))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE records SET status = json_extract(body, '$.status') "
                   "WHERE json_type(body, '$.status') = 'text' AND length(json_extract(body, '$.status')) <= 32")
    else:
        op.execute("UPDATE records SET status = body::jsonb->>'status' "
                   "WHERE jsonb_typeof(body::jsonb->'status') = 'string' AND length(body::jsonb->>'status') <= 32")
    op.create_index("ix_records_status", "records", ["kind", "status", "parent_id"])


def downgrade() -> None:
    op.drop_index("ix_records_status", table_name="records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("status")
