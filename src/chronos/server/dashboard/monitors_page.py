"""``/monitors``: heartbeat monitors beside the schedules.

- ``GET /monitors``: every monitor with its state badge as of now (``late`` is derived from the
  time), its expectation in words, its last ping and when the next is due; a form to create
  one (``POST /monitors``).
- ``GET /monitors/{monitor}``: one monitor — its problem if any, its tokenised ping URLs as
  copyable ``curl`` lines, and its recent pings.
- ``POST /monitors/{monitor}/edit``: the edit form (a PATCH of the fields it shows).
- ``POST /monitors/{monitor}/{pause,resume,rotate-token,delete}``: the same service calls as
  the REST API, with the session's CSRF token, audited as ``dashboard: <key>``.

Plain forms that redirect back (303); htmx is not needed for any of it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chronos.errors import ChronosError
from chronos.server.api.monitors import ping_urls
from chronos.server.dashboard.auth import Session, SessionDep, check_action, form_items
from chronos.server.dashboard.render import page
from chronos.server.dashboard.routing import DashboardRoute
from chronos.server.domain import monitors as rules
from chronos.server.domain.audit import Actor
from chronos.server.errors import BadRequest
from chronos.server.runtime import Runtime

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

PAGE_SIZE = 100
PINGS_SHOWN = 50
# The create form's fields, as the API's body names them (empty ones are left out).
FORM_FIELDS = ("name", "description", "cron", "interval", "timezone", "grace", "max_runtime")


def _actor(session: Session) -> Actor:
    return Actor.of(session.holder, via="dashboard")


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/monitors")
async def monitors_page(request: Request, session: SessionDep) -> Response:
    runtime: Runtime = request.app.state.runtime
    cursor = request.query_params.get("cursor") or None
    rows, next_cursor = await runtime.monitors.find(
        session.account_id, tags={}, cursor=cursor, limit=PAGE_SIZE
    )
    now = runtime.clock.now()
    items = [_item(row, now) for row in rows]
    context: dict[str, Any] = {
        "items": items,
        "next_cursor": next_cursor,
        "form": {},
        "form_error": None,
    }
    return page(request, "monitors.html", session, context)


def _item(row: rules.MonitorRow, now: Any) -> dict[str, Any]:
    return {
        "row": row,
        "state": rules.monitor_state(row, now).value,
        "problem": rules.monitor_problem(row, now),
        "expectation": rules.describe_expectation(row),
        "late_after": rules.late_after(row),
        "running_since": rules.running_since(row),
    }


@router.post("/monitors")
async def create_monitor(request: Request, session: SessionDep) -> Response:
    """The create form: validated as the API's ``POST /v1/monitors`` is; a refusal shows the
    form again with its message and what was typed."""
    await check_action(request, session)
    fields = dict(await form_items(request))
    body: dict[str, Any] = {
        key: fields[key].strip() for key in FORM_FIELDS if fields.get(key, "").strip()
    }
    runtime: Runtime = request.app.state.runtime
    try:
        spec = runtime.monitors.parse(body)
        row = await runtime.monitors.create(session.account_id, spec, actor=_actor(session))
    except ChronosError as exc:  # a refusal: show it with the form
        message = _refusal(exc)
        rows, next_cursor = await runtime.monitors.find(
            session.account_id, tags={}, cursor=None, limit=PAGE_SIZE
        )
        now = runtime.clock.now()
        context = {
            "items": [_item(r, now) for r in rows],
            "next_cursor": next_cursor,
            "form": fields,
            "form_error": message,
        }
        return page(request, "monitors.html", session, context, status_code=exc.status)
    return RedirectResponse(f"/monitors/{row['id']}", status_code=303)


@router.get("/monitors/{monitor}")
async def monitor_page(request: Request, monitor: str, session: SessionDep) -> Response:
    return await _monitor_page(request, session, monitor)


async def _monitor_page(
    request: Request,
    session: Session,
    monitor: str,
    *,
    form: dict[str, str] | None = None,
    form_error: str | None = None,
    status_code: int = 200,
) -> Response:
    runtime: Runtime = request.app.state.runtime
    detail = await runtime.monitors.detail(session.account_id, monitor, pings=PINGS_SHOWN)
    now = runtime.clock.now()
    row = detail.row
    urls = ping_urls(_base_url(request), row["ping_token"])
    cron = row["cron"] if row["cron"] and len(row["cron"].split()) == 5 else "0 2 * * *"
    context = {
        "item": _item(row, now),
        "form": form if form is not None else _form_of(row),
        "form_error": form_error,
        "pings": detail.pings,
        "urls": urls,
        "curl": {
            "ok": f"curl -fsS -m 10 --retry 3 {urls['ok']}",
            "start": f"curl -fsS -m 10 --retry 3 {urls['start']}",
            "fail": f"curl -fsS -m 10 --retry 3 {urls['fail']}",
            "crontab": (
                f"{cron} /usr/local/bin/backup.sh && curl -fsS -m 10 --retry 3 {urls['ok']}"
                f" || curl -fsS -m 10 --retry 3 {urls['fail']}"
            ),
        },
    }
    return page(request, "monitor.html", session, context, status_code=status_code)


def _form_of(row: rules.MonitorRow) -> dict[str, str]:
    """The edit form's fields, filled with the monitor's configuration."""

    def text(value: Any) -> str:
        return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    return {
        "name": row["name"],
        "description": text(row["description"]),
        "cron": text(row["cron"]),
        "interval": text(row["interval_seconds"]),
        "timezone": row["timezone"],
        "grace": text(row["grace_seconds"]),
        "max_runtime": text(row["max_runtime_seconds"]),
    }


def _refusal(exc: ChronosError) -> str:
    """A refusal's message, with the first field-level detail when there is one."""
    if isinstance(exc.details, list) and exc.details:
        first = exc.details[0]
        return f"{'.'.join(first.get('loc', []))}: {first.get('message', '')}"
    return exc.message


