"""``/schedules/{schedule}`` (by id or name): one schedule's page.

- a header with the schedule's state, its timing in words and who paused it and why; pause
  (with a note), resume, enable/disable and run now post to the schedules list's action
  routes (``POST /schedules/{schedule}/{action}``), the same service calls as the REST API;
- its configuration (a push target's header *names* only: their values may be secrets);
- **expected vs actual**: each slot planned in the last hour, day or week (``?window=``) and
  what became of it (``runtime.schedules.slots``, as ``GET /v1/schedules/{id}/slots``),
  then the next fires;
- its runs with their durations and a chart of them (``runtime.schedules.runs``);
- its versions, a diff between any two (``?a=&b=``) and a rollback per version
  (``POST /schedules/{schedule}/actions/rollback/{version}``);
- its history (who did what, when, why) and its audit trail (``runtime.audit``, as
  ``GET /v1/audit?resource_id=``: each change with its diff and reason);
- its backfills (``runtime.backfills``, as ``GET /v1/schedules/{id}/backfills``), a form to
  start one (``POST /schedules/{schedule}/actions/backfill``) and a cancel button per running
  one (``POST /schedules/{schedule}/actions/backfills/{id}/cancel``).

The header, the ledger, the runs, the backfills, the history and the audit trail are live
regions; the diff is not.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chronos.server.api.presenters import schedule_config_out
from chronos.server.dashboard.auth import Session, SessionDep, check_action, form
from chronos.server.dashboard.render import flash, page
from chronos.server.dashboard.routing import DashboardRoute, is_htmx
from chronos.server.domain.audit import Actor
from chronos.server.domain.backfill import Overlap
from chronos.server.domain.describe import describe_interval, describe_spec
from chronos.server.domain.ledger import Slot, SlotOutcome
from chronos.server.domain.rows import ScheduleSpec, ScheduleVersionRow
from chronos.server.domain.timing import iso, parse_iso
from chronos.server.errors import BadRequest, ValidationFailed
from chronos.server.runtime import Runtime
from chronos.server.services.audit import AuditFilter
from chronos.server.services.schedules import Run

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
Window = Literal["1h", "24h", "7d"]
Show = Literal["all", "problems"]
LEDGER_ROWS = 50
STRIP_CELLS = 120
RUNS_PAGE = 50
UPCOMING = 10
HISTORY = 50
BACKFILLS_SHOWN = 20
AUDIT_SHOWN = 50
PROBLEMS = frozenset({SlotOutcome.LATE, SlotOutcome.MISSED, SlotOutcome.SKIPPED})
# Runs of these (same reason, one after another) read better as one line.
GROUPED = frozenset(
    {
        SlotOutcome.MISSED,
        SlotOutcome.PAUSED,
        SlotOutcome.DISABLED,
        SlotOutcome.UNKNOWN,
        SlotOutcome.EXCLUDED,
    }
)
OUTCOME_LABELS = {
    SlotOutcome.ON_TIME: "on time",
    SlotOutcome.LATE: "late",
    SlotOutcome.SKIPPED: "skipped",
    SlotOutcome.MISSED: "missed",
    SlotOutcome.DUE: "due",
    SlotOutcome.PAUSED: "paused",
    SlotOutcome.EXCLUDED: "excluded (calendar)",
    SlotOutcome.DISABLED: "disabled",
    SlotOutcome.UNKNOWN: "unknown",
    SlotOutcome.FIRED: "fired (unplanned)",
}
HIDDEN = "(hidden)"
HIDDEN_CHANGED = "(hidden, changed)"


@dataclass(frozen=True)
class LedgerRow:
    """One line of the ledger table: a slot, or several alike in a row (newest first)."""

    newest: Slot
    oldest: Slot
    count: int

    @property
    def outcome(self) -> SlotOutcome:
        return self.newest.outcome


@dataclass(frozen=True)
class PageQuery:
    """What the page's URL asks for."""

    window: Window = "24h"
    show: Show = "all"
    before: datetime | None = None  # the ledger's page: slots before this instant
    cursor: str | None = None  # the runs' page
    a: int | None = None  # the versions compared
    b: int | None = None

    def params(self) -> list[tuple[str, str]]:
        items: list[tuple[str, Any]] = [
            ("window", None if self.window == "24h" else self.window),
            ("show", None if self.show == "all" else self.show),
            ("before", iso(self.before)),
            ("cursor", self.cursor),
            ("a", self.a),
            ("b", self.b),
        ]
        return [(key, str(value)) for key, value in items if value is not None]


