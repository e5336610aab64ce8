"""Jobs as rules: how a job row is built, which status it starts in, and what one ended
execution does to it. Pure functions; the store writes what they return.

    >>> row = job_from_spec(spec, account_id="acc_1", now=now)   # a one-off job
    >>> row["status"]
    'ready'
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chronos.server.domain.hashing import jitter_delay
from chronos.server.domain.retry import RetryPolicy
from chronos.server.domain.rows import (
    Delivery,
    JobOutcome,
    JobRow,
    JobSpec,
    LockedExecution,
    ScheduleRow,
    ScheduleSpec,
)
from chronos.server.domain.schedules import spec_jitter
from chronos.server.domain.states import (
    ATTEMPT_OUTCOMES,
    JOB_INITIAL_STATUSES,
    DeliveryType,
    ExecutionStatus,
    IllegalTransition,
    JobStatus,
    JobTrigger,
)
from chronos.server.ids import new_id


def admitted_status(delivery_type: str) -> JobStatus:
    """Where a due, admitted job waits: ``queued`` for the dispatcher, ``ready`` for workers."""
    return JobStatus.QUEUED if delivery_type == DeliveryType.PUSH else JobStatus.READY


def _job_row(
    *,
    account_id: str,
    schedule_id: str | None,
    spec: JobSpec | ScheduleSpec,
    status: JobStatus,
    trigger: JobTrigger,
    scheduled_for: datetime,
    run_at: datetime,
    now: datetime,
    idempotency_key: str | None = None,
    last_error: Any = None,
) -> JobRow:
    if status not in JOB_INITIAL_STATUSES:
        raise IllegalTransition(f"a job cannot be created {status}")
    delivery: Delivery = spec["delivery"]
    final = status in (JobStatus.SKIPPED, JobStatus.CANCELED)
    return {
        "id": new_id("job"),
        "account_id": account_id,
        "schedule_id": schedule_id,
        "name": spec["name"],
        "handler": spec["handler"],
        "payload": spec["payload"],
        "delivery": delivery,
        "delivery_type": delivery["type"],
        "status": status.value,
        "trigger": trigger.value,
        "scheduled_for": scheduled_for,
        "run_at": run_at,
        "attempt": 0,
        "retry_base": 0,
        "max_retries": spec["max_retries"],
        "timeout_seconds": spec["timeout"],
        "retry_policy": spec["retry_policy"],
        "idempotency_key": idempotency_key,
        "tags": spec["tags"],
        "result": None,
        "last_error": last_error,
        "cancel_requested": False,
        "created_at": now,
        "updated_at": now,
        "finished_at": now if final else None,
        "backfill_id": None,
        "traceparent": None,  # set by the create or fire span while tracing is on
    }


def job_from_spec(spec: JobSpec, *, account_id: str, now: datetime) -> JobRow:
    """A one-off job: admitted at once when due (no concurrency policy), else ``pending``."""
    run_at = now
    if spec["delay"] is not None:
        run_at = now + timedelta(seconds=spec["delay"])
    elif spec["scheduled_for"] is not None:
        run_at = max(now, spec["scheduled_for"])
    due = run_at <= now
    return _job_row(
        account_id=account_id,
        schedule_id=None,
        spec=spec,
        status=admitted_status(spec["delivery"]["type"]) if due else JobStatus.PENDING,
        trigger=JobTrigger.API,
        scheduled_for=spec["scheduled_for"] or run_at,
        run_at=run_at,
        now=now,
        idempotency_key=spec["idempotency_key"],
    )


def job_from_schedule(
    schedule: ScheduleRow,
    slot: datetime,
    now: datetime,
    *,
    status: JobStatus,
    trigger: JobTrigger = JobTrigger.SCHEDULE,
) -> JobRow:
    """A schedule's job for ``slot`` (a fired slot, or ``now`` for a manual run).

    A fired slot's job runs at ``slot`` plus the schedule's jitter delay for it (the same on
    every node: ``hashing.jitter_delay``); until then an admitted job waits ``pending`` and the
    admission service releases it. ``scheduled_for`` stays the slot."""
    spec = schedule["spec"]
    run_at = now
    if trigger is JobTrigger.SCHEDULE:
        run_at = slot + jitter_delay(schedule["id"], slot, spec_jitter(spec))
        if run_at > now and status in (JobStatus.READY, JobStatus.QUEUED):
            status = JobStatus.PENDING
    skip_reason = None
    if status is JobStatus.SKIPPED:
        skip_reason = {
            "type": "skipped",
            "message": "an earlier job of this schedule was still in flight "
            f"(concurrency: {spec['concurrency']})",
        }
    return _job_row(
        account_id=schedule["account_id"],
        schedule_id=schedule["id"],
        spec=spec,
        status=status,
        trigger=trigger,
        scheduled_for=slot,
        run_at=run_at,
        now=now,
        last_error=skip_reason,
    )


def replaced(row: JobRow, now: datetime) -> None:
    """A job of this round superseded by a later slot under ``replace``: born canceled."""
    row["status"] = JobStatus.CANCELED.value
    row["finished_at"] = now


@dataclass(frozen=True)
class Result:
    """How an attempt ended, as reported: a worker's result, a push response, a lease expiry."""

    status: ExecutionStatus
    output: Any = None
    error: Any = None
    retryable: bool = True
    # Push deliveries also record what the endpoint answered.
    http_status: int | None = None
    response_excerpt: str | None = None
    duration_ms: int | None = None
    # Seconds the endpoint asked us to wait (``Retry-After``), overriding the backoff.
    retry_after: float | None = None


