"""The schedule editor: ``/schedules/new`` and ``/schedules/{schedule}/edit``, plus one-off
jobs, with a live preview of the next fires computed by the scheduler's own code.

The form is turned into the very body the REST API takes (:func:`body_from_form`) and goes
through the same service calls: ``ScheduleService.preview`` as you type (what
``POST /v1/schedules/preview`` answers, with the account's calendars), ``create``/``patch`` on
save, ``JobService.create`` for a one-off job. A body the API would refuse is refused here with
the API's message.

An edit is a PATCH: the fields issue 14 added (DST policy, jitter, spread, calendars) are sent
only when the form changes them (:data:`TIMING_FIELDS`), so a stored schedule that never set
them keeps not setting them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chronos.errors import ChronosError
from chronos.server.api.presenters import schedule_config_out
from chronos.server.dashboard.auth import Session, SessionDep, check_action, form_items
from chronos.server.dashboard.render import page, templates
from chronos.server.dashboard.routing import DashboardRoute, is_htmx
from chronos.server.domain import jsonsafe
from chronos.server.domain.audit import Actor
from chronos.server.domain.timing import load_timezone
from chronos.server.errors import ValidationFailed, from_store_error
from chronos.server.runtime import Runtime
from chronos.server.store.errors import StoreError

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

PREVIEW_COUNT = 10
CALENDARS_SHOWN = 200  # the calendars the editor offers (newest first)
KINDS = ("cron", "interval", "once")
UNIT_LETTERS = {"second": "s", "minute": "m", "hour": "h", "day": "d", "week": "w"}
TIMEZONES = sorted(available_timezones())

DEFAULTS = {
    "kind": "cron",
    "name": "",
    "description": "",
    "cron": "0 2 * * *",
    "interval": "1h",
    "run_at": "",
    "timezone": "UTC",
    "target": "pull",
    "handler": "",
    "url": "",
    "method": "POST",
    "payload": "",
    "timeout": "30s",
    "max_retries": "3",
    "concurrency": "forbid",
    "misfire_policy": "run_once",
    "tags": "",
    "enabled": "on",
    "dst_gap": "shift",
    "dst_overlap": "first",
    "jitter": "0s",
    "spread": "0s",
    "exclude_calendars": "",  # names, one per line (the form's multi-select)
    "only_calendar": "",
}
# The body key each group of the editor's timing fields makes; a PATCH sends a key only when
# one of its fields changed.
TIMING_FIELDS = {
    "dst_policy": ("dst_gap", "dst_overlap"),
    "jitter": ("jitter",),
    "spread": ("spread",),
    "exclude_calendars": ("exclude_calendars",),
    "only_calendar": ("only_calendar",),
}


def body_from_form(
    fields: dict[str, str], *, kept_headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The API body a filled-in editor stands for (a schedule's, or a one-off job's)."""
    kind = fields.get("kind", "cron")
    if kind not in KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}")
    body: dict[str, Any] = {}
    name = fields.get("name", "").strip()
    if name:
        body["name"] = name
    if kind == "cron":
        body["cron"] = fields.get("cron", "").strip()
    elif kind == "interval":
        body["interval"] = fields.get("interval", "").strip()
    else:
        body.update(_when_once(fields))
    if kind != "once":
        body["timezone"] = fields.get("timezone", "UTC").strip() or "UTC"
        description = fields.get("description", "").strip()
        body["description"] = description or None
        body["concurrency"] = fields.get("concurrency", "forbid")
        body["misfire_policy"] = fields.get("misfire_policy", "run_once")
        body["enabled"] = fields.get("enabled") == "on"
        body.update(_timing(fields))
    if fields.get("target", "pull") == "push":
        http: dict[str, Any] = {
            "url": fields.get("url", "").strip(),
            "method": fields.get("method", "POST"),
        }
        if kept_headers:
            http["headers"] = kept_headers
        body["delivery"] = {"type": "push", "http": http}
    else:
        body["handler"] = fields.get("handler", "").strip()
    payload = fields.get("payload", "").strip()
    if payload:
        try:
            body["payload"] = json.loads(payload, parse_constant=_no_constant)
        except RecursionError:
            raise ValidationFailed(
                f"payload: JSON nested deeper than {jsonsafe.MAX_DEPTH} levels"
            ) from None
        except ValueError as exc:
            raise ValidationFailed(f"payload: not valid JSON ({exc})") from exc
    else:
        body["payload"] = None
    body["timeout"] = fields.get("timeout", "30s").strip() or "30s"
    retries = fields.get("max_retries", "").strip()
    if retries:
        if not retries.isdigit():
            raise ValidationFailed("max_retries: a whole number, 0 or more")
        body["max_retries"] = int(retries)
    body["tags"] = _tags(fields.get("tags", ""))
    # The same checks the API's guard makes of a JSON body (a form never passes through it):
    # no NUL characters (PostgreSQL cannot store them), no nesting deeper than it allows.
    found = jsonsafe.problem(body)
    if found is not None:
        raise ValidationFailed(found)
    return body


