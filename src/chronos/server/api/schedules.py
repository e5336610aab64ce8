"""/v1/schedules: create, upsert, read, change, pause, trigger, upcoming, versions.

Thin: each route parses its input, calls one ``ScheduleService`` method and presents it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from chronos.server.api.deps import (
    AccountId,
    ActorDep,
    Limit,
    RuntimeDep,
    check_reason,
    tag_filters,
)
from chronos.server.api.presenters import (
    job_out,
    page_out,
    preview_timing_out,
    recent_run_out,
    schedule_event_out,
    schedule_out,
    schedule_run_out,
    schedule_version_out,
    slot_out,
)
from chronos.server.api.responses import SafeJSONResponse, SafeRoute
from chronos.server.domain.audit import Actor
from chronos.server.domain.states import ScheduleState
from chronos.server.domain.timing import iso
from chronos.server.errors import BadRequest
from chronos.server.normalize import normalize_schedule
from chronos.server.schemas import Instant, PauseIn, ReasonIn, ScheduleIn
from chronos.server.services.schedules import (
    MAX_RECENT_RUN_SCHEDULES,
    ScheduleFilter,
    ScheduleView,
)

router = APIRouter(prefix="/v1/schedules", tags=["schedules"], route_class=SafeRoute)

JSONBody = Annotated[dict[str, Any], Body()]
MAX_SEARCH_LENGTH = 200


def _out(view: ScheduleView) -> dict[str, Any]:
    return schedule_out(view.row, view.counts, view.paused)


@router.post("", status_code=201)
async def create_schedule(
    body: ScheduleIn, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    spec = normalize_schedule(
        body,
        max_payload_bytes=runtime.settings.max_payload_bytes,
        max_push_timeout=runtime.settings.push_max_timeout_seconds,
    )
    return _out(await runtime.schedules.create(account_id, spec, actor=actor))


@router.post("/preview")
async def preview_schedule(
    body: ScheduleIn,
    account_id: AccountId,
    runtime: RuntimeDep,
    count: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """An unsaved schedule's next ``count`` fires (UTC and in its timezone), its timing in
    words and DST warnings; nothing is stored. The body is validated as a create's is, by the
    same code, so a body a create would refuse gets the very same error. Slots the calendars
    it names exclude are left out."""
    preview = await runtime.schedules.preview(body, count, account_id)
    return {
        "data": [iso(t) for t in preview.fires],
        "local": [t.isoformat() for t in preview.local],
        "timezone": preview.timezone,
        "description": preview.description,
        "warnings": [
            {"code": w.code, "message": w.message, "local_date": w.local_date}
            for w in preview.warnings
        ],
        **preview_timing_out(preview),
    }


@router.put("/{name}", responses={201: {"description": "Created"}})
async def upsert_schedule(
    name: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep, data: JSONBody
) -> Response:
    """Create or update by name: 201 created, 200 updated or unchanged (no new version)."""
    view, created = await runtime.schedules.upsert(account_id, name, data, actor=actor)
    return SafeJSONResponse(_out(view), status_code=201 if created else 200)


@router.get("")
async def list_schedules(
    request: Request,
    account_id: AccountId,
    runtime: RuntimeDep,
    state: ScheduleState | None = None,
    handler: str | None = None,
    search: Annotated[str | None, Query(max_length=MAX_SEARCH_LENGTH)] = None,
    include: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """``search``: a case-insensitive substring of the name. ``include=recent_runs`` adds each
    schedule's last 30 jobs (id, status, slot; oldest first) for pages of at most 100."""
    with_runs = _includes(include, limit)
    where = ScheduleFilter(
        state=state, handler=handler, tags=tag_filters(request), search=search or None
    )
    views, next_cursor = await runtime.schedules.find(account_id, where, cursor=cursor, limit=limit)
    items = [_out(v) for v in views]
    if with_runs:
        runs = await runtime.schedules.recent_runs(account_id, [v.row["id"] for v in views])
        for item in items:
            item["recent_runs"] = [recent_run_out(r) for r in runs[item["id"]]]
    return page_out(items, next_cursor)


def _includes(include: str | None, limit: int) -> bool:
    """Whether ``include`` asks for ``recent_runs`` (the only extra a list can include)."""
    names = {name.strip() for name in (include or "").split(",") if name.strip()}
    if names - {"recent_runs"}:
        raise BadRequest(
            f"include: unknown {sorted(names - {'recent_runs'})}; the only one is recent_runs",
            code="invalid_filter",
        )
    if names and limit > MAX_RECENT_RUN_SCHEDULES:
        raise BadRequest(
            f"include=recent_runs allows limit up to {MAX_RECENT_RUN_SCHEDULES}",
            code="invalid_filter",
        )
    return bool(names)


