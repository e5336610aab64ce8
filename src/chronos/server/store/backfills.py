"""Backfills: their records, the jobs their slots already have, reruns, progress and cancel.

A backfill's new jobs go in with ``job_insert_fired`` (``ON CONFLICT DO NOTHING`` on
``uq_jobs_schedule_slot``), the scheduler's own statement: whichever of the two claims a slot
first makes its job, the other makes none.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.backfill import ExistingSlotJob
from chronos.server.domain.rows import JobMoved
from chronos.server.domain.states import (
    IN_FLIGHT_JOB_STATUSES,
    RERUNNABLE,
    JobStatus,
    sources_of,
    values,
)
from chronos.server.store.jobs import _admitted_status
from chronos.server.store.pagination import page, split_page
from chronos.server.store.tables import SCHEDULE_SLOT_PREDICATE, backfills, jobs

# ``IN (…)`` lists are sent in chunks of this many values.
_CHUNK = 1000
# A backfill's cancel stops the jobs that have not started: waiting or admitted.
NOT_STARTED = frozenset({JobStatus.PENDING, JobStatus.READY, JobStatus.QUEUED})
assert sources_of(JobStatus.CANCELED) >= NOT_STARTED
assert sources_of(JobStatus.READY) & sources_of(JobStatus.QUEUED) >= RERUNNABLE


class BackfillRow(TypedDict):
    id: str
    account_id: str
    schedule_id: str
    range_start: datetime
    range_end: datetime
    overlap: str  # Overlap
    created: int  # slots that had no job: created
    rerun: int  # finished jobs run again (overlap: rerun)
    skipped_existing: int  # slots left alone: they have a job
    in_flight: int  # of those, still in flight when the backfill was made
    excluded: int  # slots a calendar rules out
    actor_key_id: str | None
    actor: str | None
    reason: str | None
    created_at: datetime
    canceled_at: datetime | None


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for index in range(0, len(items), _CHUNK):
        yield items[index : index + _CHUNK]


async def backfill_insert(conn: AsyncConnection, row: BackfillRow) -> None:
    await conn.execute(sa.insert(backfills).values(**row))


async def backfill_get(
    conn: AsyncConnection, account_id: str, backfill_id: str, *, for_update: bool = False
) -> BackfillRow | None:
    query = sa.select(backfills).where(
        backfills.c.id == backfill_id, backfills.c.account_id == account_id
    )
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return cast(BackfillRow, dict(row._mapping)) if row else None


async def backfill_list(
    conn: AsyncConnection, account_id: str, schedule_id: str, *, cursor: str | None, limit: int
) -> tuple[list[BackfillRow], str | None]:
    """A schedule's backfills, newest first."""
    query = sa.select(backfills).where(
        backfills.c.schedule_id == schedule_id, backfills.c.account_id == account_id
    )
    rows = await conn.execute(page(query, backfills.c.id, cursor, limit))
    return split_page([cast(BackfillRow, dict(r._mapping)) for r in rows], limit)


async def backfill_mark_canceled(conn: AsyncConnection, backfill_id: str, now: datetime) -> None:
    await conn.execute(
        sa.update(backfills)
        .where(backfills.c.id == backfill_id, backfills.c.canceled_at.is_(None))
        .values(canceled_at=now)
    )


async def slot_jobs_at(
    conn: AsyncConnection, schedule_id: str, slots: list[datetime]
) -> list[ExistingSlotJob]:
    """The jobs that already hold some of ``slots`` of the schedule (found through the slot
    index ``uq_jobs_schedule_slot``; manual runs hold no slot)."""
    found: list[ExistingSlotJob] = []
    for chunk in _chunks(slots):
        rows = await conn.execute(
            sa.select(jobs.c.id, jobs.c.scheduled_for, jobs.c.status).where(
                jobs.c.schedule_id == schedule_id,
                sa.text(SCHEDULE_SLOT_PREDICATE),
                jobs.c.scheduled_for.in_(chunk),
            )
        )
        found += [cast(ExistingSlotJob, dict(r._mapping)) for r in rows]
    return found


async def job_rerun_many(
    conn: AsyncConnection, job_ids: list[str], backfill_id: str, now: datetime
) -> list[JobMoved]:
    """Run finished jobs again at once as a new round of tries (as a user's retry does), now
    owned by ``backfill_id``; a job that is no longer finished is left alone. Returns the
    jobs rerun (for wake-ups)."""
    rerun: list[JobMoved] = []
    for chunk in _chunks(job_ids):
        result = await conn.execute(
            sa.update(jobs)
            .where(jobs.c.id.in_(chunk), jobs.c.status.in_(values(RERUNNABLE)))
            .values(
                status=_admitted_status(jobs.c.delivery_type),
                run_at=now,
                retry_base=jobs.c.attempt,
                cancel_requested=False,
                finished_at=None,
                backfill_id=backfill_id,
                updated_at=now,
            )
            .returning(jobs.c.account_id, jobs.c.handler, jobs.c.status)
        )
        rerun += [cast(JobMoved, dict(r._mapping)) for r in result]
    return rerun


async def backfill_job_counts(
    conn: AsyncConnection, backfill_ids: list[str]
) -> dict[str, dict[str, int]]:
    """Each backfill's jobs by status (its progress)."""
    if not backfill_ids:
        return {}
    rows = await conn.execute(
        sa.select(jobs.c.backfill_id, jobs.c.status, sa.func.count())
        .where(jobs.c.backfill_id.in_(backfill_ids))
        .group_by(jobs.c.backfill_id, jobs.c.status)
    )
    counts: dict[str, dict[str, int]] = {backfill_id: {} for backfill_id in backfill_ids}
    for row in rows:
        counts[str(row[0])][str(row[1])] = int(row[2])
    return counts


def in_flight_count(counts: dict[str, int]) -> int:
    return sum(n for status, n in counts.items() if JobStatus(status) in IN_FLIGHT_JOB_STATUSES)


async def backfill_cancel_jobs(conn: AsyncConnection, backfill_id: str, now: datetime) -> list[str]:
    """Cancel the backfill's jobs that have not started (pending, ready, queued); running ones
    finish. Returns the ids canceled."""
    result = await conn.execute(
        sa.update(jobs)
        .where(jobs.c.backfill_id == backfill_id, jobs.c.status.in_(values(NOT_STARTED)))
        .values(
            status=JobStatus.CANCELED.value,
            cancel_requested=False,
            finished_at=now,
            updated_at=now,
        )
        .returning(jobs.c.id)
    )
    return list(result.scalars())