@router.post("/monitors/{monitor}/edit")
async def edit_monitor(request: Request, monitor: str, session: SessionDep) -> Response:
    """The edit form: a PATCH of every field it shows (an empty field clears it, or takes
    its default); a refusal shows the page again with the message and what was typed."""
    await check_action(request, session)
    fields = dict(await form_items(request))
    patch: dict[str, Any] = {key: fields.get(key, "").strip() or None for key in FORM_FIELDS}
    runtime: Runtime = request.app.state.runtime
    try:
        row = await runtime.monitors.patch(
            session.account_id, monitor, patch, actor=_actor(session)
        )
    except ChronosError as exc:
        if exc.status == 404:
            raise
        return await _monitor_page(
            request,
            session,
            monitor,
            form=fields,
            form_error=_refusal(exc),
            status_code=exc.status,
        )
    return RedirectResponse(f"/monitors/{row['id']}", status_code=303)


ACTIONS = ("pause", "resume", "rotate-token", "delete")


@router.post("/monitors/{monitor}/{action}")
async def monitor_action(
    request: Request, monitor: str, action: str, session: SessionDep
) -> Response:
    await check_action(request, session)
    if action not in ACTIONS:
        raise BadRequest(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
    runtime: Runtime = request.app.state.runtime
    actor, account_id = _actor(session), session.account_id
    if action == "delete":
        await runtime.monitors.delete(account_id, monitor, actor=actor)
        return RedirectResponse("/monitors", status_code=303)
    if action == "rotate-token":
        row = await runtime.monitors.rotate_token(account_id, monitor, actor=actor)
    else:
        enabled = action == "resume"
        row = await runtime.monitors.set_enabled(account_id, monitor, enabled, actor=actor)
    return RedirectResponse(f"/monitors/{row['id']}", status_code=303)
