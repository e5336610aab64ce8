"""/v1/schedules: create, upsert, read, change, pause, trigger, upcoming."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server import metrics
from chronos.server.api.deps import AccountId, Limit, RuntimeDep, tag_filters
from chronos.server.api.presenters import (
    job_out,
    page_out,
    schedule_out,
    schedule_version_out,
)
from chronos.server.engine.admission import admitted_status, job_row_from_schedule
from chronos.server.engine.states import ScheduleState, Trigger
from chronos.server.engine.timing import upcoming
from chronos.server.errors import NameConflict, NotFound, ValidationFailed
from chronos.server.ids import new_id
from chronos.server.runtime import Runtime
from chronos.server.schemas import (
    ScheduleIn,
    first_run_at,
    iso,
    normalize_schedule,
    schedule_trigger,
    schedule_window,
    validation_details,
)
from chronos.server.store import jobs as job_store
from chronos.server.store import schedules as schedule_store

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])

# Keys that say "when" / "how delivered": a PATCH giving one replaces the group.
_EXCLUSIVE_GROUPS = (
    ("cron", "interval", "schedule"),
    ("delivery", "webhook"),
)


def _next_run_at(
    spec: dict[str, Any], state: str, created_at: datetime, now: datetime
) -> datetime | None:
    if state != ScheduleState.ENABLED:
        return None
    return first_run_at(spec, created_at, now)


async def _load(
    conn: AsyncConnection, account_id: str, id_or_name: str, *, for_update: bool = False
) -> dict[str, Any]:
    row = await schedule_store.schedule_get(conn, account_id, id_or_name, for_update=for_update)
    if row is None:
        raise NotFound(f"no schedule {id_or_name!r}")
    return row


def _new_row(account_id: str, spec: dict[str, Any], now: datetime) -> dict[str, Any]:
    state = ScheduleState.ENABLED if spec["enabled"] else ScheduleState.DISABLED
    return {
        "id": new_id("sch"),
        "account_id": account_id,
        "name": spec["name"],
        "handler": spec["handler"],
        "tags": spec["tags"],
        "spec": spec,
        "state": state.value,
        "next_run_at": _next_run_at(spec, state, now, now),
        "last_run_at": None,
        "last_status": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


async def _insert(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """A new schedule and its version 1."""
    await schedule_store.schedule_insert(conn, row)
    await schedule_store.schedule_version_insert(
        conn, row["id"], row["version"], row["spec"], row["created_at"]
    )


async def _apply_spec(
    conn: AsyncConnection, row: dict[str, Any], spec: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Store a changed spec as the schedule's next version; recompute its next run."""
    state = row["state"]
    if spec["enabled"] != row["spec"]["enabled"]:
        state = ScheduleState.ENABLED.value if spec["enabled"] else ScheduleState.DISABLED.value
    values = {
        "name": spec["name"],
        "handler": spec["handler"],
        "tags": spec["tags"],
        "spec": spec,
        "state": state,
        "next_run_at": _next_run_at(spec, state, row["created_at"], now),
        "version": row["version"] + 1,
        "updated_at": now,
    }
    try:
        async with conn.begin_nested():
            await schedule_store.schedule_update(conn, row["id"], values)
    except IntegrityError as exc:  # the only constraint a change can break is the name's
        raise NameConflict(f"a schedule named {spec['name']!r} already exists") from exc
    await schedule_store.schedule_version_insert(conn, row["id"], values["version"], spec, now)
    return {**row, **values}


def _validate(runtime: Runtime, data: Any) -> dict[str, Any]:
    try:
        body = ScheduleIn.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("invalid schedule", details=validation_details(exc)) from exc
    return normalize_schedule(body, max_payload_bytes=runtime.settings.max_payload_bytes)


async def _out(conn: AsyncConnection, row: dict[str, Any]) -> dict[str, Any]:
    rates = await schedule_store.schedule_success_rates(conn, [row["id"]])
    return schedule_out(row, rates.get(row["id"]))


