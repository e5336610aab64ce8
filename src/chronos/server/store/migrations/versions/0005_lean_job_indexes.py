"""lean job indexes: keyless and one-off jobs get no entry in the idempotency and schedule indexes

Every status change rewrites a job's index entries (``status`` is in partial-index predicates,
so the update cannot be HOT). Most jobs have no idempotency key and many no schedule; indexing
their NULLs cost two index writes per transition for nothing.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYED = sa.text("idempotency_key IS NOT NULL")
SCHEDULED = sa.text("schedule_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_jobs_account_id_idempotency_key"), type_="unique")
        batch_op.drop_index("ix_jobs_schedule_listing")
        batch_op.create_index(
            "uq_jobs_idempotency_key",
            ["account_id", "idempotency_key"],
            unique=True,
            postgresql_where=KEYED,
            sqlite_where=KEYED,
        )
        batch_op.create_index(
            "ix_jobs_schedule_listing",
            ["schedule_id", "id"],
            unique=False,
            postgresql_where=SCHEDULED,
            sqlite_where=SCHEDULED,
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_schedule_listing")
        batch_op.drop_index("uq_jobs_idempotency_key")
        batch_op.create_index("ix_jobs_schedule_listing", ["schedule_id", "id"], unique=False)
        batch_op.create_unique_constraint(
            op.f("uq_jobs_account_id_idempotency_key"), ["account_id", "idempotency_key"]
        )
