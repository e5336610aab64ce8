"""``/alerts``: the account's open alerts, the alert history and the alert rules — the same
``runtime.alerts`` as ``GET /v1/alerts`` and ``GET /v1/alert-rules``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from chronos.server.dashboard.auth import SessionDep
from chronos.server.dashboard.render import page
from chronos.server.dashboard.routing import DashboardRoute
from chronos.server.domain.alerts import AlertStatus
from chronos.server.runtime import Runtime
from chronos.server.services.alerts import AlertFilter

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

SHOWN = 50


@router.get("/alerts")
async def alerts_page(request: Request, session: SessionDep) -> Response:
    runtime: Runtime = request.app.state.runtime
    account_id = session.account_id
    cursor = request.query_params.get("cursor") or None
    firing, _ = await runtime.alerts.history(
        account_id, AlertFilter(status=AlertStatus.FIRING), cursor=None, limit=SHOWN
    )
    pending, _ = await runtime.alerts.history(
        account_id, AlertFilter(status=AlertStatus.PENDING), cursor=None, limit=SHOWN
    )
    history, next_cursor = await runtime.alerts.history(
        account_id, AlertFilter(), cursor=cursor, limit=SHOWN
    )
    rules, _ = await runtime.alerts.rules(account_id, cursor=None, limit=200)
    context = {
        "open_alerts": firing + pending,
        "history": history,
        "next_cursor": next_cursor,
        "rules": rules,
    }
    return page(request, "alerts.html", session, context)
