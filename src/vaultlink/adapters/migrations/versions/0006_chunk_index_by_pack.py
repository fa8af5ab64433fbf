"""a container's chunk-index rows read pack by pack through an index, not every row of the vault

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

An agent loads its container's index at every backup and restore (``GET /chunks``); the rows were found through the
primary key's ``vault_id`` prefix, reading every row of the vault in chunk-id order: 0.53-0.62 s of the server's
time at 100k chunks, a quarter of a no-change backup of 100k files. Through ``(vault_id, pack)`` the same rows come
in pack order in 0.17 s (``bench/README-backup.md``); prune's drop of a container's packs uses it too.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_chunk_index_pack", "chunk_index", ["vault_id", "pack"])


def downgrade() -> None:
    op.drop_index("ix_chunk_index_pack", table_name="chunk_index")
