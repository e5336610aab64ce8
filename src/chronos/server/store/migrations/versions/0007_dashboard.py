"""the dashboard's records: schedule events, workers seen, server secrets

- ``schedule_events``: who paused, resumed, changed or triggered a schedule, when, and why
  (the pause note); the fire ledger reads paused periods from it.
- ``workers``: pull workers as last seen by a claim (handlers, first and last seen).
- ``server_secrets``: the cluster's own secrets, e.g. the key that signs dashboard cookies.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chronos.server.store.types import JSONType, UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_KINDS = (
    "kind IN ('created', 'updated', 'paused', 'resumed', 'enabled', 'disabled', "
    "'rolled_back', 'triggered', 'missed')"
)


def upgrade() -> None:
    op.create_table(
        "schedule_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("schedule_id", sa.String(length=40), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("details", JSONType, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(EVENT_KINDS, name=op.f("ck_schedule_events_kind")),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_events_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_events")),
    )
    op.create_index(
        op.f("ix_schedule_events_schedule_id_at"), "schedule_events", ["schedule_id", "at"]
    )
    op.create_table(
        "workers",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=False),
        sa.Column("handlers", JSONType, nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_workers_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "worker_id", name=op.f("pk_workers")),
    )
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_secrets")),
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
    op.drop_table("workers")
    op.drop_index(op.f("ix_schedule_events_schedule_id_at"), table_name="schedule_events")
    op.drop_table("schedule_events")
