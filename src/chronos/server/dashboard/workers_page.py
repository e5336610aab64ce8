"""``/workers``: the pull workers polling this account (handlers, when they were seen, the jobs
each is running) and the push targets of the last hour (success rate, latency) — the same
``runtime.workers.activity`` as ``GET /v1/workers``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from chronos.server.dashboard.auth import SessionDep
from chronos.server.dashboard.render import page
from chronos.server.dashboard.routing import DashboardRoute
from chronos.server.domain.thresholds import WORKER_ALIVE_SECONDS
from chronos.server.runtime import Runtime
from chronos.server.services.workers import PUSH_SAMPLE_LIMIT, WORKERS_SEEN_WITHIN

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

WORKERS_SHOWN = 100


@router.get("/workers")
async def workers_page(request: Request, session: SessionDep) -> Response:
    runtime: Runtime = request.app.state.runtime
    view = await runtime.workers.activity(session.account_id, limit=WORKERS_SHOWN)
    context = {
        "view": view,
        "seen_minutes": int(WORKERS_SEEN_WITHIN.total_seconds() // 60),
        "alive_seconds": int(WORKER_ALIVE_SECONDS),
        "sample_limit": PUSH_SAMPLE_LIMIT,
    }
    return page(request, "workers.html", session, context)
