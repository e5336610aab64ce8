"""Releases: a node shutting down hands back work it claimed but will not finish.

Without a release a job stays ``running`` until its execution's lease expires (the job's
timeout plus a margin) and the lease rescuer retries it. Released, it is claimable again at
once, by any node:

    async with db.transaction() as conn:
        moved = await job_release_running(conn, execution_ids, now)
    notifier.jobs_ready_many(moved)

A released attempt is not a failed one: it does not use up one of the job's retries.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.rows import JobMoved
from chronos.server.domain.states import (
    EXECUTION_TRANSITIONS,
    DeliveryType,
    ExecutionStatus,
    IllegalTransition,
    JobStatus,
    sources_of,
)
from chronos.server.store.tables import executions, jobs

RELEASED_ERROR = {
    "type": "released",
    "message": "the node shut down before the attempt finished; the job was queued again",
}


async def job_release_running(
    conn: AsyncConnection, execution_ids: list[str], now: datetime
) -> list[JobMoved]:
    """End these running executions as ``canceled`` (error type ``released``) and put their
    jobs back where a claimer finds them: ``queued`` (push) or ``ready`` (pull).

    Executions no longer running (finished, timed out, canceled meanwhile) and jobs no longer
    running (canceled meanwhile) are left alone. Like every path that touches both, this updates
    executions before jobs. Returns ``account_id``, ``handler`` and ``status`` of each job
    moved, for wake-ups.
    """
    if not execution_ids:
        return []
    if ExecutionStatus.CANCELED not in EXECUTION_TRANSITIONS[ExecutionStatus.RUNNING]:
        raise IllegalTransition("a running execution cannot be released")
    if JobStatus.RUNNING not in sources_of(JobStatus.QUEUED) & sources_of(JobStatus.READY):
        raise IllegalTransition("a running job cannot be released")
    ended = await conn.execute(
        sa.update(executions)
        .where(
            executions.c.id.in_(execution_ids),
            executions.c.status == ExecutionStatus.RUNNING.value,
        )
        .values(
            status=ExecutionStatus.CANCELED.value,
            finished_at=now,
            lease_expires_at=None,
            error=RELEASED_ERROR,
        )
        .returning(executions.c.job_id)
    )
    job_ids = sorted(set(ended.scalars().all()))
    if not job_ids:
        return []
    result = await conn.execute(
        sa.update(jobs)
        .where(jobs.c.id.in_(job_ids), jobs.c.status == JobStatus.RUNNING.value)
        .values(
            status=sa.case(
                (jobs.c.delivery_type == DeliveryType.PUSH.value, JobStatus.QUEUED.value),
                else_=JobStatus.READY.value,
            ),
            # The released attempt keeps its number (executions are unique per attempt) but
            # does not count against the job's retries.
            retry_base=jobs.c.retry_base + 1,
            updated_at=now,
        )
        .returning(jobs.c.account_id, jobs.c.handler, jobs.c.status)
    )
    return [cast(JobMoved, dict(row._mapping)) for row in result]
