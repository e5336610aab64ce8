"""Calendars: create, upsert, change, import an .ics, delete — and keep the schedules that
name them right.

Every change is one transaction: the calendar, its audit record, and the ``next_run_at`` of
each schedule that names it (locked, recomputed with the calendar as it now is), so the
scheduler never fires a slot the new calendar excludes. A calendar that schedules name cannot
be deleted (409 listing them), nor renamed (the schedules name it).

    calendars = CalendarService(db, clock, notifier)
    row = await calendars.create(account_id, {"name": "holidays", "dates": ["2026-12-25"]})
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.clock import Clock
from chronos.server.domain import schedules as rules
from chronos.server.domain.audit import Actor
from chronos.server.domain.calendar_ics import parse_ics
from chronos.server.domain.calendars import (
    Calendar,
    CalendarError,
    CalendarRow,
    CalendarSpec,
    merge_entries,
)
from chronos.server.domain.rows import ScheduleRow, ScheduleSpec
from chronos.server.errors import (
    BadRequest,
    CalendarInUse,
    NameConflict,
    NotFound,
    UnknownCalendar,
    ValidationFailed,
)
from chronos.server.ids import new_id
from chronos.server.normalize import normalize_calendar
from chronos.server.notifier import Notifier
from chronos.server.schemas import CalendarIn, validation_details
from chronos.server.store import calendars as calendar_store
from chronos.server.store import schedules as schedule_store
from chronos.server.store.audit import audit_change
from chronos.server.store.db import Database
from chronos.server.store.errors import UniqueViolation
from chronos.server.store.schedules import ScheduleAdvance

# The widest span ``dates`` lists in one answer.
MAX_DATES_SPAN_DAYS = 3660


@dataclass(frozen=True)
class CalendarView:
    """A calendar and the names of the schedules that name it."""

    row: CalendarRow
    schedules: list[str]


class CalendarService:
    def __init__(self, db: Database, clock: Clock, notifier: Notifier) -> None:
        self.db = db
        self.clock = clock
        self.notifier = notifier

    @staticmethod
    def parse(data: Any) -> tuple[str, str | None, CalendarSpec, str | None]:
        """Name, description, canonical entries and the audit reason of a calendar body."""
        try:
            body = CalendarIn.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed("invalid calendar", details=validation_details(exc)) from exc
        name, description, spec = normalize_calendar(body)
        return name, description, spec, body.reason

    async def create(
        self, account_id: str, data: Any, *, actor: Actor | None = None
    ) -> CalendarView:
        """A new calendar; a taken name is a 409 ``name_conflict``."""
        name, description, spec, reason = self.parse(data)
        now = self.clock.now()
        row = _new_row(account_id, name, description, spec, now)
        async with self.db.transaction() as conn:
            await _insert(conn, row)
            await _audit(conn, row, "created", now, actor, None, _audited(row), reason)
        return CalendarView(row, [])

    async def upsert(
        self, account_id: str, name: str, data: Any, *, actor: Actor | None = None
    ) -> tuple[CalendarView, bool]:
        """Create or replace by name (PUT); True when created."""
        if not isinstance(data, dict):
            raise ValidationFailed("a calendar body is a JSON object")
        if data.get("name", name) != name:
            raise ValidationFailed("the body's name differs from the name in the path")
        name, description, spec, reason = self.parse({**data, "name": name})
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await calendar_store.calendar_get(conn, account_id, name)
            if row is not None and row["name"] != name:
                row = None  # the path named an id; PUT works by name only
            if row is None:
                row = _new_row(account_id, name, description, spec, now)
                await _insert(conn, row)
                await _audit(conn, row, "created", now, actor, None, _audited(row), reason)
                return CalendarView(row, []), True
            row, users = await _locked(conn, row)
            view = await self._change(conn, row, users, name, description, spec, now, actor, reason)
        self._changed(account_id, view)
        return view, False

    async def get(self, account_id: str, calendar: str) -> CalendarView:
        async with self.db.read() as conn:
            row = await _load(conn, account_id, calendar)
            users = await calendar_store.calendar_users(conn, row["id"])
        return CalendarView(row, [u["name"] for u in users])

    async def find(
        self, account_id: str, *, cursor: str | None, limit: int
    ) -> tuple[list[CalendarRow], str | None]:
        async with self.db.read() as conn:
            return await calendar_store.calendar_list(conn, account_id, cursor=cursor, limit=limit)

    async def patch(
        self, account_id: str, calendar: str, patch: Any, *, actor: Actor | None = None
    ) -> CalendarView:
        """Change some fields: each one given replaces the current one (``ics`` adds its
        events to the entries the result has)."""
        if not isinstance(patch, dict):
            raise ValidationFailed("a calendar patch is a JSON object")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row, users = await _locked(conn, await _load(conn, account_id, calendar))
            base = {"name": row["name"], "description": row["description"], **row["spec"]}
            name, description, spec, reason = self.parse({**base, **patch})
            view = await self._change(conn, row, users, name, description, spec, now, actor, reason)
        self._changed(account_id, view)
        return view

    async def import_ics(
        self,
        account_id: str,
        calendar: str,
        ics: str,
        *,
        replace: bool = False,
        actor: Actor | None = None,
        reason: str | None = None,
    ) -> CalendarView:
        """Add an .ics text's all-day events to the calendar (or replace its entries)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row, users = await _locked(conn, await _load(conn, account_id, calendar))
            try:
                imported = parse_ics(ics)
                spec = imported if replace else merge_entries(row["spec"], imported)
            except CalendarError as exc:
                raise ValidationFailed(str(exc), details={"field": exc.field}) from exc
            view = await self._change(
                conn, row, users, row["name"], row["description"], spec, now, actor, reason
            )
        self._changed(account_id, view)
        return view

    async def delete(self, account_id: str, calendar: str, *, actor: Actor | None = None) -> None:
        """Delete a calendar no schedule names; else 409 ``calendar_in_use`` listing them."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await _load(conn, account_id, calendar, for_update=True)
            users = await calendar_store.calendar_users(conn, row["id"])
            if users:
                raise _in_use(row, users, "deleted")
            try:
                await calendar_store.calendar_delete(conn, account_id, row["id"])
            except calendar_store.CalendarInUse:
                # A schedule started naming it while this delete ran.
                raise _in_use(
                    row, await calendar_store.calendar_users(conn, row["id"]), "deleted"
                ) from None
            await _audit(conn, row, "deleted", now, actor, _audited(row), None, None)

    async def dates(
        self, account_id: str, calendar: str, first: date, last: date
    ) -> tuple[CalendarRow, list[date]]:
        """The calendar's dates in ``[first, last]`` (at most 3660 days apart)."""
        if last < first:
            raise BadRequest("from must not be after to", code="invalid_range")
        if (last - first).days > MAX_DATES_SPAN_DAYS:
            raise BadRequest(
                f"the range may span at most {MAX_DATES_SPAN_DAYS} days", code="invalid_range"
            )
        async with self.db.read() as conn:
            row = await _load(conn, account_id, calendar)
        return row, Calendar.compile(row["spec"]).days_between(first, last)

    # --- inside the caller's transaction ------------------------------------------------

    async def _change(
        self,
        conn: AsyncConnection,
        row: CalendarRow,
        users: list[ScheduleRow],
        name: str,
        description: str | None,
        spec: CalendarSpec,
        now: datetime,
        actor: Actor | None,
        reason: str | None,
    ) -> CalendarView:
        """Store a calendar's new content (a no-op if it is the same) and move the
        ``next_run_at`` of the schedules that name it (``users``, locked), all in the caller's
        transaction."""
        names = [u["name"] for u in users]
        if name == row["name"] and description == row["description"] and spec == row["spec"]:
            return CalendarView(row, names)
        if name != row["name"] and users:
            raise _in_use(row, users, "renamed")
        changes: dict[str, Any] = {
            "name": name,
            "description": description,
            "spec": spec,
            "version": row["version"] + 1,
            "updated_at": now,
        }
        try:
            await calendar_store.calendar_update(conn, row["id"], changes)
        except UniqueViolation as exc:
            raise _name_taken(name) from exc
        changed: CalendarRow = {**row, **changes}  # type: ignore[typeddict-item]
        await _rearm(conn, users, now)
        await _audit(conn, changed, "updated", now, actor, _audited(row), _audited(changed), reason)
        return CalendarView(changed, names)

    def _changed(self, account_id: str, view: CalendarView) -> None:
        if view.schedules:  # their next_run_at may have moved earlier
            self.notifier.schedules_changed()
            self.notifier.changed(account_id, "schedules")


