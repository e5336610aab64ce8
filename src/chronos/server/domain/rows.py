"""The shapes of stored rows and of the JSON they hold.

Rows travel between the store, the services, the engine and the presenters as plain dicts
(SQLAlchemy's row mappings, cheap on the hot paths); these TypedDicts name their keys and
types so mypy checks every access. Statuses are stored as their string values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict


class RetryPolicyData(TypedDict):
    initial_interval: float
    multiplier: float
    max_interval: float


class HttpTarget(TypedDict):
    url: str
    method: str
    headers: dict[str, str]
    body: str | None
    success_codes: list[str]  # canonical: "204", "200-299"


class Delivery(TypedDict):
    type: str  # DeliveryType
    http: NotRequired[HttpTarget]


class IntervalData(TypedDict):
    value: int
    unit: str  # second, minute, hour, day, week


class JobOptionsData(TypedDict):
    """What a schedule's jobs and a one-off job share."""

    handler: str | None
    payload: Any
    delivery: Delivery
    timeout: float
    max_retries: int
    retry_policy: RetryPolicyData
    tags: dict[str, str]


class DstPolicyData(TypedDict):
    gap: str  # "shift" | "skip": a local time inside a spring-forward gap
    overlap: str  # "first" | "last" | "both": a local time inside a repeated fall-back hour


class ScheduleSpec(JobOptionsData):
    """A schedule's whole normalised configuration (one per version)."""

    name: str
    description: str | None
    cron: str | None
    interval: IntervalData | None
    timezone: str
    start_at: str | None  # RFC 3339
    end_at: str | None
    concurrency: str  # Concurrency
    misfire_policy: str  # MisfirePolicy
    catchup_window: float
    enabled: bool
    # Issue 14. Specs stored before it lack these keys: read them with the
    # ``domain.schedules.spec_*`` accessors, which give the defaults.
    dst_policy: NotRequired[DstPolicyData]
    jitter: NotRequired[float]  # seconds; 0 = none
    spread: NotRequired[float]  # seconds; 0 = none
    exclude_calendars: NotRequired[list[str]]
    only_calendar: NotRequired[str | None]


class JobSpec(JobOptionsData):
    """A one-off job as a user asked for it, normalised (``normalize_job``)."""

    name: str | None
    idempotency_key: str | None
    delay: float | None  # seconds from now
    scheduled_for: datetime | None


class ScheduleRow(TypedDict):
    id: str
    account_id: str
    name: str
    handler: str | None
    tags: dict[str, str]
    spec: ScheduleSpec
    state: str  # ScheduleState
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class ScheduleEventRow(TypedDict):
    id: str
    schedule_id: str
    at: datetime
    kind: str  # ScheduleEventKind
    actor: str | None
    note: str | None
    details: dict[str, Any] | None
    version: int


class WorkerRow(TypedDict):
    account_id: str
    worker_id: str
    handlers: list[str]
    first_seen_at: datetime
    last_seen_at: datetime


class ScheduleVersionRow(TypedDict):
    schedule_id: str
    version: int
    spec: ScheduleSpec
    created_at: datetime


class JobRow(TypedDict):
    id: str
    account_id: str
    schedule_id: str | None
    name: str | None
    handler: str | None
    payload: Any
    delivery: Delivery
    delivery_type: str  # DeliveryType
    status: str  # JobStatus
    trigger: str  # JobTrigger
    scheduled_for: datetime
    run_at: datetime
    attempt: int
    retry_base: int  # ``attempt`` when the current round of tries began
    max_retries: int
    timeout_seconds: float
    retry_policy: RetryPolicyData
    idempotency_key: str | None
    tags: dict[str, str]
    result: Any
    last_error: Any
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    # The backfill that created (or last reran) the job; absent on rows built for other paths.
    backfill_id: NotRequired[str | None]
    # The W3C trace context the job was created in, while tracing is on (server/telemetry.py).
    traceparent: NotRequired[str | None]


class ClaimedJob(TypedDict):
    """A job just moved to ``running``, with the execution created for it."""

    id: str
    account_id: str
    name: str | None
    handler: str | None
    payload: Any
    delivery: Delivery
    schedule_id: str | None
    scheduled_for: datetime
    run_at: datetime
    attempt: int
    timeout_seconds: float
    trigger: str
    tags: dict[str, str]
    max_retries: int
    created_at: datetime
    execution_id: str
    lease_expires_at: datetime
    traceparent: NotRequired[str | None]  # the job's trace context, if it has one


class ExecutionRow(TypedDict):
    id: str
    job_id: str
    account_id: str
    attempt: int
    status: str  # ExecutionStatus
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    worker_id: str | None
    lease_expires_at: datetime | None
    http_status: int | None
    response_excerpt: str | None
    output: Any
    error: Any


class LockedExecution(TypedDict):
    """A running execution locked for finishing, with what its job's retry rule needs."""

    id: str
    status: str
    started_at: datetime
    job_id: str
    account_id: str
    attempt: int
    schedule_id: str | None
    run_at: datetime
    retry_base: int
    max_retries: int
    retry_policy: RetryPolicyData
    traceparent: NotRequired[str | None]  # the job's trace context, if it has one


class JobOutcome(TypedDict):
    """A job's next state after one of its executions ended (``domain.jobs.job_outcome``)."""

    id: str
    status: str  # completed, failed, or pending (a retry)
    run_at: datetime
    result: Any
    last_error: Any
    finished_at: datetime | None
    now: datetime


class ExecutionEnd(TypedDict):
    """What is recorded on an execution when it ends."""

    id: str
    status: str
    finished_at: datetime
    duration_ms: int
    output: Any
    error: Any
    http_status: int | None
    response_excerpt: str | None


class JobMoved(TypedDict):
    """A job whose status just changed, for wake-ups: who should look at it next."""

    account_id: str
    handler: str | None
    status: str


class ApiKeyRow(TypedDict):
    id: str
    account_id: str
    name: str
    prefix: str
    key_hash: str
    created_at: datetime
    scope: str  # KeyScope
    last_used_at: datetime | None


class KeyHolder(TypedDict):
    """Who an API key speaks for."""

    key_id: str
    account_id: str
    scope: str  # KeyScope
    last_used_at: datetime | None
    key_name: str
    key_prefix: str
    account_name: str


def actor_of(holder: KeyHolder, *, via: str | None = None) -> str:
    """How a change made with this key is attributed: ``ops (chrns_AbC1…)``, prefixed with
    ``via`` (``"dashboard"``) when it was made through a front end."""
    who = f"{holder['key_name']} ({holder['key_prefix']}…)"
    return f"{via}: {who}" if via else who


class AccountRow(TypedDict):
    id: str
    name: str
    created_at: datetime


class AccountSummaryRow(AccountRow):
    key_count: int  # API keys the account has (``chronos accounts list``)


class SigningSecretRow(TypedDict):
    id: str
    account_id: str
    secret: str
    status: str
    created_at: datetime
