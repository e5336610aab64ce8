"""Backfills: ``POST /v1/schedules/{id or name}/backfill`` runs a past range's slots exactly
once; ``GET /v1/schedules/{id or name}/backfills``, ``GET /v1/backfills/{id}`` and
``POST /v1/backfills/{id}/cancel`` follow and stop it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import Field

from chronos.server.api.deps import AccountId, ActorDep, Limit, RuntimeDep, check_reason
from chronos.server.api.presenters import page_out
from chronos.server.api.responses import SafeRoute
from chronos.server.domain.backfill import Overlap
from chronos.server.domain.timing import iso
from chronos.server.schemas import Instant, Strict
from chronos.server.services.backfills import BackfillView

router = APIRouter(tags=["backfills"], route_class=SafeRoute)


class BackfillIn(Strict):
    start: Instant = Field(alias="from", description="RFC 3339; the range's first instant")
    end: Instant = Field(alias="to", description="RFC 3339, not in the future; inclusive")
    overlap: Literal["skip", "rerun"] = Field(
        default="skip",
        description="skip: slots with a job are left alone; rerun: finished ones run again",
    )
    reason: str | None = Field(default=None, max_length=500, description="for the audit log")


def backfill_out(view: BackfillView) -> dict[str, Any]:
    row = view.row
    return {
        "id": row["id"],
        "schedule_id": row["schedule_id"],
        "from": iso(row["range_start"]),
        "to": iso(row["range_end"]),
        "overlap": row["overlap"],
        "status": view.status.value,
        "created": row["created"],
        "rerun": row["rerun"],
        "skipped_existing": row["skipped_existing"],
        "in_flight": row["in_flight"],
        "excluded": row["excluded"],
        "jobs": view.jobs,
        "actor": {"key_id": row["actor_key_id"], "name": row["actor"]},
        "reason": row["reason"],
        "created_at": iso(row["created_at"]),
        "canceled_at": iso(row["canceled_at"]),
    }


@router.post("/v1/schedules/{schedule}/backfill", status_code=201)
async def create_backfill(
    schedule: str,
    account_id: AccountId,
    actor: ActorDep,
    runtime: RuntimeDep,
    body: Annotated[BackfillIn, Body()],
) -> dict[str, Any]:
    """Create the jobs of the schedule's slots in ``[from, to]`` that have none (``trigger:
    "backfill"``), planned by its current configuration; calendar-excluded slots are left out.
    A slot that already has a job (fired, or backfilled before) is never created again;
    ``overlap: "rerun"`` runs finished ones again as a retry of that job. At most
    10,000 slots (422 ``too_many_slots`` names where to cut the range)."""
    if body.reason is not None:
        actor = actor.with_reason(check_reason(body.reason))
    view = await runtime.backfills.create(
        account_id, schedule, body.start, body.end, Overlap(body.overlap), actor=actor
    )
    return backfill_out(view)


@router.get("/v1/schedules/{schedule}/backfills")
async def list_backfills(
    schedule: str,
    account_id: AccountId,
    runtime: RuntimeDep,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """The schedule's backfills, newest first, each with its jobs by status."""
    views, next_cursor = await runtime.backfills.find(
        account_id, schedule, cursor=cursor, limit=limit
    )
    return page_out([backfill_out(v) for v in views], next_cursor)


@router.get("/v1/backfills/{backfill_id}")
async def get_backfill(
    backfill_id: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    return backfill_out(await runtime.backfills.get(account_id, backfill_id))


@router.post("/v1/backfills/{backfill_id}/cancel")
async def cancel_backfill(
    backfill_id: str, account_id: AccountId, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Cancel the backfill's jobs that have not started (pending, ready, queued), in one
    transaction; running ones finish. ``canceled_jobs``: how many this call canceled."""
    done = await runtime.backfills.cancel(account_id, backfill_id, actor=actor)
    return {**backfill_out(done.view), "canceled_jobs": done.canceled}
