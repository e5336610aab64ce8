"""backfills: jobs for a schedule's past slots, exactly once

- ``backfills``: each backfill of a schedule's range (what it planned and did, who and why).
- ``jobs.backfill_id``: the backfill that created (or reran) a job, with a partial index.
- ``jobs.trigger`` may be ``backfill``, and the slot uniqueness ``uq_jobs_schedule_slot`` covers
  the triggers that claim a slot, ``schedule`` and ``backfill``: a slot the scheduler fired is
  never backfilled, and a backfilled slot is never fired again.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chronos.server.store.types import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOT_TRIGGERS = sa.text("trigger IN ('schedule', 'backfill')")
OLD_SLOT_TRIGGERS = sa.text("trigger = 'schedule'")
BACKFILLED = sa.text("backfill_id IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "backfills",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("schedule_id", sa.String(length=40), nullable=False),
        sa.Column("range_start", UTCDateTime(), nullable=False),
        sa.Column("range_end", UTCDateTime(), nullable=False),
        sa.Column("overlap", sa.String(length=8), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("rerun", sa.Integer(), nullable=False),
        sa.Column("skipped_existing", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("excluded", sa.Integer(), nullable=False),
        sa.Column("actor_key_id", sa.String(length=40), nullable=True),
        sa.Column("actor", sa.String(length=300), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("canceled_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("overlap IN ('skip', 'rerun')", name=op.f("ck_backfills_overlap")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_backfills_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfills")),
    )
    op.create_index(op.f("ix_backfills_schedule_id_id"), "backfills", ["schedule_id", "id"])
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backfill_id", sa.String(length=40), nullable=True))
        batch_op.drop_constraint(op.f("ck_jobs_trigger"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_jobs_trigger"), sa.text("trigger IN ('schedule', 'api', 'manual', 'backfill')")
        )
        batch_op.drop_index("uq_jobs_schedule_slot")
        batch_op.create_index(
            "uq_jobs_schedule_slot",
            ["schedule_id", "scheduled_for"],
            unique=True,
            postgresql_where=SLOT_TRIGGERS,
            sqlite_where=SLOT_TRIGGERS,
        )
        batch_op.create_index(
            op.f("ix_jobs_backfill_id"),
            ["backfill_id"],
            unique=False,
            postgresql_where=BACKFILLED,
            sqlite_where=BACKFILLED,
        )


def downgrade() -> None:
    # Backfilled jobs become one-off runs of their schedule (``manual``): the old CHECK has no
    # ``backfill``, and the old slot index no room for a second job of a slot.
    op.execute("UPDATE jobs SET trigger = 'manual' WHERE trigger = 'backfill'")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(op.f("ix_jobs_backfill_id"))
        batch_op.drop_index("uq_jobs_schedule_slot")
        batch_op.create_index(
            "uq_jobs_schedule_slot",
            ["schedule_id", "scheduled_for"],
            unique=True,
            postgresql_where=OLD_SLOT_TRIGGERS,
            sqlite_where=OLD_SLOT_TRIGGERS,
        )
        batch_op.drop_constraint(op.f("ck_jobs_trigger"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_jobs_trigger"), sa.text("trigger IN ('schedule', 'api', 'manual')")
        )
        batch_op.drop_column("backfill_id")
    op.drop_index(op.f("ix_backfills_schedule_id_id"), table_name="backfills")
    op.drop_table("backfills")
