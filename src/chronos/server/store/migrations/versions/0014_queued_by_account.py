"""ix_jobs_queued on (account_id, run_at): the dispatcher's reads stop following the backlog

The dispatcher lists the accounts with queued push jobs and claims for each in turn. Over an
index on ``run_at`` alone, both read every queued job: the list grouped them all, and a claim
for one account walked past the others' jobs. Led by ``account_id``, the list skips from one
account to the next (a loose index scan) and reads at most a few jobs of each, and a claim reads
only its account's jobs, oldest first: their cost follows the accounts waiting, not the jobs.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Build the new index while the old one still serves (a build blocks writes to
        # ``jobs``, not reads), then swap the names: ``DROP INDEX`` takes the table's
        # exclusive lock, held until the migration commits, right after.
        op.create_index(
            "ix_jobs_queued_0014", "jobs", ["account_id", "run_at"], postgresql_where=QUEUED
        )
        op.drop_index("ix_jobs_queued", table_name="jobs")
        op.execute("ALTER INDEX ix_jobs_queued_0014 RENAME TO ix_jobs_queued")
        return
    # SQLite (one process, one writer): in place, no batch (nothing about the table changes).
    op.drop_index("ix_jobs_queued", table_name="jobs")
    op.create_index("ix_jobs_queued", "jobs", ["account_id", "run_at"], sqlite_where=QUEUED)


def downgrade() -> None:
    op.drop_index("ix_jobs_queued", table_name="jobs")
    op.create_index(
        "ix_jobs_queued", "jobs", ["run_at"], postgresql_where=QUEUED, sqlite_where=QUEUED
    )