def _timing(fields: dict[str, str]) -> dict[str, Any]:
    """A schedule's DST policy, jitter, spread and calendars, as the API's body names them."""
    return {
        "dst_policy": {
            "gap": fields.get("dst_gap", "shift"),
            "overlap": fields.get("dst_overlap", "first"),
        },
        "jitter": fields.get("jitter", "").strip() or 0,
        "spread": fields.get("spread", "").strip() or 0,
        "exclude_calendars": calendar_names(fields.get("exclude_calendars", "")),
        "only_calendar": fields.get("only_calendar", "").strip() or None,
    }


def _same(field: str, given: str, stored: str) -> bool:
    if field == "exclude_calendars":  # a set, whatever order the API stored it in
        return sorted(calendar_names(given)) == sorted(calendar_names(stored))
    return given.strip() == stored.strip()


def calendar_names(text: str) -> list[str]:
    return [name.strip() for name in text.splitlines() if name.strip()]


async def read_form(request: Request) -> dict[str, str]:
    """The editor's fields; the calendars' multi-select (a repeated field) as one per line."""
    items = await form_items(request)
    fields = dict(items)
    if any(key == "exclude_calendars" for key, _ in items):
        chosen = [v for k, v in items if k == "exclude_calendars" and v.strip()]
        fields["exclude_calendars"] = "\n".join(chosen)
    return fields


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _tags(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for line in text.replace(",", "\n").splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValidationFailed(f"tags: write one key=value per line (got {line.strip()!r})")
        tags[key.strip()] = value.strip()
    return tags


def _when_once(fields: dict[str, str]) -> dict[str, Any]:
    """A one-off job's time: ``run_at`` (local, in ``timezone``) or a ``delay`` (``10m``)."""
    run_at = fields.get("run_at", "").strip()
    if not run_at:
        delay = fields.get("delay", "").strip() or "0s"
        return {"delay": delay}
    try:
        local = datetime.fromisoformat(run_at)
    except ValueError as exc:
        raise ValidationFailed(f"run at: not a date and time ({run_at!r})") from exc
    zone = _zone(fields.get("timezone", "UTC"))
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return {"scheduled_for": local.isoformat()}


def _zone(name: str) -> ZoneInfo:
    try:
        return load_timezone(name.strip() or "UTC")
    except Exception as exc:
        raise ValidationFailed(f"timezone: unknown timezone {name!r}") from exc


def local_time_warnings(fields: dict[str, str]) -> list[str]:
    """For a one-off time: warn when it does not exist, or occurs twice, in its timezone."""
    run_at = fields.get("run_at", "").strip()
    if fields.get("kind") != "once" or not run_at:
        return []
    try:
        naive = datetime.fromisoformat(run_at).replace(tzinfo=None)
        zone = _zone(fields.get("timezone", "UTC"))
    except (ValueError, ChronosError):
        return []
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        back = first.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None)
        day = f"{naive:%Y-%m-%d} in {zone.key}"
        if back != naive:
            return [f"{naive:%H:%M} does not exist on {day} (the clocks skip it)"]
        return [f"{naive:%H:%M} occurs twice on {day}; the first is used"]
    return []


def fields_from_spec(spec: Any) -> dict[str, str]:
    """The editor's fields for an existing schedule."""
    config = schedule_config_out(spec)
    delivery = config["delivery"] or {}
    http = delivery.get("http") or {}
    interval = config["interval"]
    return {
        **DEFAULTS,
        "kind": "cron" if config["cron"] else "interval",
        "name": config["name"],
        "description": config["description"] or "",
        "cron": config["cron"] or DEFAULTS["cron"],
        "interval": (
            f"{interval['value']}{UNIT_LETTERS[interval['unit']]}"
            if interval
            else DEFAULTS["interval"]
        ),
        "timezone": config["timezone"],
        "target": delivery.get("type", "pull"),
        "handler": config["handler"] or "",
        "url": http.get("url", ""),
        "method": http.get("method", "POST"),
        "payload": "" if config["payload"] is None else json.dumps(config["payload"], indent=2),
        "timeout": f"{config['timeout']}s",
        "max_retries": str(config["max_retries"]),
        "concurrency": config["concurrency"],
        "misfire_policy": config["misfire_policy"],
        "tags": "\n".join(f"{k}={v}" for k, v in sorted(config["tags"].items())),
        "enabled": "on" if config["enabled"] else "",
        "dst_gap": config["dst_policy"]["gap"],
        "dst_overlap": config["dst_policy"]["overlap"],
        "jitter": f"{config['jitter']}s",
        "spread": f"{config['spread']}s",
        "exclude_calendars": "\n".join(config["exclude_calendars"]),
        "only_calendar": config["only_calendar"] or "",
    }


