"""Schedules: CRUD, and the scheduler's due-slot queries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.rows import ScheduleRow, ScheduleSpec, ScheduleVersionRow
from chronos.server.domain.states import JobStatus, ScheduleState
from chronos.server.store.dialect import is_postgres, skip_locked, tag_filter, update_many
from chronos.server.store.errors import unique
from chronos.server.store.pagination import page, split_page
from chronos.server.store.tables import jobs, schedule_versions, schedules
from chronos.server.store.types import UTCDateTime


class ScheduleAdvance(TypedDict):
    """A scheduler tick's result for one schedule."""

    id: str
    next_run_at: datetime | None
    last_run_at: datetime | None  # the last slot fired, None if none fired


async def schedule_insert(conn: AsyncConnection, row: ScheduleRow) -> None:
    """Insert a schedule; a taken name raises :class:`UniqueViolation` and inserts nothing."""
    async with unique(conn, "schedule_name", row["name"]):
        await conn.execute(sa.insert(schedules).values(**row))


async def schedule_get(
    conn: AsyncConnection, account_id: str, id_or_name: str, *, for_update: bool = False
) -> ScheduleRow | None:
    """By id (``sch_…``) or by name (a name may itself start with ``sch_``)."""
    if id_or_name.startswith("sch_"):
        row = await _get_one(conn, account_id, schedules.c.id, id_or_name, for_update)
        if row is not None:
            return row
    return await _get_one(conn, account_id, schedules.c.name, id_or_name, for_update)


async def _get_one(
    conn: AsyncConnection, account_id: str, key: Any, value: str, for_update: bool
) -> ScheduleRow | None:
    query = sa.select(schedules).where(schedules.c.account_id == account_id, key == value)
    if for_update and is_postgres(conn):
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return cast(ScheduleRow, dict(row._mapping)) if row else None


async def schedule_list(
    conn: AsyncConnection,
    account_id: str,
    *,
    state: str | None = None,
    handler: str | None = None,
    tags: dict[str, str] | None = None,
    search: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[ScheduleRow], str | None]:
    """One page of an account's schedules, newest first; ``search`` is a case-insensitive
    substring of the name (``%`` and ``_`` in it match themselves)."""
    query = sa.select(schedules).where(schedules.c.account_id == account_id)
    if state:
        query = query.where(schedules.c.state == state)
    if handler:
        query = query.where(schedules.c.handler == handler)
    if tags:
        query = query.where(tag_filter(conn, schedules.c.tags, tags))
    if search:
        query = query.where(_name_contains(schedules.c.name, search))
    rows = await conn.execute(page(query, schedules.c.id, cursor, limit))
    return split_page([cast(ScheduleRow, dict(r._mapping)) for r in rows], limit)


async def schedule_update(
    conn: AsyncConnection, schedule_id: str, values: Mapping[str, Any]
) -> None:
    """Change a schedule's columns; a taken name raises :class:`UniqueViolation`."""
    async with unique(conn, "schedule_name", values.get("name")):
        await conn.execute(sa.update(schedules).where(schedules.c.id == schedule_id).values(values))


async def schedule_delete(conn: AsyncConnection, account_id: str, schedule_id: str) -> bool:
    result = await conn.execute(
        sa.delete(schedules).where(
            schedules.c.id == schedule_id, schedules.c.account_id == account_id
        )
    )
    return result.rowcount == 1


async def schedule_lock_due(conn: AsyncConnection, now: datetime, limit: int) -> list[ScheduleRow]:
    """Enabled schedules whose ``next_run_at`` has come, locked for this transaction.

    Uses the partial index ``ix_schedules_due``, so the cost follows the number of due
    schedules, not all of them. Rows another node holds are skipped, not waited for.
    """
    query = (
        sa.select(schedules)
        .where(
            schedules.c.state == ScheduleState.ENABLED.value,
            schedules.c.next_run_at.is_not(None),
            schedules.c.next_run_at <= now,
        )
        .order_by(schedules.c.next_run_at)
        .limit(limit)
    )
    rows = await conn.execute(skip_locked(conn, query))
    return [cast(ScheduleRow, dict(r._mapping)) for r in rows]


async def schedule_advance_many(conn: AsyncConnection, updates: list[ScheduleAdvance]) -> None:
    """Set ``next_run_at`` (and ``last_run_at`` when something fired) for many schedules."""
    if not updates:
        return
    if is_postgres(conn):
        await update_many(
            conn,
            schedules,
            cast(list[dict[str, Any]], updates),
            ("next_run_at", "last_run_at"),
            sets=(("last_run_at", "coalesce(v.last_run_at, t.last_run_at)"),),
        )
        return
    await conn.execute(
        sa.update(schedules)
        .where(schedules.c.id == sa.bindparam("b_id"))
        .values(
            next_run_at=sa.bindparam("b_next_run_at"),
            last_run_at=sa.func.coalesce(
                sa.bindparam("b_last_run_at", type_=UTCDateTime()), schedules.c.last_run_at
            ),
        ),
        [{f"b_{k}": v for k, v in u.items()} for u in updates],
    )


