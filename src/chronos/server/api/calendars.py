"""/v1/calendars: named sets of dates that schedules exclude (``exclude_calendars``) or run
only on (``only_calendar``).

Thin: each route parses its input, calls one ``CalendarService`` method and presents it.
A calendar is addressed by id (``cal_…``) or by name.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from chronos.server.api.deps import AccountId, ActorDep, Limit, RuntimeDep
from chronos.server.api.presenters import page_out
from chronos.server.api.responses import SafeJSONResponse, SafeRoute
from chronos.server.domain.calendars import CalendarRow
from chronos.server.domain.timing import iso
from chronos.server.schemas import CalendarImportIn, CalendarIn
from chronos.server.services.calendars import CalendarView

router = APIRouter(prefix="/v1/calendars", tags=["calendars"], route_class=SafeRoute)

JSONBody = Annotated[dict[str, Any], Body()]


def calendar_out(row: CalendarRow, schedules: list[str] | None = None) -> dict[str, Any]:
    """A calendar; ``schedules`` (the names of those that name it) when known."""
    out: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "dates": row["spec"]["dates"],
        "ranges": row["spec"]["ranges"],
        "rules": row["spec"]["rules"],
        "version": row["version"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if schedules is not None:
        out["schedules"] = schedules
    return out


def _out(view: CalendarView) -> dict[str, Any]:
    return calendar_out(view.row, view.schedules)


@router.get("")
async def list_calendars(
    account_id: AccountId, runtime: RuntimeDep, cursor: str | None = None, limit: Limit = 50
) -> dict[str, Any]:
    """The account's calendars, newest first."""
    rows, next_cursor = await runtime.calendars.find(account_id, cursor=cursor, limit=limit)
    return page_out([calendar_out(r) for r in rows], next_cursor)


@router.post("", status_code=201)
async def create_calendar(
    body: CalendarIn, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """A new calendar: ``dates``, ``ranges``, ``rules``, and/or ``ics`` (an iCalendar text
    whose all-day events are added to them)."""
    return _out(await runtime.calendars.create(account_id, body, actor=actor))


@router.put("/{name}", responses={201: {"description": "Created"}})
async def upsert_calendar(
    name: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep, data: JSONBody
) -> Response:
    """Create or replace by name: 201 created, 200 replaced (or unchanged)."""
    view, created = await runtime.calendars.upsert(account_id, name, data, actor=actor)
    return SafeJSONResponse(_out(view), status_code=201 if created else 200)


@router.get("/{calendar}")
async def get_calendar(calendar: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """A calendar, with the names of the schedules that name it (``schedules``)."""
    return _out(await runtime.calendars.get(account_id, calendar))


@router.patch("/{calendar}")
async def patch_calendar(
    calendar: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep, data: JSONBody
) -> dict[str, Any]:
    """Change some fields; each given replaces the current one. Schedules that name the
    calendar get their next run recomputed in the same transaction."""
    return _out(await runtime.calendars.patch(account_id, calendar, data, actor=actor))


@router.delete("/{calendar}", status_code=204)
async def delete_calendar(
    calendar: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> Response:
    """Delete a calendar; 409 ``calendar_in_use`` (listing them) while schedules name it."""
    await runtime.calendars.delete(account_id, calendar, actor=actor)
    return Response(status_code=204)


@router.post("/{calendar}/import")
async def import_ics(
    calendar: str,
    body: CalendarImportIn,
    account_id: AccountId,
    actor: ActorDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    """Add an iCalendar text's all-day events (``replace``: instead of the current entries)."""
    view = await runtime.calendars.import_ics(
        account_id, calendar, body.ics, replace=body.replace, actor=actor, reason=body.reason
    )
    return _out(view)


@router.get("/{calendar}/dates")
async def list_dates(
    calendar: str,
    account_id: AccountId,
    runtime: RuntimeDep,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """The calendar's dates in ``[from, to]`` (YYYY-MM-DD; default: today, UTC, and the year
    after it; at most 3660 days)."""
    first = start or runtime.clock.now().date()
    last = end or first + timedelta(days=365)
    _, days = await runtime.calendars.dates(account_id, calendar, first, last)
    return {"data": [day.isoformat() for day in days]}
