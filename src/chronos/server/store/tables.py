"""The schema, as SQLAlchemy Core tables. Alembic migrations must produce exactly this.

Guarantees live in constraints, not in code:
- ``uq_jobs_schedule_slot``: a schedule fires a slot once (partial: only ``trigger='schedule'``).
- ``uq_schedules_account_name`` and ``uq_jobs_idempotency_key`` (partial: keyed jobs only).
Partial indexes fit the hot queries: due schedules, due pending jobs, claimable jobs, leases.
Every status column has a CHECK constraint generated from its enum in ``domain/states.py``;
``tests/store/test_migrations.py`` fails if the migrated schema drifts from these tables.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from chronos.server.domain.alerts import (
    OPEN_STATUSES,
    AlertStatus,
    NotificationEvent,
    NotificationStatus,
)
from chronos.server.domain.backfill import Overlap
from chronos.server.domain.states import (
    DeliveryType,
    ExecutionStatus,
    JobStatus,
    JobTrigger,
    KeyScope,
    ScheduleEventKind,
    ScheduleState,
    SigningSecretStatus,
    check_in,
)
from chronos.server.store.types import JSONType, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = sa.String(40)


def _where(predicate: str) -> dict[str, Any]:
    """A partial index's predicate, the same on both backends."""
    clause = sa.text(predicate)
    return {"postgresql_where": clause, "sqlite_where": clause}


# The slots of ``uq_jobs_schedule_slot``; ``job_insert_fired`` names it in ON CONFLICT.
# A slot is claimed by the scheduler's job or a backfill's, whichever comes first.
SCHEDULE_SLOT_PREDICATE = f"trigger IN ('{JobTrigger.SCHEDULE}', '{JobTrigger.BACKFILL}')"
# The keyed jobs of ``uq_jobs_idempotency_key``; ``job_insert`` names it in ON CONFLICT.
IDEMPOTENCY_KEY_PREDICATE = "idempotency_key IS NOT NULL"
# The open alerts of ``uq_alerts_open``: one per rule and subject.
ALERT_OPEN_PREDICATE = "status IN (" + ", ".join(f"'{s.value}'" for s in OPEN_STATUSES) + ")"
ALERT_RESOLVED_PREDICATE = f"status = '{AlertStatus.RESOLVED}'"

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    # The first characters of the key, shown in listings so a person can tell keys apart.
    sa.Column("prefix", sa.String(20), nullable=False),
    # SHA-256 of the whole key. Keys are 190 random bits, so a fast hash is enough.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False, server_default=KeyScope.ADMIN.value),
    # Updated at most once a minute, so that a busy key costs no write per request.
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Index(None, "account_id"),
    sa.CheckConstraint(check_in("scope", KeyScope), name="scope"),
)

