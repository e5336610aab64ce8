"""The dashboard's route class: every failure becomes an HTML answer, never JSON or a 500 page.

- no session: pages redirect to ``/login?next=…``; htmx requests get ``HX-Redirect``;
- a refused action (CSRF, origin): 403 with a message in the page's flash area;
- a service error (not found, invalid state, validation): its message, with its status, in
  the flash area for htmx requests, or as an error page;
- bad query parameters: 400, the same way.

Every answer carries :data:`SECURITY_HEADERS` (a strict Content-Security-Policy and friends).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chronos.errors import ChronosError
from chronos.server.dashboard.auth import LoginRequired, Refused, current_session
from chronos.server.dashboard.render import flash, page
from chronos.server.errors import from_store_error
from chronos.server.schemas import error_details
from chronos.server.store.errors import StoreError

log = logging.getLogger("chronos.dashboard")


# Every dashboard answer: scripts only from this origin (no inline script, no eval: htmx runs
# with allowEval off), no framing (clickjacking), no MIME sniffing, no referrer to elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


class DashboardRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            response = await _answer(request)
            response.headers.update(SECURITY_HEADERS)
            return response

        async def _answer(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return _to_login(request)
            except Refused as exc:
                return await _problem(request, 403, exc.message)
            except ChronosError as exc:
                return await _problem(request, exc.status, exc.message)
            except StoreError as exc:
                error = from_store_error(exc)
                return await _problem(request, error.status, error.message)
            except RequestValidationError as exc:
                details = error_details(exc.errors())
                where = ".".join(p for p in details[0]["loc"] if p != "query") if details else ""
                message = f"{where}: {details[0]['message']}" if details else "invalid request"
                return await _problem(request, 400, message)

        return answer


def _to_login(request: Request) -> Response:
    """To the login page, and back afterwards: to this page, or — for an action, which a GET
    cannot repeat — to the page the action was sent from."""
    if request.method == "GET":
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
    else:
        referer = urlsplit(request.headers.get("referer", ""))
        same_site = referer.netloc == request.headers.get("host")
        target = referer.path + (f"?{referer.query}" if referer.query else "") if same_site else "/"
        target = target or "/"
    location = "/login" if target == "/" else f"/login?next={quote(target, safe='')}"
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


async def _problem(request: Request, status: int, message: str) -> Response:
    if is_htmx(request):
        return flash(message, status_code=status)
    session = await current_session(request)
    return page(
        request, "error.html", session, {"status": status, "message": message}, status_code=status
    )
