"""records found by name within an account without a full walk of the account's records

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

``find(kind, account_id=…, name=…)`` (an endpoint's, a vault's, a vnet's name) used the (kind, account_id) index
and read every record of that kind in the account: 3.4 ms per lookup at 2,000 endpoints, on every create.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_records_account_name", "records", ["kind", "account_id", "name"])


def downgrade() -> None:
    op.drop_index("ix_records_account_name", table_name="records")
