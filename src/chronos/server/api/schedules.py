"""/v1/schedules: create, upsert, read, change, pause, trigger, upcoming, versions.

Thin: each route parses its input, calls one ``ScheduleService`` method and presents it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from chronos.server.api.deps import AccountId, Limit, RuntimeDep, tag_filters
from chronos.server.api.presenters import job_out, page_out, schedule_out, schedule_version_out
from chronos.server.api.responses import SafeJSONResponse, SafeRoute
from chronos.server.domain.states import ScheduleState
from chronos.server.domain.timing import iso
from chronos.server.normalize import normalize_schedule
from chronos.server.schemas import ScheduleIn
from chronos.server.services.schedules import ScheduleFilter, ScheduleView

router = APIRouter(prefix="/v1/schedules", tags=["schedules"], route_class=SafeRoute)

JSONBody = Annotated[dict[str, Any], Body()]


def _out(view: ScheduleView) -> dict[str, Any]:
    return schedule_out(view.row, view.counts)


@router.post("", status_code=201)
async def create_schedule(
    body: ScheduleIn, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    spec = normalize_schedule(
        body,
        max_payload_bytes=runtime.settings.max_payload_bytes,
        max_push_timeout=runtime.settings.push_max_timeout_seconds,
    )
    return _out(await runtime.schedules.create(account_id, spec))


@router.put("/{name}", responses={201: {"description": "Created"}})
async def upsert_schedule(
    name: str, account_id: AccountId, runtime: RuntimeDep, data: JSONBody
) -> Response:
    """Create or update by name: 201 created, 200 updated or unchanged (no new version)."""
    view, created = await runtime.schedules.upsert(account_id, name, data)
    return SafeJSONResponse(_out(view), status_code=201 if created else 200)


@router.get("")
async def list_schedules(
    request: Request,
    account_id: AccountId,
    runtime: RuntimeDep,
    state: ScheduleState | None = None,
    handler: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    where = ScheduleFilter(state=state, handler=handler, tags=tag_filters(request))
    views, next_cursor = await runtime.schedules.find(account_id, where, cursor=cursor, limit=limit)
    return page_out([_out(v) for v in views], next_cursor)


@router.get("/{schedule}")
async def get_schedule(schedule: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    return _out(await runtime.schedules.get(account_id, schedule))


@router.patch("/{schedule}")
async def patch_schedule(
    schedule: str, account_id: AccountId, runtime: RuntimeDep, data: JSONBody
) -> dict[str, Any]:
    return _out(await runtime.schedules.patch(account_id, schedule, data))


@router.delete("/{schedule}", status_code=204)
async def delete_schedule(schedule: str, account_id: AccountId, runtime: RuntimeDep) -> Response:
    await runtime.schedules.delete(account_id, schedule)
    return Response(status_code=204)


@router.post("/{schedule}/pause")
async def pause_schedule(
    schedule: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    return _out(await runtime.schedules.set_state(account_id, schedule, ScheduleState.PAUSED))


@router.post("/{schedule}/resume")
async def resume_schedule(
    schedule: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    return _out(await runtime.schedules.set_state(account_id, schedule, None))


@router.post("/{schedule}/enable")
async def enable_schedule(
    schedule: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    return _out(await runtime.schedules.set_state(account_id, schedule, ScheduleState.ENABLED))


@router.post("/{schedule}/disable")
async def disable_schedule(
    schedule: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    return _out(await runtime.schedules.set_state(account_id, schedule, ScheduleState.DISABLED))


@router.post("/{schedule}/trigger", status_code=201)
async def trigger_schedule(
    schedule: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Run now, whatever the schedule's state: a one-off job with ``trigger: "manual"``."""
    return job_out(await runtime.schedules.trigger(account_id, schedule))


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
    schedule: str, version: int, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Restore version ``version``'s configuration as a new version (no-op if identical)."""
    return _out(await runtime.schedules.rollback(account_id, schedule, version))
