"""every job with its creation time (``created``), so that jobs can be read newest first by it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

A job made by a machine's start, a plan's copy or the scheduler had no ``created`` (queued restores and copies did):
``ListBackupJobs`` (the last 30 days, as AWS answers; ``ByCreatedAfter``/``Before``) pages a vault's jobs by it
and stops at the first one older than the window, instead of reading every job the vault ever had. The jobs stored
are given theirs: when they were scheduled, else started, else ended (one statement in the database).
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # in the database, one statement (a job at a time through Python took 15.8 s at 100k jobs, at a server's start)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE records SET body = json_set(body, '$.created', COALESCE(json_extract(body, '$.scheduled'), "
                   "json_extract(body, '$.start'), json_extract(body, '$.end'), 0.0)) "
                   "WHERE kind = 'job' AND json_extract(body, '$.created') IS NULL")
    else:
        op.execute("UPDATE records SET body = (body::jsonb || jsonb_build_object('created', COALESCE("
                   "NULLIF(body::jsonb->'scheduled', 'null'::jsonb), NULLIF(body::jsonb->'start', 'null'::jsonb), "
                   "NULLIF(body::jsonb->'end', 'null'::jsonb), '0.0'::jsonb)))::text "
                   "WHERE kind = 'job' AND COALESCE(jsonb_typeof(body::jsonb->'created'), 'null') = 'null'")


def downgrade() -> None:
    pass  # an older release ignores the field
