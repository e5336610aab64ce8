"""calendars: named sets of dates that schedules exclude or run only on (issue 14)

- ``calendars``: an account's calendars (dates, ranges, rules as JSON), unique by name.
- ``schedule_calendars``: which calendars each schedule names; the foreign key to
  ``calendars`` has no cascade, so a calendar in use cannot be deleted.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chronos.server.store.types import JSONType, UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendars",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("spec", JSONType, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_calendars_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendars")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_calendars_account_id_name")),
    )
    op.create_table(
        "schedule_calendars",
        sa.Column("schedule_id", sa.String(length=40), nullable=False),
        sa.Column("calendar_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_schedule_calendars_calendar_id_calendars"),
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_calendars_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("schedule_id", "calendar_id", name=op.f("pk_schedule_calendars")),
    )
    op.create_index(
        op.f("ix_schedule_calendars_calendar_id"), "schedule_calendars", ["calendar_id"]
    )


def downgrade() -> None:
    op.drop_table("schedule_calendars")
    op.drop_table("calendars")
