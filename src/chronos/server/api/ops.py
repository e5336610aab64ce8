"""Liveness and readiness, without authentication; metrics, behind ``CHRONOS_METRICS_TOKEN``
when it is set."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from chronos.server import metrics
from chronos.server.api.deps import RuntimeDep
from chronos.server.api.guard import bearer_token, error_response
from chronos.server.services.stats import queue_stats

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _metrics_allowed(request: Request, expected: str | None) -> bool:
    if not expected:
        return True
    token = bearer_token(request.headers)
    return token is not None and hmac.compare_digest(
        token.encode("utf-8"), expected.encode("utf-8")
    )


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(request: Request, runtime: RuntimeDep) -> Response:
    settings = runtime.settings
    if not _metrics_allowed(request, settings.metrics_token):
        response = error_response(
            401, "unauthorized", "send 'Authorization: Bearer <CHRONOS_METRICS_TOKEN>'"
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    stats = await queue_stats(runtime.db, runtime.clock, max_handlers=settings.metrics_max_handlers)
    return Response(metrics.exposition(stats), media_type=CONTENT_TYPE_LATEST)


@router.get("/ready", response_model=None)
async def ready(runtime: RuntimeDep) -> dict[str, str] | JSONResponse:
    if runtime.notifier.shutting_down.is_set():
        return JSONResponse(
            {"error": {"code": "not_ready", "message": "this node is shutting down"}},
            status_code=503,
        )
    failing = runtime.supervisor.failing()
    if failing:
        names = ", ".join(sorted(failing))
        noun = "service" if len(failing) == 1 else "services"
        return JSONResponse(
            {
                "error": {
                    "code": "not_ready",
                    "message": f"background {noun} failing: {names}",
                    "details": {"failing_services": failing},
                }
            },
            status_code=503,
        )
    if await runtime.db.ping():
        return {"status": "ready", "database": "ok"}
    return JSONResponse(
        {"error": {"code": "not_ready", "message": "the database is unreachable"}},
        status_code=503,
    )
