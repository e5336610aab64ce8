"""Liveness and readiness, without authentication."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chronos.server.api.deps import RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/ready", response_model=None)
async def ready(runtime: RuntimeDep) -> dict[str, str] | JSONResponse:
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
