"""Claims: the hot path. Ready pull jobs go to workers, queued push jobs to the dispatcher.

One statement per claim: ``UPDATE jobs SET status = 'running' … WHERE id IN (SELECT … FOR
UPDATE SKIP LOCKED)`` on PostgreSQL (so concurrent claimers never block each other or get the
same job), then one execution row per job claimed, with its lease. Both go through the partial
indexes ``ix_jobs_claimable`` and ``ix_jobs_queued``, so the cost follows the claimable jobs,
not the table.

The dispatcher shares its delivery slots between accounts: it lists the accounts with queued
jobs (:func:`job_queued_accounts`, one aggregate over the queued jobs), then claims for each
account on its own (``job_claim_queued(account_id=…)``). A window function would do it in one
statement, but PostgreSQL refuses ``FOR UPDATE`` beside one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.rows import ClaimedJob
from chronos.server.domain.states import ExecutionStatus, IllegalTransition, JobStatus, sources_of
from chronos.server.ids import new_id
from chronos.server.store.dialect import is_postgres, skip_locked, unnest
from chronos.server.store.tables import executions, jobs

CLAIM_COLUMNS = (
    jobs.c.id,
    jobs.c.account_id,
    jobs.c.name,
    jobs.c.handler,
    jobs.c.payload,
    jobs.c.delivery,
    jobs.c.schedule_id,
    jobs.c.scheduled_for,
    jobs.c.run_at,
    jobs.c.attempt,
    jobs.c.timeout_seconds,
    jobs.c.trigger,
    jobs.c.tags,
    jobs.c.max_retries,
    jobs.c.created_at,
)

# The columns of a claim's new execution rows, with their types for the batch arrays.
_START_COLUMNS: dict[str, sa.types.TypeEngine[Any]] = {
    column: executions.c[column].type
    for column in (
        "id",
        "job_id",
        "account_id",
        "attempt",
        "status",
        "started_at",
        "worker_id",
        "lease_expires_at",
    )
}


async def _claim(
    conn: AsyncConnection,
    source: JobStatus,
    conditions: list[Any],
    *,
    limit: int,
    worker_id: str | None,
    now: datetime,
    lease_margin: float = 0.0,
) -> list[ClaimedJob]:
    """Move up to ``limit`` matching jobs to ``running``, each with a new execution.

    On PostgreSQL this is one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)``, so
    concurrent claimers never block each other or get the same job.
    """
    if source not in sources_of(JobStatus.RUNNING):
        raise IllegalTransition(f"a {source} job cannot be claimed")
    status_guard = jobs.c.status == source.value
    candidates = skip_locked(
        conn,
        sa.select(jobs.c.id).where(status_guard, *conditions).order_by(jobs.c.run_at).limit(limit),
    ).scalar_subquery()
    result = await conn.execute(
        sa.update(jobs)
        .where(jobs.c.id.in_(candidates))
        .values(status=JobStatus.RUNNING.value, attempt=jobs.c.attempt + 1, updated_at=now)
        .returning(*CLAIM_COLUMNS)
    )
    claimed = [cast(ClaimedJob, dict(r._mapping)) for r in result]
    if not claimed:
        return []
    execution_rows = []
    for job in claimed:
        job["execution_id"] = new_id("exe")
        job["lease_expires_at"] = now + timedelta(seconds=job["timeout_seconds"] + lease_margin)
        execution_rows.append(
            {
                "id": job["execution_id"],
                "job_id": job["id"],
                "account_id": job["account_id"],
                "attempt": job["attempt"],
                "status": ExecutionStatus.RUNNING.value,
                "started_at": now,
                "worker_id": worker_id,
                "lease_expires_at": job["lease_expires_at"],
            }
        )
    if is_postgres(conn):
        started = unnest("started", _START_COLUMNS, execution_rows)
        await conn.execute(
            sa.insert(executions).from_select(
                list(_START_COLUMNS), sa.select(*(started.c[c] for c in _START_COLUMNS))
            )
        )
    else:
        await conn.execute(sa.insert(executions), execution_rows)
    claimed.sort(key=lambda j: (j["run_at"], j["id"]))
    return claimed


async def job_claim_ready(
    conn: AsyncConnection,
    *,
    account_id: str,
    handlers: list[str],
    limit: int,
    worker_id: str | None,
    now: datetime,
) -> list[ClaimedJob]:
    """Claim up to ``limit`` ready pull jobs of ``handlers`` for a worker of ``account_id``."""
    conditions = [jobs.c.account_id == account_id, jobs.c.handler.in_(handlers)]
    return await _claim(
        conn, JobStatus.READY, conditions, limit=limit, worker_id=worker_id, now=now
    )


class QueuedAccount(NamedTuple):
    """An account with push jobs waiting for the dispatcher."""

    account_id: str
    queued: int  # how many of its jobs are queued
    oldest_run_at: datetime  # the earliest ``run_at`` among them


async def job_queued_accounts(conn: AsyncConnection, *, limit: int) -> list[QueuedAccount]:
    """The accounts with queued push jobs, the one whose oldest job has waited longest first
    (then by id), at most ``limit`` of them.

    One ``GROUP BY`` over the queued jobs: it reads every queued row, so its cost follows the
    queued backlog (not the table); the dispatcher runs it once per claiming round.
    """
    oldest = sa.func.min(jobs.c.run_at)
    rows = await conn.execute(
        sa.select(jobs.c.account_id, sa.func.count(), oldest)
        .where(jobs.c.status == JobStatus.QUEUED.value)
        .group_by(jobs.c.account_id)
        .order_by(oldest, jobs.c.account_id)
        .limit(limit)
    )
    return [QueuedAccount(str(row[0]), int(row[1]), row[2]) for row in rows]


async def job_claim_queued(
    conn: AsyncConnection,
    *,
    limit: int,
    node_id: str,
    now: datetime,
    lease_margin: float,
    account_id: str | None = None,
) -> list[ClaimedJob]:
    """Claim up to ``limit`` queued push jobs for this node's dispatcher, the oldest first: of
    every account, or of ``account_id`` only.

    The lease is the job's timeout plus ``lease_margin``: the request itself is bounded by the
    timeout, so only a dead node lets a lease expire.
    """
    return await _claim(
        conn,
        JobStatus.QUEUED,
        [] if account_id is None else [jobs.c.account_id == account_id],
        limit=limit,
        worker_id=node_id,
        now=now,
        lease_margin=lease_margin,
    )
