"""What a schedule's page reads beside the schedule itself: the jobs its slots made in a
window and the events that explain the rest (its fire ledger), and its runs' last executions.

Each query is bounded by an index: slot jobs by ``uq_jobs_schedule_slot``
(``schedule_id, scheduled_for`` where ``trigger`` is ``schedule`` or ``backfill``), events by
``(schedule_id, at)``, executions by their unique ``(job_id, attempt)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.ledger import SlotJob
from chronos.server.domain.rows import ExecutionRow, ScheduleEventRow
from chronos.server.domain.states import ScheduleEventKind
from chronos.server.store.tables import SCHEDULE_SLOT_PREDICATE, executions, jobs, schedule_events

# The events that change whether a schedule fires (its state).
STATE_EVENTS = (
    ScheduleEventKind.PAUSED.value,
    ScheduleEventKind.RESUMED.value,
    ScheduleEventKind.ENABLED.value,
    ScheduleEventKind.DISABLED.value,
)


async def ledger_jobs(
    conn: AsyncConnection, schedule_id: str, start: datetime, end: datetime, *, limit: int
) -> list[SlotJob]:
    """The jobs the schedule's slots in ``[start, end]`` made (fired or backfilled), latest
    slot first, at most ``limit`` (manual runs are not slots)."""
    rows = await conn.execute(
        sa.select(jobs.c.id, jobs.c.scheduled_for, jobs.c.created_at, jobs.c.status, jobs.c.trigger)
        .where(
            jobs.c.schedule_id == schedule_id,
            # Literal, as in the partial index's predicate, so PostgreSQL can use the index
            # with a generic plan too.
            sa.text(SCHEDULE_SLOT_PREDICATE),
            jobs.c.scheduled_for >= start,
            jobs.c.scheduled_for <= end,
        )
        .order_by(jobs.c.scheduled_for.desc())
        .limit(limit)
    )
    return [cast(SlotJob, dict(r._mapping)) for r in rows]


async def ledger_events(
    conn: AsyncConnection, schedule_id: str, since: datetime, *, limit: int = 5000
) -> list[ScheduleEventRow]:
    """What explains a window's slots, oldest first: the state changes and ``missed`` events
    since ``since``, and the last state change before it (the state the window starts in).
    With more than ``limit`` in the window, the latest are kept."""
    kinds = [*STATE_EVENTS, ScheduleEventKind.MISSED.value]
    recent = await conn.execute(
        sa.select(schedule_events)
        .where(
            schedule_events.c.schedule_id == schedule_id,
            schedule_events.c.at >= since,
            schedule_events.c.kind.in_(kinds),
        )
        .order_by(schedule_events.c.at.desc(), schedule_events.c.id.desc())
        .limit(limit)
    )
    before = await conn.execute(
        sa.select(schedule_events)
        .where(
            schedule_events.c.schedule_id == schedule_id,
            schedule_events.c.at < since,
            schedule_events.c.kind.in_(STATE_EVENTS),
        )
        .order_by(schedule_events.c.at.desc(), schedule_events.c.id.desc())
        .limit(1)
    )
    return [cast(ScheduleEventRow, dict(r._mapping)) for r in [*before, *reversed(list(recent))]]


async def execution_last_for_jobs(
    conn: AsyncConnection, job_ids: Sequence[str]
) -> dict[str, ExecutionRow]:
    """Each job's latest execution (its highest attempt), for the jobs that have one."""
    if not job_ids:
        return {}
    latest = (
        sa.select(executions.c.job_id, sa.func.max(executions.c.attempt).label("attempt"))
        .where(executions.c.job_id.in_(list(job_ids)))
        .group_by(executions.c.job_id)
        .subquery()
    )
    rows = await conn.execute(
        sa.select(executions).join(
            latest,
            sa.and_(
                executions.c.job_id == latest.c.job_id, executions.c.attempt == latest.c.attempt
            ),
        )
    )
    return {r.job_id: cast(ExecutionRow, dict(r._mapping)) for r in rows}
