"""Calendars: CRUD, the schedules that name them, and the scheduler's one-query lookup.

``schedule_calendars`` links each schedule to the calendars it names. Its foreign key to
``calendars`` has no cascade, so the database itself refuses to delete a calendar in use
(:class:`CalendarInUse`), and a schedule change that names a calendar being deleted at the same
instant fails (:class:`CalendarGone`) instead of leaving a dangling name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.calendars import CalendarRow
from chronos.server.domain.rows import ScheduleRow
from chronos.server.store.dialect import is_postgres
from chronos.server.store.errors import StoreError, unique
from chronos.server.store.pagination import page, split_page
from chronos.server.store.tables import calendars, schedule_calendars, schedules


class CalendarInUse(StoreError):
    """A calendar that schedules still name cannot be deleted."""


class CalendarGone(StoreError):
    """A calendar a schedule was to be linked to no longer exists."""


async def calendar_insert(conn: AsyncConnection, row: CalendarRow) -> None:
    """Insert a calendar; a taken name raises :class:`UniqueViolation` and inserts nothing."""
    async with unique(conn, "calendar_name", row["name"]):
        await conn.execute(sa.insert(calendars).values(**row))


async def calendar_get(
    conn: AsyncConnection, account_id: str, id_or_name: str, *, for_update: bool = False
) -> CalendarRow | None:
    """By id (``cal_…``) or by name (names cannot look like ids)."""
    if id_or_name.startswith("cal_"):
        row = await _get_one(conn, account_id, calendars.c.id, id_or_name, for_update)
        if row is not None:
            return row
    return await _get_one(conn, account_id, calendars.c.name, id_or_name, for_update)


async def _get_one(
    conn: AsyncConnection, account_id: str, key: Any, value: str, for_update: bool
) -> CalendarRow | None:
    query = sa.select(calendars).where(calendars.c.account_id == account_id, key == value)
    if for_update and is_postgres(conn):
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return cast(CalendarRow, dict(row._mapping)) if row else None


async def calendar_get_by_names(
    conn: AsyncConnection, account_id: str, names: Sequence[str], *, for_share: bool = False
) -> list[CalendarRow]:
    """The account's calendars with these names (those that exist). ``for_share``: a schedule
    change that plans with them waits for a calendar change in progress (and holds one off
    until it commits), so neither plans with contents the other is replacing."""
    if not names:
        return []
    query = sa.select(calendars).where(
        calendars.c.account_id == account_id, calendars.c.name.in_(sorted(set(names)))
    )
    if for_share and is_postgres(conn):
        query = query.with_for_update(read=True)
    rows = await conn.execute(query)
    return [cast(CalendarRow, dict(r._mapping)) for r in rows]


async def calendar_list(
    conn: AsyncConnection, account_id: str, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[CalendarRow], str | None]:
    """One page of an account's calendars, newest first."""
    query = sa.select(calendars).where(calendars.c.account_id == account_id)
    rows = await conn.execute(page(query, calendars.c.id, cursor, limit))
    return split_page([cast(CalendarRow, dict(r._mapping)) for r in rows], limit)


async def calendar_update(
    conn: AsyncConnection, calendar_id: str, values: Mapping[str, Any]
) -> None:
    """Change a calendar's columns; a taken name raises :class:`UniqueViolation`."""
    async with unique(conn, "calendar_name", values.get("name")):
        await conn.execute(sa.update(calendars).where(calendars.c.id == calendar_id).values(values))


async def calendar_delete(conn: AsyncConnection, account_id: str, calendar_id: str) -> bool:
    """Delete a calendar; one still linked to a schedule raises :class:`CalendarInUse`."""
    try:
        async with conn.begin_nested():
            result = await conn.execute(
                sa.delete(calendars).where(
                    calendars.c.id == calendar_id, calendars.c.account_id == account_id
                )
            )
    except IntegrityError as exc:
        raise CalendarInUse(calendar_id) from exc
    return result.rowcount == 1


