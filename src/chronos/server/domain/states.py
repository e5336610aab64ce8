"""The job and execution state machines, written down once.

The tables below are the single source of truth. The store derives every guarded update from
them (``UPDATE jobs … WHERE status IN sources_of(CANCELED)``) and checks row counts, so a lost
race is a clean conflict, never a corrupt row; the CHECK constraints are generated from the
enums; and ``tests/store/test_transitions.py`` drives every store operation from every status on
both databases and fails on any move these tables do not allow.

Job statuses, and the service that moves a job out of each one:

``pending``    waiting for ``run_at`` (a delayed job, or a failed attempt waiting for its retry).
               The admission service (``engine/admission.py``) moves it on when it is due.
``admitting``  a fired slot whose schedule's concurrency policy is being applied. It happens
               inside the scheduler's transaction, so a job is never seen at rest in it: a
               fired job is *created* in one of ``JOB_TRANSITIONS[ADMITTING]``.
``queued``     admitted push job, waiting for the dispatcher (``engine/dispatcher.py``).
``ready``      admitted pull job, claimable by a worker (``services/executions.py: claim``).
``running``    an execution is in flight: a result (``finish_executions``), the lease rescuer
               or a cancel end it.
``completed``, ``skipped``: final, unless a backfill with ``overlap: "rerun"`` runs the slot
again. ``failed``, ``canceled``: final until a user retries the job (or a rerun), which admits it
again at once (``ready`` or ``queued``) with a fresh round of retries.

    >>> can_transition(JobStatus.RUNNING, JobStatus.PENDING)   # a failed attempt, retried later
    True
    >>> sources_of(JobStatus.RUNNING)
    frozenset({<JobStatus.QUEUED: 'queued'>, <JobStatus.READY: 'ready'>})
"""

from __future__ import annotations

from collections.abc import Iterable
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


class JobTrigger(StrEnum):
    """What created a job (the job's ``trigger`` field). Not to be confused with a schedule's
    timing rule, :data:`chronos.server.domain.timing.ScheduleTrigger`."""

    SCHEDULE = "schedule"
    API = "api"
    MANUAL = "manual"
    BACKFILL = "backfill"  # a past slot, created by a backfill (``domain/backfill.py``)


class DeliveryType(StrEnum):
    PULL = "pull"
    PUSH = "push"


class ScheduleState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    PAUSED = "paused"


class Concurrency(StrEnum):
    FORBID = "forbid"
    ALLOW = "allow"
    REPLACE = "replace"


class KeyScope(StrEnum):
    """What an API key may do."""

    ADMIN = "admin"  # everything
    WORKER = "worker"  # the worker protocol only: claim, heartbeat, results


class ScheduleEventKind(StrEnum):
    """What happened to a schedule (its event history: who changed what, when, why)."""

    CREATED = "created"
    UPDATED = "updated"  # a new configuration (a new version)
    PAUSED = "paused"
    RESUMED = "resumed"
    ENABLED = "enabled"
    DISABLED = "disabled"
    ROLLED_BACK = "rolled_back"
    TRIGGERED = "triggered"  # run now
    MISSED = "missed"  # slots the scheduler did not fire (downtime, under the misfire policy)


class SigningSecretStatus(StrEnum):
    CURRENT = "current"  # signs push requests
    PREVIOUS = "previous"  # still sent alongside until the next rotation


_ADMITTED = frozenset({JobStatus.QUEUED, JobStatus.READY})

JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: _ADMITTED | {JobStatus.CANCELED},
    JobStatus.ADMITTING: _ADMITTED | {JobStatus.SKIPPED, JobStatus.CANCELED},
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELED}),
    JobStatus.READY: frozenset({JobStatus.RUNNING, JobStatus.CANCELED}),
    # An attempt ends (completed, failed, pending for a retry), the job is canceled, or a node
    # shutting down releases it to be claimed again at once (queued, ready).
    JobStatus.RUNNING: _ADMITTED
    | {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.PENDING, JobStatus.CANCELED},
    JobStatus.COMPLETED: _ADMITTED,  # a backfill's rerun of its slot
    JobStatus.FAILED: _ADMITTED,  # a user's retry (or a rerun)
    JobStatus.CANCELED: _ADMITTED,  # a user's retry (or a rerun)
    JobStatus.SKIPPED: _ADMITTED,  # a backfill's rerun of its slot
}

# The statuses a job may be created in: ``pending`` (delayed), or the outcome of admission —
# admitted, or decided by the schedule's concurrency policy (skipped, or replaced by a later
# slot of the same round).
JOB_INITIAL_STATUSES = frozenset({JobStatus.PENDING}) | JOB_TRANSITIONS[JobStatus.ADMITTING]

EXECUTION_TRANSITIONS: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    ExecutionStatus.RUNNING: frozenset(
        {
            ExecutionStatus.COMPLETED,
            ExecutionStatus.FAILED,
            ExecutionStatus.TIMEOUT,
            ExecutionStatus.CANCELED,
        }
    ),
    ExecutionStatus.COMPLETED: frozenset(),
    ExecutionStatus.FAILED: frozenset(),
    ExecutionStatus.TIMEOUT: frozenset(),
    ExecutionStatus.CANCELED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A move the state machine does not allow: a bug in Chronos, never a user error."""


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    return target in JOB_TRANSITIONS[current]


def require_transition(current: JobStatus, target: JobStatus) -> None:
    if not can_transition(current, target):
        raise IllegalTransition(f"a job cannot move from {current} to {target}")


def sources_of(*targets: JobStatus) -> frozenset[JobStatus]:
    """The statuses from which a job may move to every one of ``targets``."""
    return frozenset(
        status
        for status, allowed in JOB_TRANSITIONS.items()
        if all(target in allowed for target in targets)
    )


def values(statuses: Iterable[StrEnum]) -> list[str]:
    """Sorted string values, for ``IN (…)`` clauses."""
    return sorted(status.value for status in statuses)


def check_in(column: str, enum: type[StrEnum]) -> str:
    """The SQL of a CHECK constraint allowing exactly ``enum``'s values, in declaration order."""
    listed = ", ".join(f"'{member.value}'" for member in enum)
    return f"{column} IN ({listed})"


FINAL_JOB_STATUSES = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.SKIPPED}
)
# A schedule's job in one of these counts as "in flight" for its concurrency policy.
IN_FLIGHT_JOB_STATUSES = frozenset(JobStatus) - FINAL_JOB_STATUSES
# Canceling a job: from any in-flight status (a running job's worker learns it by heartbeat).
CANCELABLE = sources_of(JobStatus.CANCELED)
# A user's retry (dead-letter replay): a failed or canceled job.
RETRYABLE_BY_USER = frozenset({JobStatus.FAILED, JobStatus.CANCELED})
# A backfill's rerun of a slot (``overlap: "rerun"``): any finished job runs again.
RERUNNABLE = FINAL_JOB_STATUSES
# Slots are claimed by these triggers (``uq_jobs_schedule_slot``): one job per slot, whichever
# made it; a manual run is not a slot.
SLOT_TRIGGERS = (JobTrigger.SCHEDULE, JobTrigger.BACKFILL)
# What one attempt can do to its running job: finish it, or send it back to wait for a retry.
ATTEMPT_OUTCOMES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.PENDING})
assert JOB_TRANSITIONS[JobStatus.RUNNING] >= ATTEMPT_OUTCOMES
assert RETRYABLE_BY_USER <= RERUNNABLE <= sources_of(*_ADMITTED)
