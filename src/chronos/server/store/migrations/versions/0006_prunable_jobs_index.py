"""an index for the pruner: finished jobs by finished_at

The pruner deletes the oldest finished jobs 1,000 at a time. Without an index on
``finished_at`` every batch read the whole jobs table to find them: under steady load its cost
grew with the history kept (the W7 soak showed PostgreSQL's CPU climbing). Partial: only
finished jobs have ``finished_at``.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINISHED = sa.text("finished_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_jobs_prunable",
            ["finished_at"],
            unique=False,
            postgresql_where=FINISHED,
            sqlite_where=FINISHED,
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_prunable")