async def calendar_users(
    conn: AsyncConnection, calendar_id: str, *, for_update: bool = False
) -> list[ScheduleRow]:
    """The schedules that name the calendar, by name; locked when ``for_update`` (so a
    calendar change and a scheduler round touching them do not cross)."""
    query = (
        sa.select(schedules)
        .join(schedule_calendars, schedule_calendars.c.schedule_id == schedules.c.id)
        .where(schedule_calendars.c.calendar_id == calendar_id)
        .order_by(schedules.c.name)
    )
    if for_update and is_postgres(conn):
        query = query.with_for_update(of=schedules)
    rows = await conn.execute(query)
    return [cast(ScheduleRow, dict(r._mapping)) for r in rows]


async def schedule_calendars_set(
    conn: AsyncConnection, schedule_id: str, calendar_ids: Sequence[str]
) -> None:
    """Link the schedule to exactly these calendars. A calendar deleted meanwhile raises
    :class:`CalendarGone` (the foreign key)."""
    wanted = sorted(set(calendar_ids))
    current = {
        r.calendar_id
        for r in await conn.execute(
            sa.select(schedule_calendars.c.calendar_id).where(
                schedule_calendars.c.schedule_id == schedule_id
            )
        )
    }
    if current == set(wanted):
        return
    gone = current - set(wanted)
    if gone:
        await conn.execute(
            sa.delete(schedule_calendars).where(
                schedule_calendars.c.schedule_id == schedule_id,
                schedule_calendars.c.calendar_id.in_(sorted(gone)),
            )
        )
    new = [c for c in wanted if c not in current]
    if new:
        try:
            async with conn.begin_nested():
                await conn.execute(
                    sa.insert(schedule_calendars),
                    [{"schedule_id": schedule_id, "calendar_id": c} for c in new],
                )
        except IntegrityError as exc:
            raise CalendarGone(schedule_id) from exc


async def calendar_versions_for_schedules(
    conn: AsyncConnection, schedule_ids: Sequence[str]
) -> dict[str, list[tuple[str, str, int]]]:
    """The (id, name, version) of the calendars each schedule names, for a whole scheduler
    batch in one query, without their contents (see :func:`calendars_by_ids`)."""
    if not schedule_ids:
        return {}
    rows = await conn.execute(
        sa.select(
            schedule_calendars.c.schedule_id, calendars.c.id, calendars.c.name, calendars.c.version
        )
        .join(calendars, calendars.c.id == schedule_calendars.c.calendar_id)
        .where(schedule_calendars.c.schedule_id.in_(list(schedule_ids)))
    )
    found: dict[str, list[tuple[str, str, int]]] = {}
    for r in rows:
        found.setdefault(r.schedule_id, []).append((r.id, r.name, r.version))
    return found


async def calendars_by_ids(conn: AsyncConnection, ids: Sequence[str]) -> list[CalendarRow]:
    if not ids:
        return []
    rows = await conn.execute(sa.select(calendars).where(calendars.c.id.in_(sorted(set(ids)))))
    return [cast(CalendarRow, dict(r._mapping)) for r in rows]


async def calendars_for_schedules(
    conn: AsyncConnection, schedule_ids: Sequence[str]
) -> dict[str, list[CalendarRow]]:
    """The calendars each schedule names, for a whole scheduler batch in one query."""
    if not schedule_ids:
        return {}
    rows = await conn.execute(
        sa.select(schedule_calendars.c.schedule_id.label("_schedule_id"), calendars)
        .join(calendars, calendars.c.id == schedule_calendars.c.calendar_id)
        .where(schedule_calendars.c.schedule_id.in_(list(schedule_ids)))
    )
    found: dict[str, list[CalendarRow]] = {}
    for r in rows:
        values = dict(r._mapping)
        schedule_id = values.pop("_schedule_id")
        found.setdefault(schedule_id, []).append(cast(CalendarRow, values))
    return found
