"""The queries behind an account's overview (dashboard home, ``GET /v1/overview``).

Each is bounded by an index: jobs by ``(account_id, id)`` — ids sort by creation time, so
"created since" is an id range — by the partial ``ready`` index, or by ``finished_at``.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.rows import ScheduleEventRow, ScheduleRow
from chronos.server.domain.states import JobStatus, JobTrigger, ScheduleEventKind, ScheduleState
from chronos.server.ids import id_floor
from chronos.server.store.dialect import seconds_between
from chronos.server.store.tables import jobs, schedule_events, schedules


def _created_since(since: datetime) -> sa.ColumnElement[bool]:
    return jobs.c.id >= id_floor("job", int(since.timestamp() * 1000))


async def job_status_counts(conn: AsyncConnection, account_id: str) -> dict[str, int]:
    """How many of the account's jobs each status holds (absent: none)."""
    rows = await conn.execute(
        sa.select(jobs.c.status, sa.func.count().label("total"))
        .where(jobs.c.account_id == account_id)
        .group_by(jobs.c.status)
    )
    return {row.status: row.total for row in rows}


async def finished_since(conn: AsyncConnection, account_id: str, since: datetime) -> dict[str, int]:
    """Jobs that reached a final status since ``since``, by status."""
    rows = await conn.execute(
        sa.select(jobs.c.status, sa.func.count().label("total"))
        .where(
            jobs.c.finished_at >= since,
            jobs.c.finished_at.is_not(None),
            jobs.c.account_id == account_id,
        )
        .group_by(jobs.c.status)
    )
    return {row.status: row.total for row in rows}


async def fires_since(
    conn: AsyncConnection, account_id: str, since: datetime, *, late_after: float
) -> tuple[int, int, int]:
    """Slots fired since ``since``: (fired, of which late by more than ``late_after`` seconds,
    skipped by the concurrency policy)."""
    lag = seconds_between(conn, jobs.c.created_at, jobs.c.scheduled_for)
    skipped = jobs.c.status == JobStatus.SKIPPED.value
    row = (
        await conn.execute(
            sa.select(
                sa.func.count().label("fired"),
                sa.func.coalesce(sa.func.sum(sa.case((lag > late_after, 1), else_=0)), 0).label(
                    "late"
                ),
                sa.func.coalesce(sa.func.sum(sa.case((skipped, 1), else_=0)), 0).label("skipped"),
            ).where(
                jobs.c.account_id == account_id,
                _created_since(since),
                jobs.c.trigger == JobTrigger.SCHEDULE.value,
            )
        )
    ).one()
    return int(row.fired), int(row.late), int(row.skipped)


async def ready_by_handler(
    conn: AsyncConnection, account_id: str, now: datetime, *, limit: int = 100
) -> list[tuple[str | None, int, datetime]]:
    """Pull jobs waiting to be claimed, by handler: (handler, how many, oldest run_at)."""
    rows = await conn.execute(
        sa.select(jobs.c.handler, sa.func.count().label("total"), sa.func.min(jobs.c.run_at))
        .where(
            jobs.c.account_id == account_id,
            jobs.c.status == JobStatus.READY.value,
            jobs.c.run_at <= now,
        )
        .group_by(jobs.c.handler)
        .order_by(sa.func.count().desc())
        .limit(limit)
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def next_fires(conn: AsyncConnection, account_id: str, *, limit: int) -> list[ScheduleRow]:
    """Enabled schedules by their next fire, soonest first."""
    rows = await conn.execute(
        sa.select(schedules)
        .where(
            schedules.c.account_id == account_id,
            schedules.c.state == ScheduleState.ENABLED.value,
            schedules.c.next_run_at.is_not(None),
        )
        .order_by(schedules.c.next_run_at)
        .limit(limit)
    )
    return [cast(ScheduleRow, dict(r._mapping)) for r in rows]


async def schedules_where(
    conn: AsyncConnection, account_id: str, condition: sa.ColumnElement[bool], *, limit: int
) -> list[ScheduleRow]:
    rows = await conn.execute(
        sa.select(schedules)
        .where(schedules.c.account_id == account_id, condition)
        .order_by(schedules.c.name)
        .limit(limit)
    )
    return [cast(ScheduleRow, dict(r._mapping)) for r in rows]


async def schedule_state_counts(conn: AsyncConnection, account_id: str) -> dict[str, int]:
    rows = await conn.execute(
        sa.select(schedules.c.state, sa.func.count().label("total"))
        .where(schedules.c.account_id == account_id)
        .group_by(schedules.c.state)
    )
    return {row.state: row.total for row in rows}


async def recent_events(
    conn: AsyncConnection, account_id: str, kind: ScheduleEventKind, since: datetime, *, limit: int
) -> list[tuple[ScheduleEventRow, str]]:
    """The account's schedule events of ``kind`` since ``since``, newest first, each with its
    schedule's name."""
    rows = await conn.execute(
        sa.select(schedule_events, schedules.c.name.label("schedule_name"))
        .join(schedules, schedules.c.id == schedule_events.c.schedule_id)
        .where(
            schedules.c.account_id == account_id,
            schedule_events.c.kind == kind.value,
            schedule_events.c.at >= since,
        )
        .order_by(schedule_events.c.at.desc())
        .limit(limit)
    )
    found = []
    for row in rows:
        data = dict(row._mapping)
        name = data.pop("schedule_name")
        found.append((cast(ScheduleEventRow, data), name))
    return found
