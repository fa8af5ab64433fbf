"""every job with its creation time (``created``), so that jobs can be read newest first by it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

A job made by a machine's start, a plan's copy or the scheduler had no ``created`` (queued restores and copies did):
``ListBackupJobs`` (the last 30 days, as AWS answers; ``ByCreatedAfter``/``Before``) pages a vault's jobs by it
and stops at the first one older than the window, instead of reading every job the vault ever had. The jobs stored
are given theirs: when they were scheduled, else started, else ended. Carried over a job at a time.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

records = sa.table("records", sa.column("seq", sa.Integer), sa.column("kind", sa.String), sa.column("body", sa.Text))


def upgrade() -> None:
    bind = op.get_bind()
    seqs = [s for (s,) in bind.execute(sa.text("SELECT seq FROM records WHERE kind = 'job' ORDER BY seq"))]
    for seq in seqs:
        job = json.loads(bind.execute(sa.select(records.c.body).where(records.c.seq == seq)).scalar_one())
        if job.get("created") is not None:
            continue
        job["created"] = next((float(job[k]) for k in ("scheduled", "start", "end")
                               if isinstance(job.get(k), (int, float))), 0.0)
        bind.execute(records.update().where(records.c.seq == seq).values(body=json.dumps(job, sort_keys=True)))


def downgrade() -> None:
    pass  # an older release ignores the field