async def schedule_set_last_status_many(conn: AsyncConnection, statuses: dict[str, str]) -> None:
    """Record the status of each schedule's latest finished (or skipped) job."""
    if not statuses:
        return
    rows = [{"id": k, "last_status": v} for k, v in statuses.items()]
    await update_many(conn, schedules, rows, ("last_status",))


async def schedule_next_due_at(conn: AsyncConnection) -> datetime | None:
    """The earliest ``next_run_at`` of any enabled schedule (the scheduler sleeps until then)."""
    return (
        await conn.execute(
            sa.select(sa.func.min(schedules.c.next_run_at)).where(
                schedules.c.state == ScheduleState.ENABLED.value,
                schedules.c.next_run_at.is_not(None),
            )
        )
    ).scalar_one_or_none()


async def schedule_version_insert(
    conn: AsyncConnection, schedule_id: str, version: int, spec: ScheduleSpec, now: datetime
) -> None:
    await conn.execute(
        sa.insert(schedule_versions).values(
            schedule_id=schedule_id, version=version, spec=spec, created_at=now
        )
    )


async def schedule_version_list(
    conn: AsyncConnection, schedule_id: str
) -> list[ScheduleVersionRow]:
    rows = await conn.execute(
        sa.select(schedule_versions)
        .where(schedule_versions.c.schedule_id == schedule_id)
        .order_by(schedule_versions.c.version.desc())
    )
    return [cast(ScheduleVersionRow, dict(r._mapping)) for r in rows]


async def schedule_version_get(
    conn: AsyncConnection, schedule_id: str, version: int
) -> ScheduleVersionRow | None:
    row = (
        await conn.execute(
            sa.select(schedule_versions).where(
                schedule_versions.c.schedule_id == schedule_id,
                schedule_versions.c.version == version,
            )
        )
    ).first()
    return cast(ScheduleVersionRow, dict(row._mapping)) if row else None


# How many recent finished jobs a schedule's success rate looks at.
SUCCESS_RATE_WINDOW = 20


async def schedule_success_rates(
    conn: AsyncConnection, schedule_ids: list[str]
) -> dict[str, dict[str, int]]:
    """Completed and failed counts among each schedule's last finished jobs (skipped and
    canceled jobs do not count)."""
    if not schedule_ids:
        return {}
    ranked = (
        sa.select(
            jobs.c.schedule_id,
            jobs.c.status,
            sa.func.row_number()
            .over(partition_by=jobs.c.schedule_id, order_by=jobs.c.id.desc())
            .label("recency"),
        )
        .where(
            jobs.c.schedule_id.in_(schedule_ids),
            jobs.c.status.in_([JobStatus.COMPLETED.value, JobStatus.FAILED.value]),
        )
        .subquery()
    )
    rows = await conn.execute(
        sa.select(ranked.c.schedule_id, ranked.c.status, sa.func.count())
        .where(ranked.c.recency <= SUCCESS_RATE_WINDOW)
        .group_by(ranked.c.schedule_id, ranked.c.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        schedule_id, status, count = str(row[0]), str(row[1]), int(row[2])
        counts.setdefault(schedule_id, {"completed": 0, "failed": 0})[status] = count
    return counts


def _name_contains(column: sa.ColumnElement[str], text: str) -> sa.ColumnElement[bool]:
    """``column`` holds ``text``, case-insensitively, wildcards in ``text`` taken literally.
    Both sides go through the database's ``lower()`` so the comparison is consistent on each
    dialect (SQLite's folds ASCII letters only)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = sa.func.lower(sa.literal(f"%{escaped}%", sa.String()))
    return sa.func.lower(column).like(pattern, escape="\\")


class RecentRun(TypedDict):
    """A job as a schedule's run history strip shows it."""

    id: str
    schedule_id: str
    status: str  # JobStatus
    scheduled_for: datetime


async def schedule_recent_runs(
    conn: AsyncConnection, account_id: str, schedule_ids: list[str], per_schedule: int
) -> list[RecentRun]:
    """The latest ``per_schedule`` jobs (by slot) of each schedule, in one query; grouped by
    schedule, oldest first within each."""
    if not schedule_ids:
        return []
    ranked = (
        sa.select(
            jobs.c.id,
            jobs.c.schedule_id,
            jobs.c.status,
            jobs.c.scheduled_for,
            sa.func.row_number()
            .over(
                partition_by=jobs.c.schedule_id,
                order_by=(jobs.c.scheduled_for.desc(), jobs.c.id.desc()),
            )
            .label("recency"),
        )
        .where(jobs.c.account_id == account_id, jobs.c.schedule_id.in_(schedule_ids))
        .subquery()
    )
    rows = await conn.execute(
        sa.select(ranked.c.id, ranked.c.schedule_id, ranked.c.status, ranked.c.scheduled_for)
        .where(ranked.c.recency <= per_schedule)
        .order_by(ranked.c.schedule_id, ranked.c.scheduled_for, ranked.c.id)
    )
    return [cast(RecentRun, dict(r._mapping)) for r in rows]
