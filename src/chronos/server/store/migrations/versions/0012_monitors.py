"""heartbeat monitors and their recent pings

- ``monitors``: a dead-man's switch for work outside Chronos (cron or interval expectation,
  grace, max runtime, the tokenised ping URL's secret and its hash).
- ``monitor_pings``: each monitor's latest pings (ok, start, fail), with a body excerpt.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chronos.server.store.types import JSONType, UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", JSONType, nullable=False),
        sa.Column("cron", sa.String(length=200), nullable=True),
        sa.Column("interval_seconds", sa.Float(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("grace_seconds", sa.Float(), nullable=False),
        sa.Column("max_runtime_seconds", sa.Float(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ping_token", sa.String(length=64), nullable=False),
        sa.Column("ping_token_hash", sa.String(length=64), nullable=False),
        sa.Column("last_ping_at", UTCDateTime(), nullable=True),
        sa.Column("last_ping_kind", sa.String(length=8), nullable=True),
        sa.Column("last_start_at", UTCDateTime(), nullable=True),
        sa.Column("next_expected_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "state IN ('new', 'up', 'failed', 'paused')", name=op.f("ck_monitors_state")
        ),
        sa.CheckConstraint(
            "last_ping_kind IN ('ok', 'fail')", name=op.f("ck_monitors_last_ping_kind")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_monitors_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_monitors_account_id_name")),
        sa.UniqueConstraint("ping_token_hash", name=op.f("uq_monitors_ping_token_hash")),
    )
    op.create_index(op.f("ix_monitors_account_id_id"), "monitors", ["account_id", "id"])
    op.create_table(
        "monitor_pings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("monitor_id", sa.String(length=40), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.CheckConstraint("kind IN ('ok', 'start', 'fail')", name=op.f("ck_monitor_pings_kind")),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_monitor_pings_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_pings")),
    )
    op.create_index(op.f("ix_monitor_pings_monitor_id_id"), "monitor_pings", ["monitor_id", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_monitor_pings_monitor_id_id"), table_name="monitor_pings")
    op.drop_table("monitor_pings")
    op.drop_index(op.f("ix_monitors_account_id_id"), table_name="monitors")
    op.drop_table("monitors")
