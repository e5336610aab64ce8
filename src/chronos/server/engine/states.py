"""The job and execution state machines, written down once.

Every transition below is enforced in SQL by a conditional update (``... WHERE status = 'running'``)
whose row count is checked, so a lost race is a clean conflict, never a corrupt row.

Job statuses, and the service that moves a job out of each one:

``pending``    waiting for ``run_at`` (a delayed job, or a failed attempt waiting for its retry).
               The admission service moves it on when it is due.
``admitting``  due, concurrency policy being applied. Admission happens inside the transaction that
               makes the job due, so this status is never seen at rest; it names that step.
``queued``     admitted push job, waiting for the dispatcher.
``ready``      admitted pull job, claimable by a worker (the claim endpoint moves it on).
``running``    an execution is in flight: a worker's result, the lease rescuer or a cancel end it.
``completed``, ``failed``, ``canceled``, ``skipped``: final (``retry`` re-opens failed/canceled).
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    ADMITTING = "admitting"
    QUEUED = "queued"
    READY = "ready"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"


class ExecutionStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELED = "canceled"


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    API = "api"
    MANUAL = "manual"


class ScheduleState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    PAUSED = "paused"


class Concurrency(StrEnum):
    FORBID = "forbid"
    ALLOW = "allow"
    REPLACE = "replace"


FINAL_JOB_STATUSES = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.SKIPPED}
)
# A schedule's job in one of these counts as "in flight" for its concurrency policy.
IN_FLIGHT_JOB_STATUSES = frozenset(
    {JobStatus.PENDING, JobStatus.ADMITTING, JobStatus.QUEUED, JobStatus.READY, JobStatus.RUNNING}
)
# Jobs that can still be canceled without a worker's help.
CANCELABLE_AT_ONCE = frozenset(
    {JobStatus.PENDING, JobStatus.ADMITTING, JobStatus.QUEUED, JobStatus.READY}
)
RETRYABLE_BY_USER = frozenset({JobStatus.FAILED, JobStatus.CANCELED})

JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset(
        {JobStatus.QUEUED, JobStatus.READY, JobStatus.SKIPPED, JobStatus.CANCELED}
    ),
    JobStatus.ADMITTING: frozenset(
        {JobStatus.QUEUED, JobStatus.READY, JobStatus.SKIPPED, JobStatus.CANCELED}
    ),
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELED}),
    JobStatus.READY: frozenset({JobStatus.RUNNING, JobStatus.CANCELED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.PENDING, JobStatus.CANCELED}
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset({JobStatus.PENDING}),
    JobStatus.CANCELED: frozenset({JobStatus.PENDING}),
    JobStatus.SKIPPED: frozenset(),
}


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    return target in JOB_TRANSITIONS[current]