@router.get("/schedules/{schedule}")
async def schedule_page(
    request: Request,
    schedule: str,
    session: SessionDep,
    window: Window = "24h",
    show: Show = "all",
    before: str | None = None,
    cursor: str | None = None,
    a: Annotated[int | None, Query(ge=1)] = None,
    b: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    shown = PageQuery(window, show, _instant(before), cursor or None, a, b)
    return await _render(request, session, schedule, shown)


@router.post("/schedules/{schedule}/actions/rollback/{version}")
async def rollback(request: Request, schedule: str, version: int, session: SessionDep) -> Response:
    """Restore ``version``'s configuration as a new version; the page then shows the diff
    from the configuration it replaced to the restored one."""
    await check_action(request, session)
    runtime: Runtime = request.app.state.runtime
    before = await runtime.schedules.get(session.account_id, schedule)
    view = await runtime.schedules.rollback(
        session.account_id,
        schedule,
        version,
        actor=Actor.of(session.holder, via="dashboard"),
    )
    row = view.row
    if not is_htmx(request):
        return RedirectResponse(f"/schedules/{row['id']}#versions-title", status_code=303)
    if row["version"] == before.row["version"]:
        message = f"Version {version} is the configuration {row['name']} already has."
    else:
        message = f"Rolled {row['name']} back to version {version} (now version {row['version']})."
    shown = replace(_shown_on(request), a=before.row["version"], b=row["version"])
    return await _render(request, session, row["id"], shown, message=message)


@router.post("/schedules/{schedule}/actions/backfill")
async def start_backfill(request: Request, schedule: str, session: SessionDep) -> Response:
    """Run the slots of a past range (``from``/``to``, UTC) that have no job, as
    ``POST /v1/schedules/{id}/backfill`` does; ``overlap=rerun`` runs finished ones again."""
    await check_action(request, session)
    runtime: Runtime = request.app.state.runtime
    fields = await form(request)
    start, end = _utc_field(fields, "from"), _utc_field(fields, "to")
    overlap = fields.get("overlap", "skip")
    if overlap not in ("skip", "rerun"):
        raise ValidationFailed("overlap: skip or rerun")
    reason = fields.get("reason", "").strip()[:500] or None
    actor = Actor.of(session.holder, via="dashboard", reason=reason)
    view = await runtime.backfills.create(
        session.account_id, schedule, start, end, Overlap(overlap), actor=actor
    )
    row = view.row
    if not is_htmx(request):
        return RedirectResponse(f"/schedules/{row['schedule_id']}#backfills-title", 303)
    made = f"{row['created']} job{'' if row['created'] == 1 else 's'} created"
    if row["rerun"]:
        made += f", {row['rerun']} run again"
    skipped = f"{row['skipped_existing']} slot{'' if row['skipped_existing'] == 1 else 's'}"
    message = f"Backfill {row['id']}: {made}; {skipped} already had a job"
    if row["excluded"]:
        message += f"; {row['excluded']} excluded by a calendar"
    return flash(message + ".", kind="ok")


@router.post("/schedules/{schedule}/actions/backfills/{backfill_id}/cancel")
async def cancel_backfill(
    request: Request, schedule: str, backfill_id: str, session: SessionDep
) -> Response:
    """Cancel a backfill's jobs that have not started (``POST /v1/backfills/{id}/cancel``)."""
    await check_action(request, session)
    runtime: Runtime = request.app.state.runtime
    view = await runtime.schedules.get(session.account_id, schedule)
    found = await runtime.backfills.get(session.account_id, backfill_id)
    if found.row["schedule_id"] != view.row["id"]:
        raise BadRequest(f"backfill {backfill_id!r} is not one of {view.row['name']}'s")
    done = await runtime.backfills.cancel(
        session.account_id, backfill_id, actor=Actor.of(session.holder, via="dashboard")
    )
    if not is_htmx(request):
        return RedirectResponse(f"/schedules/{view.row['id']}#backfills-title", 303)
    count = done.canceled
    message = f"Canceled backfill {backfill_id}: {count} job{'' if count == 1 else 's'} canceled"
    return flash(message + " (running ones finish).", kind="ok")


def _utc_field(fields: dict[str, str], name: str) -> datetime:
    """A form's date and time (``datetime-local``: no offset, read as UTC; or RFC 3339)."""
    text = fields.get(name, "").strip()
    if not text:
        raise ValidationFailed(f"{name}: a date and time (UTC) is required")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{name}: {text[:40]!r} is not a date and time") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _shown_on(request: Request) -> PageQuery:
    """What the page an action came from shows (htmx sends its URL), so that the parts the
    answer replaces match it; the defaults if that cannot be read."""
    params = dict(parse_qsl(urlsplit(request.headers.get("hx-current-url", "")).query))
    window, show = params.get("window", "24h"), params.get("show", "all")
    try:
        before = _instant(params.get("before"))
    except BadRequest:
        before = None
    return PageQuery(
        window=cast(Window, window) if window in WINDOWS else "24h",
        show=cast(Show, show) if show in ("all", "problems") else "all",
        before=before,
        cursor=params.get("cursor") or None,
    )


# --- rendering ------------------------------------------------------------------------------


async def _render(
    request: Request,
    session: Session,
    schedule: str,
    shown: PageQuery,
    *,
    message: str | None = None,
    message_kind: str = "ok",
) -> Response:
    runtime: Runtime = request.app.state.runtime
    account_id = session.account_id
    view = await runtime.schedules.get(account_id, schedule)
    row = view.row
    schedule_id = row["id"]
    now = runtime.clock.now()
    ledger = await runtime.schedules.slots(
        account_id,
        schedule_id,
        now - WINDOWS[shown.window],
        now,
        retention_seconds=runtime.settings.retention_seconds,
    )
    upcoming = await runtime.schedules.upcoming(account_id, schedule_id, UPCOMING)
    runs, next_cursor = await runtime.schedules.runs(
        account_id, schedule_id, cursor=shown.cursor, limit=RUNS_PAGE
    )
    versions = await runtime.schedules.versions(account_id, schedule_id)
    events = await runtime.schedules.events(account_id, schedule_id, limit=HISTORY)
    backfills, _ = await runtime.backfills.find(
        account_id, schedule_id, cursor=None, limit=BACKFILLS_SHOWN
    )
    audit, _ = await runtime.audit.find(
        account_id, AuditFilter(resource_id=schedule_id), limit=AUDIT_SHOWN
    )

    rows, older = _ledger_rows(ledger.slots, shown)
    diff_a, diff_b = _compared(versions, shown)
    context = {
        "view": view,
        "row": row,
        "spec": row["spec"],
        "words": describe_spec(row["spec"]),
        "push": _push_target(row["spec"]),
        "describe_interval": describe_interval,
        "window_start": parse_iso(row["spec"]["start_at"]),
        "window_end": parse_iso(row["spec"]["end_at"]),
        "shown": shown,
        "windows": list(WINDOWS),
        "ledger": ledger,
        "ledger_rows": rows,
        "ledger_older": iso(older) if older else None,
        "counts": Counter(slot.outcome for slot in ledger.slots),
        "strip": ledger.slots[-STRIP_CELLS:],
        "labels": OUTCOME_LABELS,
        "upcoming": upcoming,
        "runs": runs,
        "next_cursor": next_cursor,
        "chart": _chart(runs),
        "versions": versions,
        "describe": describe_spec,
        "diff_a": diff_a,
        "diff_b": diff_b,
        "diff": _diff(diff_a, diff_b) if diff_a and diff_b else [],
        "events": events,
        "backfills": backfills,
        "audit": [(record, _audit_changes(record["changes"])) for record in audit],
        "config": schedule_config_out(row["spec"]),
        "backfill_default": _backfill_default(now),
        "message": message,
        "message_kind": message_kind,
        "page_url": _page_url(schedule_id, shown),
    }
    return page(_as_page_request(request, schedule_id, shown), "schedule.html", session, context)


def _backfill_default(now: datetime) -> dict[str, str]:
    """The backfill form's range at first: the last full day (UTC)."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "from": (today - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "to": today.strftime("%Y-%m-%dT%H:%M"),
    }


def _page_url(schedule_id: str, shown: PageQuery) -> str:
    query = urlencode(shown.params())
    return f"/schedules/{schedule_id}" + (f"?{query}" if query else "")


def _as_page_request(request: Request, schedule_id: str, shown: PageQuery) -> Request:
    """The request as a GET of the page's own URL (after an action too), so that the live
    regions and the links built from it point at the page."""
    path = f"/schedules/{schedule_id}"
    scope = {
        **request.scope,
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": urlencode(shown.params()).encode(),
    }
    return Request(scope)


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = parse_iso(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise BadRequest(f"before: {text!r} is not an RFC 3339 time (2026-03-01T12:00:00Z)")
    return value


def _ledger_rows(
    slots: Sequence[Slot], shown: PageQuery
) -> tuple[list[LedgerRow], datetime | None]:
    """The table's lines, newest first, for the page ``shown.before`` names: slots alike in a
    row grouped; at most :data:`LEDGER_ROWS` lines. Also where the next page starts."""
    picked = [
        slot
        for slot in reversed(slots)
        if (shown.before is None or slot.at < shown.before)
        and (shown.show == "all" or slot.outcome in PROBLEMS)
    ]
    lines: list[LedgerRow] = []
    for slot in picked:
        last = lines[-1] if lines else None
        if (
            last is not None
            and slot.outcome in GROUPED
            and last.outcome is slot.outcome
            and last.newest.reason == slot.reason
        ):
            lines[-1] = LedgerRow(last.newest, slot, last.count + 1)
            continue
        if len(lines) == LEDGER_ROWS:
            return lines, lines[-1].oldest.at
        lines.append(LedgerRow(slot, slot, 1))
    return lines, None


def _chart(runs: Sequence[Run]) -> dict[str, list[Any]]:
    """The runs' durations for the chart: seconds by slot time (Unix seconds), oldest first,
    as two series: runs that completed, and runs that did not."""
    points = sorted(
        (
            (run.job["scheduled_for"].timestamp(), execution["duration_ms"] / 1000, execution)
            for run in runs
            if (execution := run.execution) is not None and execution["duration_ms"] is not None
        ),
        key=lambda point: point[0],
    )
    completed = [execution["status"] == "completed" for _, _, execution in points]
    return {
        "x": [x for x, _, _ in points],
        "ok": [d if done else None for (_, d, _), done in zip(points, completed, strict=True)],
        "failed": [None if done else d for (_, d, _), done in zip(points, completed, strict=True)],
    }


# --- configuration, versions and their diff ---------------------------------------------------


@dataclass(frozen=True)
class PushTarget:
    method: str
    url: str
    header_names: list[str]
    body_bytes: int | None
    success_codes: list[str]


def _push_target(spec: ScheduleSpec) -> PushTarget | None:
    http = spec["delivery"].get("http")
    if spec["delivery"]["type"] != "push" or http is None:
        return None
    body = http["body"]
    return PushTarget(
        http["method"],
        _safe_url(http["url"]),
        sorted(http["headers"]),
        None if body is None else len(body.encode()),
        http["success_codes"],
    )


def _safe_url(url: str) -> str:
    """The URL without the password it may carry (``https://user:secret@host``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{HIDDEN}@{host}"))


def _compared(
    versions: Sequence[ScheduleVersionRow], shown: PageQuery
) -> tuple[ScheduleVersionRow | None, ScheduleVersionRow | None]:
    """The versions to compare: those asked for, else the previous one and the current."""
    by_number = {v["version"]: v for v in versions}
    for asked in (shown.a, shown.b):
        if asked is not None and asked not in by_number:
            numbers = f"1 to {max(by_number)}" if by_number else "none"
            raise BadRequest(f"this schedule has no version {asked} (it has {numbers})")
    newest = versions[0] if versions else None
    previous = versions[1] if len(versions) > 1 else None
    a = by_number[shown.a] if shown.a is not None else previous
    b = by_number[shown.b] if shown.b is not None else newest
    return (a, b) if a is not None and b is not None else (None, None)


def _diff(a: ScheduleVersionRow, b: ScheduleVersionRow) -> list[tuple[str, str]]:
    """A line diff of two versions' configurations as the API shows them (pretty JSON),
    secrets hidden: ``(kind, line)`` with kind ``add``, ``del``, ``hunk`` or ``same``."""
    old, new = _redacted(a["spec"], b["spec"]), _redacted(b["spec"], a["spec"])
    lines = difflib.unified_diff(
        _pretty(old), _pretty(new), f"version {a['version']}", f"version {b['version']}", n=3
    )
    out: list[tuple[str, str]] = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append((kind, line.rstrip("\n")))
    return out


def _pretty(config: dict[str, Any]) -> list[str]:
    return json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False).splitlines(True)


def _audit_changes(changes: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """An audit record's changes as ``(field, before, after)`` JSON texts, hidden as the page
    hides them elsewhere: push header values and bodies, URL passwords."""
    out: list[tuple[str, str, str]] = []
    for field, change in sorted((changes or {}).items()):
        if field == "version":
            continue
        before, after = (
            change if isinstance(change, list | tuple) and len(change) == 2 else (None, change)
        )
        out.append((field, _audit_value(field, before), _audit_value(field, after)))
    return out


def _audit_value(field: str, value: Any) -> str:
    if value is None:
        return "—"
    if field.startswith(("delivery.http.headers", "delivery.http.body")):
        return HIDDEN
    if field == "delivery.http.url" and isinstance(value, str):
        return json.dumps(_audit_url(value))
    if field in ("delivery", "delivery.http") and isinstance(value, dict):
        http = value.get("http", value) if field == "delivery" else value
        if isinstance(http, dict):
            hidden = {
                **http,
                "headers": {name: HIDDEN for name in http.get("headers") or {}},
                "body": None if http.get("body") is None else HIDDEN,
            }
            if isinstance(http.get("url"), str):
                hidden["url"] = _audit_url(http["url"])
            value = {**value, "http": hidden} if field == "delivery" else hidden
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _audit_url(url: str) -> str:
    """The audit log has hidden a URL's password already (``[redacted]``, which is not a URL
    any more); any other URL loses its password here."""
    try:
        return _safe_url(url)
    except ValueError:
        return url


def _redacted(spec: ScheduleSpec, other: ScheduleSpec) -> dict[str, Any]:
    """``spec`` as the API shows it, its push target's header values and body hidden (marked
    changed where they differ from ``other``'s) and its URL without a password."""
    config = schedule_config_out(spec)
    http = spec["delivery"].get("http")
    if http is None:
        return config
    theirs: dict[str, Any] = dict(other["delivery"].get("http") or {})
    their_headers: dict[str, str] = theirs.get("headers", {})
    headers = {
        name: HIDDEN if their_headers.get(name, value) == value else HIDDEN_CHANGED
        for name, value in http["headers"].items()
    }
    body = http["body"]
    if body is not None:
        body = HIDDEN if theirs.get("body", body) == body else HIDDEN_CHANGED
    config["delivery"] = {
        **config["delivery"],
        "http": {**http, "url": _safe_url(http["url"]), "headers": headers, "body": body},
    }
    return config
