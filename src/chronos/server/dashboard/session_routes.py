"""``/login`` and ``/logout``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chronos.server.dashboard.auth import (
    COOKIE,
    SESSION_SECONDS,
    check_action,
    check_origin,
    current_session,
    form,
    holder_for_key,
    require_session,
    safe_next,
    signer,
)
from chronos.server.dashboard.render import page
from chronos.server.dashboard.routing import DashboardRoute
from chronos.server.runtime import Runtime

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@router.get("/login")
async def login_page(request: Request) -> Response:
    if await current_session(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    context = {"next": safe_next(request.query_params.get("next")), "error": None}
    return page(request, "login.html", None, context)


@router.post("/login")
async def login(request: Request) -> Response:
    check_origin(request)
    fields = await form(request)
    target = safe_next(fields.get("next"))
    runtime: Runtime = request.app.state.runtime
    api_key = fields.get("api_key", "").strip()
    holder = await holder_for_key(runtime, api_key)
    if holder is None:
        error = "That API key is not valid here (it must be an admin key of this server)."
        return page(request, "login.html", None, {"next": target, "error": error}, status_code=401)
    sign = await signer(runtime)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        sign.cookie(api_key, int(runtime.clock.now().timestamp())),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = await require_session(request)
    await check_action(request, session)
    response = RedirectResponse("/login", status_code=303)
    response.headers["HX-Redirect"] = "/login"
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
    return response
