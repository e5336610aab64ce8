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
SCHEDULE_SLOT_PREDICATE = f"trigger = '{JobTrigger.SCHEDULE}'"
# The keyed jobs of ``uq_jobs_idempotency_key``; ``job_insert`` names it in ON CONFLICT.
IDEMPOTENCY_KEY_PREDICATE = "idempotency_key IS NOT NULL"

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
    sa.Index(None, "at"),
)

# calendars (0009) -----------------------------------------------------------------------

# backfills (0010) -----------------------------------------------------------------------

# alerts (0011) --------------------------------------------------------------------------

# monitors (0012) ------------------------------------------------------------------------

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
    sa.Index(
        "ix_jobs_queued",
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
