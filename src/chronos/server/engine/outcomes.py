"""What happens to a job when one of its executions ends.

Shared by worker results, expired leases and (later) push responses, so every path applies
the same retry rule: a failed, retryable attempt with retries left sends the job back to
``pending`` with ``run_at = now + backoff``; otherwise the job is final.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server import metrics
from chronos.server.engine.retry import RetryPolicy
from chronos.server.engine.states import ExecutionStatus, JobStatus
from chronos.server.store import executions as execution_store
from chronos.server.store import jobs as job_store
from chronos.server.store import schedules as schedule_store


@dataclass(frozen=True)
class Ending:
    """How one running execution ended."""

    execution: dict[str, Any]  # a row from execution_lock_many / execution_lock_expired
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


@dataclass
class Applied:
    retries_scheduled: int = 0
    completed: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.retries_scheduled + self.completed + self.failed


def normalize_error(error: Any) -> Any:
    if error is None or isinstance(error, dict):
        return error
    return {"message": str(error)}


def job_outcome(ending: Ending, now: datetime, rng: random.Random | None = None) -> dict[str, Any]:
    """The job's next state after ``ending``: pure, so it is tested without a database."""
    row = ending.execution
    base = {
        "id": row["job_id"],
        "now": now,
        "result": None,
        "run_at": row["run_at"],
        "last_error": normalize_error(ending.error),
        "finished_at": now,
    }
    if ending.status is ExecutionStatus.COMPLETED:
        return {
            **base,
            "status": JobStatus.COMPLETED.value,
            "result": ending.output,
            "last_error": None,
        }
    attempt_in_round = row["attempt"] - row["retry_base"]
    if ending.retryable and attempt_in_round <= row["max_retries"]:
        delay = RetryPolicy.from_dict(row["retry_policy"]).delay(attempt_in_round, rng)
        if ending.retry_after is not None:
            delay = timedelta(seconds=ending.retry_after)
        return {
            **base,
            "status": JobStatus.PENDING.value,
            "run_at": now + delay,
            "finished_at": None,
        }
    return {**base, "status": JobStatus.FAILED.value}


def _duration_ms(ending: Ending, now: datetime) -> int:
    if ending.duration_ms is not None:
        return ending.duration_ms
    return max(0, int((now - ending.execution["started_at"]).total_seconds() * 1000))


async def apply_endings(conn: AsyncConnection, endings: list[Ending], now: datetime) -> Applied:
    """Record ``endings`` on their executions and jobs, inside the caller's transaction."""
    applied = Applied()
    if not endings:
        return applied
    await execution_store.execution_finish_many(
        conn,
        [
            {
                "id": e.execution["id"],
                "status": e.status.value,
                "finished_at": now,
                "duration_ms": _duration_ms(e, now),
                "output": e.output,
                "error": normalize_error(e.error),
                "http_status": e.http_status,
                "response_excerpt": e.response_excerpt,
            }
            for e in endings
        ],
    )
    outcomes = [job_outcome(e, now) for e in endings]
    for ending in endings:
        metrics.EXECUTIONS_FINISHED.labels(ending.status.value).inc()
    await job_store.job_apply_outcomes(conn, outcomes)
    last_status: dict[str, str] = {}
    for ending, outcome in zip(endings, outcomes, strict=True):
        status = outcome["status"]
        if status == JobStatus.PENDING.value:
            applied.retries_scheduled += 1
            continue
        if status == JobStatus.COMPLETED.value:
            applied.completed += 1
        else:
            applied.failed += 1
        if ending.execution["schedule_id"]:
            last_status[ending.execution["schedule_id"]] = status
    await schedule_store.schedule_set_last_status_many(conn, last_status)
    return applied
