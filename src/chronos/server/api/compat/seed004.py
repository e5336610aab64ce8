"""Seed 004's jobs API: a "job" is a Chronos schedule, addressed by name.

    GET/POST /api/v1/jobs, GET/PUT/DELETE /api/v1/jobs/{name}, /versions, /versions/{n},
    POST /rollback/{n}

The seed's job model (``schedule``, ``timezone``, ``webhook``, ``retry_policy``, ``timeout``,
``concurrency``, ``tags``, ``enabled``) is already a valid ``/v1`` schedule body, so bodies go
to the schedule service as they are; responses are re-shaped into the seed's model.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from chronos.server.api.deps import AccountId, ActorDep, Limit, RuntimeDep, tag_filters
from chronos.server.api.presenters import page_out, retry_policy_out
from chronos.server.api.responses import SafeJSONResponse, SafeRoute
from chronos.server.domain.durations import CANONICAL_UNITS, format_seconds
from chronos.server.domain.rows import ScheduleRow, ScheduleSpec, ScheduleVersionRow
from chronos.server.domain.timing import iso
from chronos.server.services.schedules import ScheduleFilter, ScheduleView

router = APIRouter(prefix="/api/v1/jobs", tags=["compat: seed 004"], route_class=SafeRoute)

JSONBody = Annotated[dict[str, Any], Body()]


def _duration(seconds: float) -> str:
    """Seconds as the seed's duration string: 1800 -> "30m", 90 -> "90s"."""
    value = format_seconds(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if isinstance(value, int) and value and value % size == 0:
            return f"{value // size}{unit}"
    return f"{value}s"


def schedule_text(spec: ScheduleSpec) -> str:
    if spec["cron"] is not None:
        return spec["cron"]
    interval = spec["interval"] or {"value": 0, "unit": "second"}
    return f"@every {_duration(interval['value'] * CANONICAL_UNITS[interval['unit']])}"


def job_config_out(spec: ScheduleSpec) -> dict[str, Any]:
    http = spec["delivery"].get("http") if spec["delivery"]["type"] == "push" else None
    return {
        "name": spec["name"],
        "description": spec["description"],
        "schedule": schedule_text(spec),
        "timezone": spec["timezone"],
        "webhook": dict(http) if http else None,
        "handler": spec["handler"],
        "retry_policy": {
            k: _duration(v) if k.endswith("interval") else v
            for k, v in retry_policy_out(spec["retry_policy"], spec["max_retries"]).items()
        },
        "timeout": _duration(spec["timeout"]),
        "concurrency": spec["concurrency"],
        "tags": spec["tags"],
        "enabled": spec["enabled"],
    }


def job_out(row: ScheduleRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        **job_config_out(row["spec"]),
        "state": row["state"],
        "version": row["version"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "next_run": iso(row["next_run_at"]),
    }


def version_out(row: ScheduleVersionRow) -> dict[str, Any]:
    return {
        "version": row["version"],
        "created_at": iso(row["created_at"]),
        "job": job_config_out(row["spec"]),
    }


def _out(view: ScheduleView) -> dict[str, Any]:
    return job_out(view.row)


@router.get("")
async def list_jobs(
    request: Request,
    account_id: AccountId,
    runtime: RuntimeDep,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """``tag.<key>=<value>`` filters (all must match), as ``/v1/schedules``."""
    where = ScheduleFilter(tags=tag_filters(request))
    views, next_cursor = await runtime.schedules.find(account_id, where, cursor=cursor, limit=limit)
    return page_out([_out(v) for v in views], next_cursor)


@router.post("", status_code=201)
async def create_job(
    data: JSONBody, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    spec = runtime.schedules.parse(data)
    return _out(await runtime.schedules.create(account_id, spec, actor=actor))


@router.get("/{name}")
async def get_job(name: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    return _out(await runtime.schedules.get(account_id, name))


@router.put("/{name}", responses={201: {"description": "Created"}})
async def put_job(
    name: str, data: JSONBody, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> Response:
    """Create or replace by name (a new version when the configuration changes)."""
    view, created = await runtime.schedules.upsert(account_id, name, data, actor=actor)
    return SafeJSONResponse(_out(view), status_code=201 if created else 200)


@router.delete("/{name}", status_code=204)
async def delete_job(
    name: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> Response:
    await runtime.schedules.delete(account_id, name, actor=actor)
    return Response(status_code=204)


@router.get("/{name}/versions")
async def list_versions(name: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    versions = await runtime.schedules.versions(account_id, name)
    return page_out([version_out(v) for v in versions], None)


@router.get("/{name}/versions/{version}")
async def get_version(
    name: str, version: int, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    return version_out(await runtime.schedules.version(account_id, name, version))


@router.post("/{name}/rollback/{version}")
async def rollback(
    name: str, version: int, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    return _out(await runtime.schedules.rollback(account_id, name, version, actor=actor))
