"""The ASGI application: routers, the JSON error body, and the runtime's lifespan.

app = create_app(Runtime(Settings.from_env()))
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from chronos import __version__
from chronos.errors import ChronosError
from chronos.server import dashboard, telemetry
from chronos.server.api import (
    alerts,
    audit,
    backfills,
    calendars,
    jobs,
    keys,
    monitors,
    openapi,
    ops,
    overview,
    schedules,
    signing,
    worker,
    workers,
)
from chronos.server.api.compat import seed003, seed004
from chronos.server.api.deps import require_json_body
from chronos.server.api.guard import RequestGuard, error_response
from chronos.server.errors import RateLimited, from_store_error
from chronos.server.runtime import Runtime
from chronos.server.schemas import error_details
from chronos.server.store.errors import StoreError

log = logging.getLogger("chronos.api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Chronos",
        version=__version__,
        description="Scheduling service: cron, interval and one-off jobs, pull or push.",
        lifespan=lifespan,
        # /docs is served from the package (api/docs.py), not a CDN; ReDoc would need one.
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    json_only = [Depends(require_json_body)]
    if "api" in runtime.settings.roles:
        # Routes are matched in order: the hot paths (create, claim, results) come first.
        for module in (worker, jobs):
            app.include_router(module.router, dependencies=json_only)
    app.include_router(ops.router, dependencies=json_only)
    if "api" in runtime.settings.roles:
        for module in (keys, signing, schedules, overview, workers, audit, backfills):
            app.include_router(module.router, dependencies=json_only)
        app.include_router(monitors.router, dependencies=json_only)
        app.include_router(monitors.ping_router)  # pings take any body (curl -d, a log tail)
        app.include_router(calendars.router, dependencies=json_only)
        app.include_router(alerts.router, dependencies=json_only)
        app.include_router(seed003.router, dependencies=json_only)
        app.include_router(seed004.router, dependencies=json_only)
        dashboard.install(app)
    app.add_middleware(
        RequestGuard,
        limit=runtime.settings.max_body_bytes,
        read_timeout=runtime.settings.body_read_timeout_seconds,
    )
    telemetry.setup()  # OpenTelemetry, if the OTEL_* environment asks for it
    telemetry.install(app)
    _install_error_handlers(app)
    openapi.install(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ChronosError)
    async def chronos_error(_: Request, exc: ChronosError) -> JSONResponse:
        response = JSONResponse(exc.to_body(), status_code=exc.status)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        error = from_store_error(exc)
        return JSONResponse(error.to_body(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "invalid_json", "the request body is not valid JSON")
        details = error_details(errors)
        first = details[0] if details else {"loc": [], "message": "invalid request"}
        where = ".".join(p for p in first["loc"] if p != "body") or "request"
        return error_response(422, "validation_error", f"{where}: {first['message']}", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(SQLAlchemyTimeoutError)
    @app.exception_handler(OSError)
    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return error_response(
            503, "database_unavailable", "the database is unreachable; retry shortly"
        )

    @app.exception_handler(DBAPIError)
    async def database_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return error_response(
                503, "database_unavailable", "the database is unreachable; retry shortly"
            )
        log.exception("database error")
        return error_response(500, "internal_error", "internal error; see the server log")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        response = error_response(500, "internal_error", "internal error; see the server log")
        response.headers["Connection"] = "close"  # the server drops the connection after a 500
        return response