@router.get("/{schedule}")
async def get_schedule(schedule: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    return _out(await runtime.schedules.get(account_id, schedule))


@router.patch("/{schedule}")
async def patch_schedule(
    schedule: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep, data: JSONBody
) -> dict[str, Any]:
    return _out(await runtime.schedules.patch(account_id, schedule, data, actor=actor))


@router.delete("/{schedule}", status_code=204)
async def delete_schedule(
    schedule: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> Response:
    """The audit log's reason comes from the ``X-Chronos-Reason`` header (no body here)."""
    await runtime.schedules.delete(account_id, schedule, actor=actor)
    return Response(status_code=204)


def _with_reason(actor: Actor, body: ReasonIn | PauseIn | None) -> Actor:
    """The actor with the body's ``reason`` (it wins over ``X-Chronos-Reason``)."""
    if body is None or body.reason is None:
        return actor
    return actor.with_reason(check_reason(body.reason))


@router.post("/{schedule}/pause")
async def pause_schedule(
    schedule: str,
    account_id: AccountId,
    actor: ActorDep,
    runtime: RuntimeDep,
    body: Annotated[PauseIn | None, Body()] = None,
) -> dict[str, Any]:
    """Pause; an optional ``{"note": "why"}`` is kept and shown with the paused schedule (and
    is the audit log's reason; ``reason`` or ``X-Chronos-Reason`` when there is no note)."""
    note = body.note if body is not None else None
    view = await runtime.schedules.set_state(
        account_id, schedule, ScheduleState.PAUSED, actor=_with_reason(actor, body), note=note
    )
    return _out(view)


@router.post("/{schedule}/resume")
async def resume_schedule(
    schedule: str,
    account_id: AccountId,
    actor: ActorDep,
    runtime: RuntimeDep,
    body: Annotated[ReasonIn | None, Body()] = None,
) -> dict[str, Any]:
    """Resume; an optional ``{"reason": "why"}`` goes to the audit log."""
    view = await runtime.schedules.set_state(
        account_id, schedule, None, actor=_with_reason(actor, body)
    )
    return _out(view)


@router.post("/{schedule}/enable")
async def enable_schedule(
    schedule: str,
    account_id: AccountId,
    actor: ActorDep,
    runtime: RuntimeDep,
    body: Annotated[ReasonIn | None, Body()] = None,
) -> dict[str, Any]:
    view = await runtime.schedules.set_state(
        account_id, schedule, ScheduleState.ENABLED, actor=_with_reason(actor, body)
    )
    return _out(view)


@router.post("/{schedule}/disable")
async def disable_schedule(
    schedule: str,
    account_id: AccountId,
    actor: ActorDep,
    runtime: RuntimeDep,
    body: Annotated[ReasonIn | None, Body()] = None,
) -> dict[str, Any]:
    view = await runtime.schedules.set_state(
        account_id, schedule, ScheduleState.DISABLED, actor=_with_reason(actor, body)
    )
    return _out(view)


@router.post("/{schedule}/trigger", status_code=201)
async def trigger_schedule(
    schedule: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Run now, whatever the schedule's state: a one-off job with ``trigger: "manual"``."""
    return job_out(await runtime.schedules.trigger(account_id, schedule, actor=actor))


@router.get("/{schedule}/events")
async def list_events(
    schedule: str,
    account_id: AccountId,
    runtime: RuntimeDep,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Who created, changed, paused, resumed or triggered the schedule, and when (newest
    first); a pause carries its note."""
    events = await runtime.schedules.events(account_id, schedule, limit=limit)
    return page_out([schedule_event_out(e) for e in events], None)


@router.get("/{schedule}/upcoming")
async def upcoming_fires(
    schedule: str,
    account_id: AccountId,
    runtime: RuntimeDep,
    count: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> dict[str, Any]:
    times = await runtime.schedules.upcoming(account_id, schedule, count)
    return {"data": [iso(t) for t in times]}


@router.get("/{schedule}/versions")
async def list_versions(
    schedule: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Every configuration the schedule has had, newest first."""
    versions = await runtime.schedules.versions(account_id, schedule)
    return page_out([schedule_version_out(v) for v in versions], None)


@router.get("/{schedule}/versions/{version}")
async def get_version(
    schedule: str, version: int, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    return schedule_version_out(await runtime.schedules.version(account_id, schedule, version))


@router.post("/{schedule}/rollback/{version}")
async def rollback(
    schedule: str, version: int, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Restore version ``version``'s configuration as a new version (no-op if identical)."""
    view = await runtime.schedules.rollback(account_id, schedule, version, actor=actor)
    return _out(view)


@router.get("/{schedule}/slots")
async def list_slots(
    schedule: str,
    account_id: AccountId,
    runtime: RuntimeDep,
    start: Annotated[Instant | None, Query(alias="from")] = None,
    end: Annotated[Instant | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """Expected vs actual: each slot planned in ``[from, to]`` (RFC 3339; default the last
    24 hours, at most 31 days) — on_time, late, skipped, paused, disabled, due, missed (with
    the reason), unknown (its job may have been pruned) or fired (a job off the plan) — oldest
    first. At most 1,000: ``truncated`` says earlier ones were left out (ask again with
    ``to`` = the first slot's ``at``)."""
    ledger = await runtime.schedules.slots(
        account_id, schedule, start, end, retention_seconds=runtime.settings.retention_seconds
    )
    return {"data": [slot_out(s) for s in ledger.slots], "truncated": ledger.truncated}


@router.get("/{schedule}/runs")
async def list_runs(
    schedule: str,
    account_id: AccountId,
    runtime: RuntimeDep,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """The schedule's jobs (fired and run by hand), newest first, each with its latest
    execution (``last_execution``: status, ``duration_ms``, worker; null before a claim)."""
    runs, next_cursor = await runtime.schedules.runs(
        account_id, schedule, cursor=cursor, limit=limit
    )
    return page_out([schedule_run_out(r.job, r.execution) for r in runs], next_cursor)
