"""Signing in to the dashboard: the API key in a signed, HttpOnly, SameSite cookie.

The cookie holds the key itself (base64), when it was issued, and an HMAC-SHA256 over both
with the cluster's dashboard secret (``server_secrets``, made on first use, the same on every
node). Each request re-checks the signature, the age (:data:`SESSION_SECONDS`) and the key
(through the same cached lookup as the API), so a revoked key signs everyone out within the
key cache's second. Only ``admin`` keys may sign in.

Actions (every POST) must carry the session's CSRF token — derived from the cookie with the
same secret, sent by htmx as ``X-CSRF-Token`` or by a plain form as ``csrf`` — and, when the
browser sends an ``Origin``, come from this host.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

from fastapi import Depends
from starlette.requests import Request

from chronos.server.domain.rows import KeyHolder
from chronos.server.domain.states import KeyScope
from chronos.server.errors import BadRequest
from chronos.server.runtime import Runtime
from chronos.server.store import dashboard as dashboard_store

COOKIE = "chronos_session"
SESSION_SECONDS = 12 * 3600
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
SECRET_NAME = "dashboard_cookie"


class LoginRequired(Exception):
    """No valid session: pages redirect to the login page."""


class Refused(Exception):
    """A request the dashboard will not act on (bad CSRF token, foreign origin)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Session:
    holder: KeyHolder
    csrf: str

    @property
    def account_id(self) -> str:
        return self.holder["account_id"]


class Signer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()

    def cookie(self, api_key: str, issued_at: int) -> str:
        encoded = base64.urlsafe_b64encode(api_key.encode()).decode().rstrip("=")
        payload = f"{encoded}.{issued_at}"
        return f"{payload}.{self._mac(payload)}"

    def open(self, cookie: str, now: float) -> str | None:
        """The API key in a cookie this node's cluster signed and that has not expired."""
        payload, _, mac = cookie.rpartition(".")
        encoded, _, issued = payload.partition(".")
        if not payload or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        if not issued.isdigit() or not 0 <= now - int(issued) < SESSION_SECONDS:
            return None
        try:
            return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None

    def csrf(self, cookie: str) -> str:
        return self._mac(f"csrf:{cookie}")


async def signer(runtime: Runtime) -> Signer:
    """The cluster's cookie signer (its secret read from the database once per node)."""
    cached: Signer | None = getattr(runtime, "_dashboard_signer", None)
    if cached is None:
        async with runtime.db.transaction() as conn:
            secret = await dashboard_store.server_secret(conn, SECRET_NAME, runtime.clock.now())
        cached = Signer(secret.encode())
        runtime._dashboard_signer = cached  # type: ignore[attr-defined]
    return cached


async def holder_for_key(runtime: Runtime, api_key: str) -> KeyHolder | None:
    """Who may sign in with ``api_key``: an existing admin key."""
    if not api_key or len(api_key) > 200:
        return None
    holder = await runtime.accounts.authenticate(api_key)
    if holder is None or holder["scope"] != KeyScope.ADMIN:
        return None
    return holder


async def current_session(request: Request) -> Session | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    runtime: Runtime = request.app.state.runtime
    sign = await signer(runtime)
    api_key = sign.open(cookie, runtime.clock.now().timestamp())
    if api_key is None:
        return None
    holder = await holder_for_key(runtime, api_key)
    if holder is None:
        return None
    return Session(holder, sign.csrf(cookie))


async def require_session(request: Request) -> Session:
    session = await current_session(request)
    if session is None:
        raise LoginRequired
    return session


SessionDep = Annotated[Session, Depends(require_session)]


async def form(request: Request) -> dict[str, str]:
    """A URL-encoded form body (the only kind the dashboard posts). Repeated fields keep the
    last value; :func:`form_list` reads all of them."""
    return dict(await form_items(request))


async def form_items(request: Request) -> list[tuple[str, str]]:
    body = await request.body()
    try:
        items = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=2000)
    except (UnicodeDecodeError, ValueError) as exc:
        # Not UTF-8, or more fields than any dashboard form has: a bad request, not a refusal.
        raise BadRequest("the form could not be read (not UTF-8, or too many fields)") from exc
    # A form never passes through the API's JSON guard: refuse here what PostgreSQL cannot
    # store (or even compare with), whichever field it is in.
    if any("\x00" in key or "\x00" in value for key, value in items):
        raise BadRequest("NUL characters (\\u0000) are not allowed in a form")
    return items


async def check_action(request: Request, session: Session) -> None:
    """A state-changing request: same origin, and the session's CSRF token."""
    check_origin(request)
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        token = (await form(request)).get(CSRF_FIELD)
    if not token or not hmac.compare_digest(token, session.csrf):
        raise Refused("this action's security token is missing or stale; reload the page")


def check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or an old one: the CSRF token still has to match
        return
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        raise Refused("cross-site request refused")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
