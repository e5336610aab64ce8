"""``/``: the overview page."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from chronos.server.dashboard.auth import SessionDep
from chronos.server.dashboard.render import page
from chronos.server.dashboard.routing import DashboardRoute
from chronos.server.domain.states import JobStatus
from chronos.server.runtime import Runtime

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

# Every status a person waits on or looks back at (``admitting`` lasts one transaction).
STATUS_ORDER = tuple(s.value for s in JobStatus if s is not JobStatus.ADMITTING)


@router.get("/")
async def overview_page(request: Request, session: SessionDep) -> Response:
    runtime: Runtime = request.app.state.runtime
    view = await runtime.overview.overview(session.account_id)
    context = {
        "view": view,
        "statuses": STATUS_ORDER,
    }
    return page(request, "overview.html", session, context)