async def _editor(
    request: Request,
    session: Session,
    fields: dict[str, str],
    *,
    schedule: Any = None,
    error: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    status_code: int = 200,
) -> Response:
    runtime: Runtime = request.app.state.runtime
    rows, _ = await runtime.calendars.find(session.account_id, cursor=None, limit=CALENDARS_SHOWN)
    names = sorted(row["name"] for row in rows)
    chosen = calendar_names(fields.get("exclude_calendars", ""))
    only = fields.get("only_calendar", "")
    # A name the form holds but the account lacks (deleted, or typed in a URL) stays visible.
    names += [name for name in [*chosen, only] if name and name not in names]
    context = {
        "fields": fields,
        "schedule": schedule,
        "error": error,
        "errors": errors or [],
        "timezones": TIMEZONES,
        "kept_headers": _headers_of(schedule),
        "calendars": names,
        "excluded": chosen,
    }
    return page(request, "editor.html", session, context, status_code=status_code)


def _headers_of(schedule: Any) -> dict[str, str]:
    if schedule is None:
        return {}
    delivery = schedule.row["spec"]["delivery"] or {}
    return dict((delivery.get("http") or {}).get("headers") or {})


@router.get("/schedules/new")
async def new_schedule(request: Request, session: SessionDep) -> Response:
    fields = {**DEFAULTS, **{k: v for k, v in request.query_params.items() if k in DEFAULTS}}
    return await _editor(request, session, fields)


@router.get("/schedules/{schedule}/edit")
async def edit_schedule(schedule: str, request: Request, session: SessionDep) -> Response:
    runtime: Runtime = request.app.state.runtime
    view = await runtime.schedules.get(session.account_id, schedule)
    return await _editor(request, session, fields_from_spec(view.row["spec"]), schedule=view)


@router.post("/schedules/preview")
async def preview(request: Request, session: SessionDep) -> Response:
    """The preview fragment for the editor's current fields (nothing is stored)."""
    await check_action(request, session)
    runtime: Runtime = request.app.state.runtime
    fields = await read_form(request)
    context: dict[str, Any] = {"request": request, "fields": fields}
    try:
        body = body_from_form(fields)
        if fields.get("kind") == "once":
            spec = runtime.jobs.parse(body)
            context["once"] = spec["scheduled_for"] or runtime.clock.now()
            context["once_delay"] = spec["delay"]
        else:
            body.setdefault("name", "preview")
            context["preview"] = await runtime.schedules.preview(
                body, PREVIEW_COUNT, session.account_id
            )
        context["local_warnings"] = local_time_warnings(fields)
    except ChronosError as exc:
        context["error"] = exc.message
        context["errors"] = exc.details if isinstance(exc.details, list) else []
    response = templates.TemplateResponse(request, "_preview.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/schedules/new")
async def create(request: Request, session: SessionDep) -> Response:
    await check_action(request, session)
    runtime: Runtime = request.app.state.runtime
    fields = await read_form(request)
    actor = Actor.of(session.holder, via="dashboard")
    try:
        body = body_from_form(fields)
        if fields.get("kind") == "once":
            job = await runtime.jobs.create(session.account_id, runtime.jobs.parse(body))
            return _go(request, f"/jobs/{job['id']}")
        view = await runtime.schedules.create(
            session.account_id, runtime.schedules.parse(body), actor=actor
        )
    except (ChronosError, StoreError) as exc:
        return await _refused(request, session, fields, exc)
    return _go(request, f"/schedules/{view.row['id']}")


@router.post("/schedules/{schedule}/edit")
async def update(schedule: str, request: Request, session: SessionDep) -> Response:
    await check_action(request, session)
    runtime: Runtime = request.app.state.runtime
    view = await runtime.schedules.get(session.account_id, schedule)
    fields = await read_form(request)
    if fields.get("kind") not in ("cron", "interval"):
        fields["kind"] = "cron"  # a schedule stays a schedule
    try:
        body = body_from_form(fields, kept_headers=_headers_of(view) or None)
        body = {**{"cron": None, "interval": None}, **body}
        stored = fields_from_spec(view.row["spec"])
        for key, names in TIMING_FIELDS.items():
            # Not in the form, or as stored: a PATCH leaves it as it is.
            if all(n not in fields or _same(n, fields[n], stored[n]) for n in names):
                body.pop(key, None)
        view = await runtime.schedules.patch(
            session.account_id,
            view.row["id"],
            body,
            actor=Actor.of(session.holder, via="dashboard"),
        )
    except (ChronosError, StoreError) as exc:
        return await _refused(request, session, fields, exc, schedule=view)
    return _go(request, f"/schedules/{view.row['id']}")


async def _refused(
    request: Request,
    session: Session,
    fields: dict[str, str],
    exc: Exception,
    *,
    schedule: Any = None,
) -> Response:
    error = from_store_error(exc) if isinstance(exc, StoreError) else exc
    assert isinstance(error, ChronosError)
    details = error.details if isinstance(error.details, list) else []
    return await _editor(
        request,
        session,
        fields,
        schedule=schedule,
        error=error.message,
        errors=details,
        status_code=error.status,
    )


def _go(request: Request, location: str) -> Response:
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)
