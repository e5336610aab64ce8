"""``/calendars``: the account's calendars (holidays, business days) and what they do.

- ``GET /calendars``: each calendar with its description, its entries in words and the
  schedules that name it; a form to create one (``POST /calendars``).
- ``GET /calendars/{calendar}`` (id or name): the next :data:`DAYS_SHOWN` days, each marked in
  the calendar or not (``runtime.calendars.dates``, as ``GET /v1/calendars/{cal}/dates``), the
  schedules that name it, and the edit and delete forms.
- ``POST /calendars/{calendar}/edit``: a PATCH of the fields the form shows (its ``.ics`` text,
  if any, adds its all-day events); ``POST /calendars/{calendar}/delete``: refused with the
  API's 409 message while schedules name it.

The same ``runtime.calendars`` calls as the REST API, with the session's CSRF token, audited
as ``dashboard: <key>``. Plain forms that redirect (303); a refusal shows the form again with
what was typed and the message.

The form's text fields: *dates*, one per line, a line ``2026-12-24..2027-01-01`` being a range;
*rules*, one per line, a bare kind (``weekends``) or the API's JSON object
(``{"kind": "nth_weekday", "weekday": "thu", "n": 4, "month": 11}``).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chronos.errors import ChronosError
from chronos.server.dashboard.auth import Session, SessionDep, check_action, form
from chronos.server.dashboard.render import page
from chronos.server.dashboard.routing import DashboardRoute
from chronos.server.domain.audit import Actor
from chronos.server.domain.calendars import CalendarRow, CalendarRule
from chronos.server.errors import ValidationFailed
from chronos.server.runtime import Runtime

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

PAGE_SIZE = 50
DAYS_SHOWN = 60
DATES_NAMED = 5  # explicit dates named in the list's summary; beyond, a count
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 5: "5th", -1: "last", -2: "2nd-to-last"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August"]
MONTHS += ["September", "October", "November", "December"]
WEEKDAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
EMPTY_FORM = {"name": "", "description": "", "dates": "", "rules": "", "ics": ""}


def _actor(session: Session) -> Actor:
    return Actor.of(session.holder, via="dashboard")


# --- the form <-> the API's body -------------------------------------------------------------


def body_from_form(fields: dict[str, str]) -> dict[str, Any]:
    """The API body (``POST /v1/calendars``) a filled-in calendar form stands for."""
    dates: list[str] = []
    ranges: list[dict[str, str]] = []
    for line in fields.get("dates", "").splitlines():
        text = line.strip()
        if not text:
            continue
        if ".." in text:
            first, _, last = text.partition("..")
            ranges.append({"from": first.strip(), "to": last.strip()})
        else:
            dates.append(text)
    rules: list[Any] = []
    for number, line in enumerate(fields.get("rules", "").splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("{"):
            try:
                rules.append(json.loads(text))
            except (ValueError, RecursionError):
                raise ValidationFailed(f"rules, line {number}: not a JSON object") from None
        else:
            rules.append(text)
    body: dict[str, Any] = {
        "name": fields.get("name", "").strip(),
        "description": fields.get("description", "").strip() or None,
        "dates": dates,
        "ranges": ranges,
        "rules": rules,
    }
    ics = fields.get("ics", "").strip()
    if ics:
        body["ics"] = ics
    return body


def form_of(row: CalendarRow) -> dict[str, str]:
    """The edit form's fields, filled with the calendar's entries."""
    spec = row["spec"]
    lines = [*spec["dates"], *(f"{r['from']}..{r['to']}" for r in spec["ranges"])]
    rules = [
        rule["kind"] if set(rule) == {"kind"} else json.dumps(rule, sort_keys=True)
        for rule in spec["rules"]
    ]
    return {
        "name": row["name"],
        "description": row["description"] or "",
        "dates": "\n".join(lines),
        "rules": "\n".join(rules),
        "ics": "",
    }


# --- words -----------------------------------------------------------------------------------


def describe_rule(rule: CalendarRule) -> str:
    kind = rule["kind"]
    month = rule.get("month")
    if kind == "weekends":
        text = "weekends"
    elif kind == "weekdays":
        text = "weekdays (Monday to Friday)"
    elif kind == "last_business_day":
        where = f"of {MONTHS[month - 1]}" if month else "of each month"
        text = f"the last business day {where}"
    elif kind == "nth_weekday":
        n = rule.get("n", 1)
        nth = ORDINALS.get(n, f"{n}th")
        weekday = WEEKDAY_NAMES.get(rule.get("weekday", ""), rule.get("weekday", "?"))
        where = f"of {MONTHS[month - 1]}" if month else "of each month"
        text = f"the {nth} {weekday} {where}"
    elif kind == "yearly":
        text = f"every {MONTHS[(month or 1) - 1]} {rule.get('day')}"
    else:
        text = kind
    if rule.get("start") or rule.get("end"):
        text += f" ({rule.get('start') or '…'} to {rule.get('end') or '…'})"
    return text


def summary(row: CalendarRow) -> list[str]:
    """The calendar's entries in a few words each."""
    spec = row["spec"]
    parts: list[str] = []
    dates = spec["dates"]
    if dates:
        named = ", ".join(dates[:DATES_NAMED])
        more = f" and {len(dates) - DATES_NAMED} more" if len(dates) > DATES_NAMED else ""
        parts.append(f"{len(dates)} date{'s' if len(dates) != 1 else ''}: {named}{more}")
    for span in spec["ranges"][:DATES_NAMED]:
        parts.append(f"{span['from']} to {span['to']}")
    if len(spec["ranges"]) > DATES_NAMED:
        parts.append(f"{len(spec['ranges']) - DATES_NAMED} more ranges")
    parts += [describe_rule(rule) for rule in spec["rules"]]
    return parts or ["no dates yet"]