async def _rearm(conn: AsyncConnection, users: list[ScheduleRow], now: datetime) -> None:
    """Recompute the ``next_run_at`` of the (locked) schedules with the calendars as they
    are now: one read of their calendars, each compiled once however many schedules name
    it, and one write of the times that moved (a calendar named by thousands of schedules)."""
    if not users:
        return
    found = await calendar_store.calendars_for_schedules(conn, [u["id"] for u in users])
    compiled = {
        c["id"]: Calendar.compile(c["spec"])
        for c in {c["id"]: c for rows in found.values() for c in rows}.values()
    }
    moves: list[ScheduleAdvance] = []
    for schedule in users:
        named = {c["name"]: compiled[c["id"]] for c in found.get(schedule["id"], [])}
        moved = rules.next_run_after_calendar_change(schedule, now, named)
        if moved != schedule["next_run_at"]:
            moves.append({"id": schedule["id"], "next_run_at": moved, "last_run_at": None})
    await schedule_store.schedule_advance_many(conn, moves)  # last_run_at stays as it is


async def _locked(conn: AsyncConnection, row: CalendarRow) -> tuple[CalendarRow, list[ScheduleRow]]:
    """The calendar, read again and locked, with the schedules that name it, locked.

    Schedules are locked first, then the calendar: the order a schedule change takes them in
    (its own row, then ``FOR SHARE`` on the calendars it plans with), so the two cannot
    deadlock. The schedules are read again once the calendar is held: a schedule that started
    naming it meanwhile is moved too."""
    await calendar_store.calendar_users(conn, row["id"], for_update=True)
    locked = await _load(conn, row["account_id"], row["id"], for_update=True)
    return locked, await calendar_store.calendar_users(conn, row["id"], for_update=True)