@dataclass(frozen=True)
class Ending:
    """A running execution (locked) and how it ended."""

    execution: LockedExecution
    result: Result


def normalize_error(error: Any) -> Any:
    if error is None or isinstance(error, dict):
        return error
    return {"message": str(error)}


def job_outcome(ending: Ending, now: datetime, rng: random.Random | None = None) -> JobOutcome:
    """The job's next state after ``ending``: a failed, retryable attempt with retries left
    sends it back to ``pending`` with ``run_at = now + backoff``; otherwise it is final."""
    row, result = ending.execution, ending.result
    outcome: JobOutcome = {
        "id": row["job_id"],
        "now": now,
        "status": JobStatus.FAILED.value,
        "result": None,
        "run_at": row["run_at"],
        "last_error": normalize_error(result.error),
        "finished_at": now,
    }
    if result.status is ExecutionStatus.COMPLETED:
        outcome["status"] = JobStatus.COMPLETED.value
        outcome["result"] = result.output
        outcome["last_error"] = None
    elif result.retryable and row["attempt"] - row["retry_base"] <= row["max_retries"]:
        attempt_in_round = row["attempt"] - row["retry_base"]
        delay = RetryPolicy.from_dict(row["retry_policy"]).delay(attempt_in_round, rng)
        if result.retry_after is not None:
            delay = timedelta(seconds=result.retry_after)
        outcome["status"] = JobStatus.PENDING.value
        outcome["run_at"] = now + delay
        outcome["finished_at"] = None
    assert JobStatus(outcome["status"]) in ATTEMPT_OUTCOMES
    return outcome


def success_code_ranges(codes: list[int | str] | list[str]) -> list[tuple[int, int]]:
    """``[204, "2xx", "200-201"]`` → ``[(204, 204), (200, 299), (200, 201)]``; ValueError if
    a code is neither."""
    ranges = []
    for code in codes:
        text = str(code).strip().lower()
        if re.fullmatch(r"[1-5]xx", text):
            low, high = int(text[0]) * 100, int(text[0]) * 100 + 99
        elif re.fullmatch(r"\d{3}-\d{3}", text):
            low, high = (int(part) for part in text.split("-"))
        elif re.fullmatch(r"\d{3}", text):
            low = high = int(text)
        else:
            raise ValueError(f'invalid success code {code!r}: use 204, "2xx" or "200-299"')
        if not 100 <= low <= high <= 599:
            raise ValueError(f"invalid success code {code!r}: codes run from 100 to 599")
        ranges.append((low, high))
    return ranges