@router.post("", status_code=201)
async def create_schedule(
    body: ScheduleIn, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    spec = normalize_schedule(body, max_payload_bytes=runtime.settings.max_payload_bytes)
    now = runtime.clock.now()
    row = _new_row(account_id, spec, now)
    async with runtime.db.transaction() as conn:
        await _insert(conn, row)
    runtime.notifier.schedules_changed()
    return schedule_out(row)


@router.put("/{name}")
async def upsert_schedule(
    name: str,
    response: Response,
    account_id: AccountId,
    runtime: RuntimeDep,
    data: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Create or update by name: 201 created, 200 updated or unchanged (no new version)."""
    if data.get("name", name) != name:
        raise ValidationFailed("the body's name differs from the name in the path")
    spec = _validate(runtime, {**data, "name": name})
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        row = await schedule_store.schedule_get(conn, account_id, name, for_update=True)
        if row is not None and row["name"] != name:
            row = None  # the path named an id; PUT works by name only
        if row is None:
            try:
                row = _new_row(account_id, spec, now)
                await _insert(conn, row)
                response.status_code = 201
            except NameConflict:
                # Another instance declared it at the same moment: update theirs instead.
                row = await _load(conn, account_id, name, for_update=True)
        if response.status_code != 201 and row["spec"] != spec:
            row = await _apply_spec(conn, row, spec, now)
        result = await _out(conn, row)
    runtime.notifier.schedules_changed()
    return result


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
    async with runtime.db.read() as conn:
        rows, next_cursor = await schedule_store.schedule_list(
            conn,
            account_id,
            state=state.value if state else None,
            handler=handler,
            tags=tag_filters(request),
            cursor=cursor,
            limit=limit,
        )
        rates = await schedule_store.schedule_success_rates(conn, [r["id"] for r in rows])
    return page_out([schedule_out(r, rates.get(r["id"])) for r in rows], next_cursor)


@router.get("/{schedule}")
async def get_schedule(schedule: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.db.read() as conn:
        return await _out(conn, await _load(conn, account_id, schedule))


@router.patch("/{schedule}")
async def patch_schedule(
    schedule: str,
    account_id: AccountId,
    runtime: RuntimeDep,
    data: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        row = await _load(conn, account_id, schedule, for_update=True)
        base = {k: v for k, v in row["spec"].items() if v is not None}
        for group in _EXCLUSIVE_GROUPS:
            if any(key in data for key in group):
                for key in group:
                    base.pop(key, None)
        # max_retries and retry_policy are kept apart (patching one keeps the other), except
        # that a new retry_policy.max_attempts replaces max_retries.
        policy = data.get("retry_policy")
        if isinstance(policy, dict) and policy.get("max_attempts") is not None:
            base.pop("max_retries", None)
        spec = _validate(runtime, {**base, **data})
        if spec != row["spec"]:
            row = await _apply_spec(conn, row, spec, now)
        result = await _out(conn, row)
    runtime.notifier.schedules_changed()
    return result


@router.delete("/{schedule}", status_code=204)
async def delete_schedule(schedule: str, account_id: AccountId, runtime: RuntimeDep) -> Response:
    async with runtime.db.transaction() as conn:
        row = await _load(conn, account_id, schedule)
        await schedule_store.schedule_delete(conn, account_id, row["id"])
    return Response(status_code=204)


async def _set_state(
    schedule: str,
    account_id: str,
    runtime: Runtime,
    target: ScheduleState | Callable[[dict[str, Any]], ScheduleState],
) -> dict[str, Any]:
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        row = await _load(conn, account_id, schedule, for_update=True)
        state = target(row) if callable(target) else target
        spec = dict(row["spec"])
        if state in (ScheduleState.ENABLED, ScheduleState.DISABLED):
            spec["enabled"] = state is ScheduleState.ENABLED
        if row["state"] != state.value or spec != row["spec"]:
            values = {
                "state": state.value,
                "spec": spec,
                # Slots missed while paused or disabled are not caught up: counting restarts now.
                "next_run_at": _next_run_at(spec, state, row["created_at"], now),
                "updated_at": now,
            }
            if spec != row["spec"]:
                values["version"] = row["version"] + 1
                await schedule_store.schedule_version_insert(
                    conn, row["id"], values["version"], spec, now
                )
            await schedule_store.schedule_update(conn, row["id"], values)
            row = {**row, **values}
        result = await _out(conn, row)
    runtime.notifier.schedules_changed()
    return result


@router.post("/{schedule}/pause")
async def pause_schedule(
    schedule: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    return await _set_state(schedule, account_id, runtime, ScheduleState.PAUSED)


@router.post("/{schedule}/resume")
async def resume_schedule(
    schedule: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    def unpaused(row: dict[str, Any]) -> ScheduleState:
        return ScheduleState.ENABLED if row["spec"]["enabled"] else ScheduleState.DISABLED

    return await _set_state(schedule, account_id, runtime, unpaused)


@router.post("/{schedule}/enable")
async def enable_schedule(
    schedule: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    return await _set_state(schedule, account_id, runtime, ScheduleState.ENABLED)


@router.post("/{schedule}/disable")
async def disable_schedule(
    schedule: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    return await _set_state(schedule, account_id, runtime, ScheduleState.DISABLED)


@router.post("/{schedule}/trigger", status_code=201)
async def trigger_schedule(
    schedule: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Run now, whatever the schedule's state: a one-off job with ``trigger: "manual"``."""
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        row = await _load(conn, account_id, schedule)
        job = job_row_from_schedule(
            row, now, now, status=admitted_status(row["spec"]["delivery"]), trigger=Trigger.MANUAL
        )
        await job_store.job_insert_many(conn, [job])
    runtime.notifier.jobs_ready_many([job])
    metrics.JOBS_CREATED.labels("manual").inc()
    return job_out(job)


@router.get("/{schedule}/upcoming")
async def upcoming_fires(
    schedule: str,
    account_id: AccountId,
    runtime: RuntimeDep,
    count: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> dict[str, Any]:
    async with runtime.db.read() as conn:
        row = await _load(conn, account_id, schedule)
    if row["state"] != ScheduleState.ENABLED:
        return {"data": []}
    spec = row["spec"]
    now = runtime.clock.now()
    after = now
    if row["next_run_at"] is not None and row["next_run_at"] <= now:
        after = row["next_run_at"]  # due now, not yet fired: it is still upcoming
        times = [row["next_run_at"]]
        count -= 1
    else:
        times = []
    if count > 0:
        times += upcoming(
            schedule_trigger(spec, row["created_at"]), after, count, schedule_window(spec)
        )
    return {"data": [iso(t) for t in times]}


async def _version(conn: AsyncConnection, schedule_id: str, version: int) -> dict[str, Any]:
    # A number no INTEGER column can hold is no version either (and must not reach the query).
    row = None
    if 1 <= version <= 2**31 - 1:
        row = await schedule_store.schedule_version_get(conn, schedule_id, version)
    if row is None:
        raise NotFound(f"schedule has no version {version}", code="version_not_found")
    return row


@router.get("/{schedule}/versions")
async def list_versions(
    schedule: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Every configuration the schedule has had, newest first."""
    async with runtime.db.read() as conn:
        row = await _load(conn, account_id, schedule)
        versions = await schedule_store.schedule_version_list(conn, row["id"])
    return page_out([schedule_version_out(v) for v in versions], None)


@router.get("/{schedule}/versions/{version}")
async def get_version(
    schedule: str, version: int, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    async with runtime.db.read() as conn:
        row = await _load(conn, account_id, schedule)
        return schedule_version_out(await _version(conn, row["id"], version))


@router.post("/{schedule}/rollback/{version}")
async def rollback(
    schedule: str, version: int, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    """Restore version ``version``'s configuration as a new version (no-op if identical)."""
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        row = await _load(conn, account_id, schedule, for_update=True)
        old = await _version(conn, row["id"], version)
        # Re-validate: a configuration valid then is re-checked against today's rules.
        spec = _validate(runtime, {k: v for k, v in old["spec"].items() if v is not None})
        if spec != row["spec"]:
            row = await _apply_spec(conn, row, spec, now)
        result = await _out(conn, row)
    runtime.notifier.schedules_changed()
    return result
