"""alerts: rules, the alert history, and the outbox of webhook notifications

- ``alert_rules``: what to watch (condition, selector, grace, cooldown, webhook) and the
  evaluator's bookkeeping (``next_eval_at``, ``evaluated_at``).
- ``alerts``: every alert (pending, firing, resolved); ``uq_alerts_open`` keeps one open alert
  per rule and subject.
- ``alert_notifications``: the webhook deliveries, written with the alert change they announce.
- ``ix_schedule_events_kind_at``: the recent ``missed`` events the evaluator reads every look.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chronos.server.store.types import JSONType, UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('pending', 'firing')"
DUE = "status = 'pending'"
RESOLVED = "status = 'resolved'"
DONE = "status <> 'pending'"


def upgrade() -> None:
    # The evaluator's missed-slot rule reads the recent ``missed`` events every look.
    op.create_index(op.f("ix_schedule_events_kind_at"), "schedule_events", ["kind", "at"])
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("condition", JSONType, nullable=False),
        sa.Column("selector", JSONType, nullable=False),
        sa.Column("grace", sa.Float(), nullable=False),
        sa.Column("cooldown", sa.Float(), nullable=False),
        sa.Column("webhook", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("evaluated_at", UTCDateTime(), nullable=True),
        sa.Column("next_eval_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_alert_rules_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_alert_rules_account_id_name")),
    )
    op.create_index(op.f("ix_alert_rules_account_id_id"), "alert_rules", ["account_id", "id"])
    op.create_index(
        "ix_alert_rules_due",
        "alert_rules",
        ["next_eval_at"],
        postgresql_where=sa.text("enabled"),
        sqlite_where=sa.text("enabled"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=40), nullable=False),
        sa.Column("rule_name", sa.String(length=200), nullable=False),
        sa.Column("condition", sa.String(length=32), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column("subject_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", JSONType, nullable=False),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'firing', 'resolved')", name=op.f("ck_alerts_status")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_alerts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_account_id_id"), "alerts", ["account_id", "id"])
    op.create_index(op.f("ix_alerts_rule_id_resolved_at"), "alerts", ["rule_id", "resolved_at"])
    op.create_index(
        "ix_alerts_resolved",
        "alerts",
        ["resolved_at"],
        postgresql_where=sa.text(RESOLVED),
        sqlite_where=sa.text(RESOLVED),
    )
    op.create_index(
        "uq_alerts_open",
        "alerts",
        ["rule_id", "subject_type", "subject_id"],
        unique=True,
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )
    op.create_table(
        "alert_notifications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("alert_id", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("target", JSONType, nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'canceled')",
            name=op.f("ck_alert_notifications_status"),
        ),
        sa.CheckConstraint(
            "event IN ('firing', 'resolved')", name=op.f("ck_alert_notifications_event")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_alert_notifications_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_notifications_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notifications")),
    )
    op.create_index(
        op.f("ix_alert_notifications_alert_id_id"), "alert_notifications", ["alert_id", "id"]
    )
    op.create_index(
        "ix_alert_notifications_due",
        "alert_notifications",
        ["next_attempt_at"],
        postgresql_where=sa.text(DUE),
        sqlite_where=sa.text(DUE),
    )
    op.create_index(
        "ix_alert_notifications_done",
        "alert_notifications",
        ["created_at"],
        postgresql_where=sa.text(DONE),
        sqlite_where=sa.text(DONE),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_schedule_events_kind_at"), table_name="schedule_events")
    op.drop_table("alert_notifications")
    op.drop_table("alerts")
    op.drop_table("alert_rules")