def _new_row(
    account_id: str, name: str, description: str | None, spec: CalendarSpec, now: datetime
) -> CalendarRow:
    return {
        "id": new_id("cal"),
        "account_id": account_id,
        "name": name,
        "description": description,
        "spec": spec,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


async def _insert(conn: AsyncConnection, row: CalendarRow) -> None:
    try:
        await calendar_store.calendar_insert(conn, row)
    except UniqueViolation as exc:
        raise _name_taken(row["name"]) from exc


async def _load(
    conn: AsyncConnection, account_id: str, calendar: str, *, for_update: bool = False
) -> CalendarRow:
    row = await calendar_store.calendar_get(conn, account_id, calendar, for_update=for_update)
    if row is None:
        raise NotFound(f"no calendar {calendar!r}", code="calendar_not_found")
    return row


def _name_taken(name: str) -> NameConflict:
    return NameConflict(f"a calendar named {name!r} already exists", details={"name": name})


def _in_use(row: CalendarRow, users: list[ScheduleRow], what: str) -> CalendarInUse:
    names = [u["name"] for u in users]
    shown = ", ".join(repr(n) for n in names[:10]) + (" …" if len(names) > 10 else "")
    return CalendarInUse(
        f"calendar {row['name']!r} cannot be {what}: schedules name it ({shown}); "
        "remove it from their exclude_calendars / only_calendar first",
        details={"calendar": row["name"], "schedules": names},
    )


def _audited(row: CalendarRow) -> dict[str, Any]:
    """What the audit log compares of a calendar."""
    return {"name": row["name"], "description": row["description"], **row["spec"]}


async def _audit(
    conn: AsyncConnection,
    row: CalendarRow,
    verb: str,
    now: datetime,
    actor: Actor | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None,
) -> None:
    """Record ``calendar.<verb>`` in the audit log, in the caller's transaction."""
    await audit_change(
        conn, "calendar", row, verb, now, actor, before=before, after=after, reason=reason
    )


# --- for the schedule service: the calendars a schedule names -----------------------------


async def named_calendars(
    conn: AsyncConnection,
    account_id: str,
    spec: ScheduleSpec,
    *,
    strict: bool = True,
    lock: bool = False,
) -> dict[str, Calendar]:
    """The calendars ``spec`` names, compiled, by name (in the caller's transaction). With
    ``strict``, a name the account has no calendar for is a 422 naming it; otherwise it is
    left out (and counts as an empty calendar). ``lock``: the caller stores a ``next_run_at``
    planned with them, so a concurrent change of one waits (and is not missed)."""
    names = rules.calendar_names(spec)
    if not names:
        return {}
    rows = await calendar_store.calendar_get_by_names(conn, account_id, names, for_share=lock)
    found = {row["name"]: Calendar.compile(row["spec"]) for row in rows}
    missing = [name for name in names if name not in found]
    if missing and strict:
        raise _unknown(missing)
    return found


async def link_calendars(conn: AsyncConnection, row: ScheduleRow, *, new: bool = False) -> None:
    """Record which calendars the schedule names (so none of them can be deleted, and a
    change to one moves its ``next_run_at``); one deleted meanwhile is a 422. ``new``: the
    schedule was just inserted (it has no links yet)."""
    names = rules.calendar_names(row["spec"])
    if new and not names:
        return
    rows = await calendar_store.calendar_get_by_names(conn, row["account_id"], names)
    missing = sorted(set(names) - {r["name"] for r in rows})
    if missing:
        raise _unknown(missing)
    try:
        await calendar_store.schedule_calendars_set(conn, row["id"], [r["id"] for r in rows])
    except calendar_store.CalendarGone as exc:
        raise _unknown(names) from exc


def _unknown(names: list[str]) -> UnknownCalendar:
    shown = ", ".join(repr(name) for name in names)
    return UnknownCalendar(
        f"no calendar {shown}: create it first (POST /v1/calendars)",
        details={"calendars": names},
    )