def _refusal(exc: ChronosError) -> str:
    """A refusal's message, with the first field-level detail when there is one."""
    if isinstance(exc.details, list) and exc.details:
        first = exc.details[0]
        where = ".".join(str(p) for p in first.get("loc", []) if p != "body")
        return f"{exc.message}: {where}: {first.get('message', '')}"
    return exc.message


# --- pages -----------------------------------------------------------------------------------


async def _list_page(
    request: Request,
    session: Session,
    *,
    fields: dict[str, str] | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    runtime: Runtime = request.app.state.runtime
    cursor = request.query_params.get("cursor") or None
    rows, next_cursor = await runtime.calendars.find(
        session.account_id, cursor=cursor, limit=PAGE_SIZE
    )
    items = []
    for row in rows:
        view = await runtime.calendars.get(session.account_id, row["id"])
        items.append({"row": row, "summary": summary(row), "schedules": view.schedules})
    context = {
        "items": items,
        "next_cursor": next_cursor,
        "form": fields if fields is not None else EMPTY_FORM,
        "form_error": form_error,
    }
    return page(request, "calendars.html", session, context, status_code=status_code)


@router.get("/calendars")
async def calendars_page(request: Request, session: SessionDep) -> Response:
    return await _list_page(request, session)


@router.post("/calendars")
async def create_calendar(request: Request, session: SessionDep) -> Response:
    """The create form: validated as ``POST /v1/calendars`` is; a refusal shows the form again
    with its message and what was typed."""
    await check_action(request, session)
    runtime: Runtime = request.app.state.runtime
    fields = await form(request)
    try:
        view = await runtime.calendars.create(
            session.account_id, body_from_form(fields), actor=_actor(session)
        )
    except ChronosError as exc:
        return await _list_page(
            request, session, fields=fields, form_error=_refusal(exc), status_code=exc.status
        )
    return RedirectResponse(f"/calendars/{view.row['id']}", status_code=303)


async def _calendar_page(
    request: Request,
    session: Session,
    calendar: str,
    *,
    fields: dict[str, str] | None = None,
    form_error: str | None = None,
    delete_error: str | None = None,
    status_code: int = 200,
) -> Response:
    runtime: Runtime = request.app.state.runtime
    view = await runtime.calendars.get(session.account_id, calendar)
    first = runtime.clock.now().date()
    last = first + timedelta(days=DAYS_SHOWN - 1)
    _, in_calendar = await runtime.calendars.dates(session.account_id, view.row["id"], first, last)
    marked = set(in_calendar)
    days: list[date] = [first + timedelta(days=n) for n in range(DAYS_SHOWN)]
    context = {
        "row": view.row,
        "schedules": view.schedules,
        "summary": summary(view.row),
        "days": [(day, day in marked) for day in days],
        "marked_count": len(marked),
        "first": first,
        "last": last,
        "form": fields if fields is not None else form_of(view.row),
        "form_error": form_error,
        "delete_error": delete_error,
    }
    return page(request, "calendar.html", session, context, status_code=status_code)


@router.get("/calendars/{calendar}")
async def calendar_page(request: Request, calendar: str, session: SessionDep) -> Response:
    return await _calendar_page(request, session, calendar)


@router.post("/calendars/{calendar}/edit")
async def edit_calendar(request: Request, calendar: str, session: SessionDep) -> Response:
    """A PATCH of the fields the form shows: name, description, dates and ranges, rules (each
    replaces the current one); an ``.ics`` text adds its all-day events."""
    await check_action(request, session)
    runtime: Runtime = request.app.state.runtime
    fields = await form(request)
    try:
        view = await runtime.calendars.patch(
            session.account_id, calendar, body_from_form(fields), actor=_actor(session)
        )
    except ChronosError as exc:
        if exc.status == 404:
            raise
        return await _calendar_page(
            request,
            session,
            calendar,
            fields=fields,
            form_error=_refusal(exc),
            status_code=exc.status,
        )
    return RedirectResponse(f"/calendars/{view.row['id']}", status_code=303)


@router.post("/calendars/{calendar}/delete")
async def delete_calendar(request: Request, calendar: str, session: SessionDep) -> Response:
    """Delete a calendar no schedule names; else the API's 409 ``calendar_in_use`` message."""
    await check_action(request, session)
    runtime: Runtime = request.app.state.runtime
    try:
        await runtime.calendars.delete(session.account_id, calendar, actor=_actor(session))
    except ChronosError as exc:
        if exc.status == 404:
            raise
        return await _calendar_page(
            request, session, calendar, delete_error=exc.message, status_code=exc.status
        )
    return RedirectResponse("/calendars", status_code=303)
