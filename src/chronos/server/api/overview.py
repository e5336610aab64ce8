"""/v1/overview: the account at a glance (what the dashboard's home page shows)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from chronos.server.api.deps import AccountId, RuntimeDep
from chronos.server.api.responses import SafeRoute
from chronos.server.domain.timing import iso
from chronos.server.services.overview import Overview

router = APIRouter(prefix="/v1/overview", tags=["overview"], route_class=SafeRoute)


def overview_out(view: Overview) -> dict[str, Any]:
    return {
        "at": iso(view.now),
        "jobs_by_status": view.jobs_by_status,
        "schedules_by_state": view.schedules_by_state,
        "monitors_by_state": view.monitors_by_state,
        "windows": {
            label: {**asdict(stats), "success_rate": stats.success_rate}
            for label, stats in view.windows.items()
        },
        "waiting": [
            {
                "handler": item.handler,
                "count": item.count,
                "oldest_run_at": iso(item.oldest_run_at),
                "has_worker": item.has_worker,
            }
            for item in view.waiting
        ],
        "next_fires": [
            {"schedule_id": row["id"], "name": row["name"], "at": iso(row["next_run_at"])}
            for row in view.next_fires
        ],
        "attention": [asdict(item) for item in view.attention],
    }


@router.get("")
async def get_overview(account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """Jobs by status; fires, failures, success rate, late/missed/skipped in the last hour and
    day; jobs waiting with no worker; the next fires; what needs attention."""
    return overview_out(await runtime.overview.overview(account_id))