signing_secrets = sa.Table(
    "signing_secrets",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("secret", sa.String(100), nullable=False),
    # "current" signs; "previous" is still sent alongside until the next rotation.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("account_id", "status"),
    sa.CheckConstraint(check_in("status", SigningSecretStatus), name="status"),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    # Denormalised from ``spec`` so lists can filter on them.
    sa.Column("handler", sa.String(200), nullable=True),
    sa.Column("tags", JSONType, nullable=False),
    # The whole normalised configuration; see chronos.server.domain.rows.ScheduleSpec.
    sa.Column("spec", JSONType, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("next_run_at", UTCDateTime(), nullable=True),
    sa.Column("last_run_at", UTCDateTime(), nullable=True),
    sa.Column("last_status", sa.String(16), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("account_id", "name"),
    sa.CheckConstraint(check_in("state", ScheduleState), name="state"),
    sa.Index(
        "ix_schedules_due",
        "next_run_at",
        **_where(f"state = '{ScheduleState.ENABLED}' AND next_run_at IS NOT NULL"),
    ),
)

schedule_versions = sa.Table(
    "schedule_versions",
    metadata,
    sa.Column(
        "schedule_id", ID, sa.ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.Integer(), primary_key=True),
    # The schedule's whole configuration as of this version (the ``spec`` it had).
    sa.Column("spec", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# What happened to each schedule and who did it: the dashboard's "paused by … because …" and
# the fire ledger's paused periods (a slot inside one was not missed, it was paused).
schedule_events = sa.Table(
    "schedule_events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("schedule_id", ID, sa.ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    # Who: the API key's name and prefix ("ops (chrns_AbC1)"), with "dashboard: " when it was
    # done from the dashboard.
    sa.Column("actor", sa.String(300), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    # Facts of the event, e.g. for ``missed``: {"count", "first", "last", "policy"}.
    sa.Column("details", JSONType, nullable=True),
    # The schedule's version after the event.
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Index(None, "schedule_id", "at"),
    # Recent events of a kind (the alert evaluator's missed slots, every look; the overview):
    # added by 0011.
    sa.Index(None, "kind", "at"),
    sa.CheckConstraint(check_in("kind", ScheduleEventKind), name="kind"),
)

# Pull workers as last seen by a claim: which handlers they poll for, and when. Written at most
# once every few seconds per worker and node, so a polling worker costs no write per poll.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column(
        "account_id",
        ID,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("worker_id", sa.String(200), primary_key=True),
    sa.Column("handlers", JSONType, nullable=False),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
)

# Secrets this cluster keeps for itself (the dashboard's cookie-signing key), made once by
# whichever node needs one first, the same for every node.
server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# --- issue 14: beyond the anchors ----------------------------------------------------------

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    # No foreign key: the record outlives the key that made it.
    sa.Column("actor_key_id", ID, nullable=True),
    sa.Column("actor", sa.String(300), nullable=True),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("resource_type", sa.String(20), nullable=False),
    sa.Column("resource_id", ID, nullable=False),
    sa.Column("resource_name", sa.String(200), nullable=True),
    sa.Column("changes", JSONType, nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Index(None, "account_id", "id"),
    sa.Index(None, "resource_id", "id"),
    # ``GET /v1/audit?resource_id=<name>``: a name finds the records of a deleted schedule too.
    sa.Index(None, "account_id", "resource_name", "id"),
    sa.Index(None, "at"),
)

# calendars (0009) -----------------------------------------------------------------------

# Named sets of dates a schedule excludes or runs only on (``domain/calendars.py``).
calendars = sa.Table(
    "calendars",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    # {"dates": [...], "ranges": [...], "rules": [...]}: domain.calendars.CalendarSpec.
    sa.Column("spec", JSONType, nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("account_id", "name"),
)

# Which calendars each schedule names (``exclude_calendars``, ``only_calendar``). The foreign
# key to ``calendars`` has no cascade: a calendar in use cannot be deleted, even by a delete
# racing with the schedule change that starts using it.
schedule_calendars = sa.Table(
    "schedule_calendars",
    metadata,
    sa.Column(
        "schedule_id", ID, sa.ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("calendar_id", ID, sa.ForeignKey("calendars.id"), primary_key=True),
    sa.Index(None, "calendar_id"),
)

# backfills (0010) -----------------------------------------------------------------------

# A backfill of a schedule's past range (domain/backfill.py): what it planned and did. Its jobs
# carry ``backfill_id``; its status (running, done) is read from them, canceled from here.
backfills = sa.Table(
    "backfills",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    # No foreign key: the record outlives its schedule, as the jobs do.
    sa.Column("schedule_id", ID, nullable=False),
    sa.Column("range_start", UTCDateTime(), nullable=False),
    sa.Column("range_end", UTCDateTime(), nullable=False),
    sa.Column("overlap", sa.String(8), nullable=False),
    sa.Column("created", sa.Integer(), nullable=False),
    sa.Column("rerun", sa.Integer(), nullable=False),
    sa.Column("skipped_existing", sa.Integer(), nullable=False),
    sa.Column("in_flight", sa.Integer(), nullable=False),
    sa.Column("excluded", sa.Integer(), nullable=False),
    sa.Column("actor_key_id", ID, nullable=True),
    sa.Column("actor", sa.String(300), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("canceled_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint(check_in("overlap", Overlap), name="overlap"),
    sa.Index(None, "schedule_id", "id"),
)

# alerts (0011) --------------------------------------------------------------------------

# Alert rules (domain/alerts.py). ``next_eval_at``/``evaluated_at`` are the evaluator's: due rules
# are locked (SKIP LOCKED on PostgreSQL) so each is evaluated by one node at a time.
alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
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
    sa.UniqueConstraint("account_id", "name"),
    sa.Index(None, "account_id", "id"),
    sa.Index("ix_alert_rules_due", "next_eval_at", **_where("enabled")),
)

# Alerts: the history. No foreign key to the rule: the record outlives it. At most one open
# (pending or firing) alert per rule and subject, whichever node evaluates (``uq_alerts_open``).
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("rule_id", ID, nullable=False),
    sa.Column("rule_name", sa.String(200), nullable=False),
    sa.Column("condition", sa.String(32), nullable=False),
    sa.Column("subject_type", sa.String(16), nullable=False),
    sa.Column("subject_id", sa.String(200), nullable=False),
    sa.Column("subject_name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("since", UTCDateTime(), nullable=False),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.Column("fired_at", UTCDateTime(), nullable=True),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("summary", sa.Text(), nullable=False),
    sa.Column("details", JSONType, nullable=False),
    sa.Column("reopened", sa.Integer(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint(check_in("status", AlertStatus), name="status"),
    sa.Index(None, "account_id", "id"),
    sa.Index(None, "rule_id", "resolved_at"),
    # The pruner's: resolved alerts past the retention (CHRONOS_ALERT_RETENTION).
    sa.Index("ix_alerts_resolved", "resolved_at", **_where(ALERT_RESOLVED_PREDICATE)),
    sa.Index(
        "uq_alerts_open",
        "rule_id",
        "subject_type",
        "subject_id",
        unique=True,
        **_where(ALERT_OPEN_PREDICATE),
    ),
)

# The outbox of webhook notifications: written in the transaction that fires or resolves the
# alert, sent (and retried) by the notifier, so a crash in between still sends it.
alert_notifications = sa.Table(
    "alert_notifications",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("alert_id", ID, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("target", JSONType, nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.Column("http_status", sa.Integer(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.CheckConstraint(check_in("status", NotificationStatus), name="status"),
    sa.CheckConstraint(check_in("event", NotificationEvent), name="event"),
    sa.Index(None, "alert_id", "id"),
    sa.Index(
        "ix_alert_notifications_due",
        "next_attempt_at",
        **_where(f"status = '{NotificationStatus.PENDING}'"),
    ),
    # The pruner's: notifications done with (sent, failed, withdrawn) past the retention.
    sa.Index(
        "ix_alert_notifications_done",
        "created_at",
        **_where(f"status <> '{NotificationStatus.PENDING}'"),
    ),
)

# monitors (0012) ------------------------------------------------------------------------

# Heartbeat monitors (domain/monitors.py). ``state`` never holds "late": that is derived from
# ``next_expected_at + grace_seconds`` and the time, so nothing has to run for it to show.
monitors = sa.Table(
    "monitors",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("tags", JSONType, nullable=False),
    sa.Column("cron", sa.String(200), nullable=True),
    sa.Column("interval_seconds", sa.Float(), nullable=True),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("grace_seconds", sa.Float(), nullable=False),
    sa.Column("max_runtime_seconds", sa.Float(), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    # The secret of the tokenised ping URL; pings find it by its SHA-256 (unique).
    sa.Column("ping_token", sa.String(64), nullable=False),
    sa.Column("ping_token_hash", sa.String(64), nullable=False),
    sa.Column("last_ping_at", UTCDateTime(), nullable=True),
    sa.Column("last_ping_kind", sa.String(8), nullable=True),
    sa.Column("last_start_at", UTCDateTime(), nullable=True),
    sa.Column("next_expected_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("account_id", "name"),
    sa.UniqueConstraint("ping_token_hash"),
    sa.Index(None, "account_id", "id"),
    sa.CheckConstraint("state IN ('new', 'up', 'failed', 'paused')", name="state"),
    sa.CheckConstraint("last_ping_kind IN ('ok', 'fail')", name="last_ping_kind"),
)

# Each monitor's latest pings (domain.monitors.PING_HISTORY of them; older ones are deleted).
monitor_pings = sa.Table(
    "monitor_pings",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("monitor_id", ID, sa.ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("exit_code", sa.Integer(), nullable=True),
    sa.Column("body", sa.Text(), nullable=True),
    sa.Column("source_ip", sa.String(64), nullable=True),
    sa.Index(None, "monitor_id", "id"),
    sa.CheckConstraint("kind IN ('ok', 'start', 'fail')", name="kind"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    # No foreign key: a job's history outlives its schedule.
    sa.Column("schedule_id", ID, nullable=True),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("handler", sa.String(200), nullable=True),
    sa.Column("payload", JSONType, nullable=True),
    sa.Column("delivery", JSONType, nullable=False),
    sa.Column("delivery_type", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("scheduled_for", UTCDateTime(), nullable=False),
    sa.Column("run_at", UTCDateTime(), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    # ``attempt`` when the current round of tries began (a user's retry starts a new round).
    sa.Column("retry_base", sa.Integer(), nullable=False),
    sa.Column("max_retries", sa.Integer(), nullable=False),
    sa.Column("timeout_seconds", sa.Float(), nullable=False),
    sa.Column("retry_policy", JSONType, nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("tags", JSONType, nullable=False),
    sa.Column("result", JSONType, nullable=True),
    sa.Column("last_error", JSONType, nullable=True),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    # The backfill that created the job or last reran it (no foreign key, as for schedules).
    sa.Column("backfill_id", ID, nullable=True),
    # The W3C ``traceparent`` the job was created in, only while tracing is on (0013;
    # server/telemetry.py): the claim hands it to the worker, push requests carry it.
    sa.Column("traceparent", sa.String(55), nullable=True),
    sa.CheckConstraint(check_in("status", JobStatus), name="status"),
    sa.CheckConstraint(check_in("trigger", JobTrigger), name="trigger"),
    sa.CheckConstraint(check_in("delivery_type", DeliveryType), name="delivery_type"),
    sa.Index(
        "uq_jobs_schedule_slot",
        "schedule_id",
        "scheduled_for",
        unique=True,
        **_where(SCHEDULE_SLOT_PREDICATE),
    ),
    sa.Index(
        "ix_jobs_claimable",
        "account_id",
        "handler",
        "run_at",
        **_where(f"status = '{JobStatus.READY}'"),
    ),
    # The dispatcher's: accounts with queued jobs (a loose scan), then one account's oldest.
    sa.Index(
        "ix_jobs_queued",
        "account_id",
        "run_at",
        **_where(f"status = '{JobStatus.QUEUED}'"),
    ),
    sa.Index(
        "ix_jobs_pending_due",
        "run_at",
        **_where(f"status = '{JobStatus.PENDING}'"),
    ),
    sa.Index("ix_jobs_account_listing", "account_id", "id"),
    # The pruner's: the oldest finished jobs first, without reading the rest of the table.
    sa.Index("ix_jobs_prunable", "finished_at", **_where("finished_at IS NOT NULL")),
    sa.Index(
        "uq_jobs_idempotency_key",
        "account_id",
        "idempotency_key",
        unique=True,
        **_where(IDEMPOTENCY_KEY_PREDICATE),
    ),
    # Partial: a job with no schedule has no entry here (one index write less per transition).
    sa.Index("ix_jobs_schedule_listing", "schedule_id", "id", **_where("schedule_id IS NOT NULL")),
    # A backfill's jobs (its progress, its cancel); only backfilled jobs have an entry.
    sa.Index(None, "backfill_id", **_where("backfill_id IS NOT NULL")),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("job_id", ID, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("account_id", ID, nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("duration_ms", sa.Integer(), nullable=True),
    sa.Column("worker_id", sa.String(200), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Column("http_status", sa.Integer(), nullable=True),
    sa.Column("response_excerpt", sa.Text(), nullable=True),
    sa.Column("output", JSONType, nullable=True),
    sa.Column("error", JSONType, nullable=True),
    sa.UniqueConstraint("job_id", "attempt"),
    sa.CheckConstraint(check_in("status", ExecutionStatus), name="status"),
    sa.Index(
        "ix_executions_lease",
        "lease_expires_at",
        **_where(f"status = '{ExecutionStatus.RUNNING}'"),
    ),
)
