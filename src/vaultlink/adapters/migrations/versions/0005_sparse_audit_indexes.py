"""the audit log's indexes on often-empty fields hold only the rows that have a value (partial indexes)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``code`` is empty on every allowed request, ``endpoint`` on the public endpoint, ``vault`` on management calls,
``account_id`` and ``principal`` on unauthenticated refusals; a filter on any of them names a value, which implies
the field is set, so an index over the rows where it is set serves every listing (issue #13: fewer index entries
to write per audited request, and fewer bytes on disk). Rebuilding the six indexes reads the table once each.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SPARSE = ("account_id", "principal", "vault", "endpoint", "code")


def _where(column: str) -> dict[str, Any]:
    cond = sa.text(f"{column} IS NOT NULL")
    return {"sqlite_where": cond, "postgresql_where": cond}


def upgrade() -> None:
    for c in SPARSE:
        op.drop_index(f"ix_audit_log_{c}", table_name="audit_log")
        op.create_index(f"ix_audit_log_{c}", "audit_log", [c, "seq"], **_where(c))
    op.drop_index("ix_audit_log_account_code", table_name="audit_log")
    op.create_index("ix_audit_log_account_code", "audit_log", ["account_id", "code", "seq"], **_where("code"))


def downgrade() -> None:
    for c in SPARSE:
        op.drop_index(f"ix_audit_log_{c}", table_name="audit_log")
        op.create_index(f"ix_audit_log_{c}", "audit_log", [c, "seq"])
    op.drop_index("ix_audit_log_account_code", table_name="audit_log")
    op.create_index("ix_audit_log_account_code", "audit_log", ["account_id", "code", "seq"])
