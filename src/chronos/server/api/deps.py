"""Request dependencies: the runtime, the caller's account, JSON body checks, list params."""

from __future__ import annotations

import contextlib
import re
from typing import Annotated

from fastapi import Depends, Query, Request

from chronos.server.api.guard import MISSING_KEY, bearer_token, scope_refusal
from chronos.server.domain.audit import Actor
from chronos.server.domain.rows import KeyHolder
from chronos.server.errors import BadRequest, Forbidden, Unauthorized, UnsupportedMediaType
from chronos.server.runtime import Runtime

TAG_KEY = re.compile(r"^[A-Za-z0-9_.\-/]{1,64}$")
MAX_TAG_FILTERS = 20


# Dependencies are ``async def`` even when they do not await: FastAPI runs a plain ``def``
# dependency in a thread pool, a thread hop (and a GIL hand-off) on every request.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def authenticate(request: Request) -> str:
    """The account id behind the Bearer key, or 401. Requests with a body were authenticated
    (and their key's scope checked) by the request guard before their body was read.

    Runs on every API request: it reads the ASGI scope directly (``request.url`` would build
    and parse a URL object) and takes the runtime from the app itself rather than through
    another dependency, which FastAPI would solve and cache per request."""
    scope = request.scope
    state = scope.setdefault("state", {})
    holder: KeyHolder | None = state.get("key_holder")
    runtime: Runtime = scope["app"].state.runtime
    if holder is None:
        token = bearer_token(request.headers)
        if token is None:
            raise Unauthorized(MISSING_KEY)
        holder = await runtime.accounts.authenticate(token)
        if holder is None:
            raise Unauthorized("invalid API key")
        refused = scope_refusal(holder, scope["path"])
        if refused is not None:
            raise Forbidden(refused)
        state["key_holder"] = holder
    if runtime.rate_limiter is not None:
        runtime.rate_limiter.check(holder["key_id"])
    return holder["account_id"]


async def key_holder(request: Request) -> KeyHolder:
    """The key of an authenticated request (declare after ``AccountId``)."""
    holder: KeyHolder = request.scope["state"]["key_holder"]
    return holder


AccountId = Annotated[str, Depends(authenticate)]
CallerKey = Annotated[KeyHolder, Depends(key_holder)]

REASON_HEADER = "x-chronos-reason"
MAX_REASON_LENGTH = 500


def check_reason(reason: str | None, *, field: str = "reason") -> str | None:
    """A change's reason as the audit log keeps it: trimmed, printable, at most 500 chars."""
    if reason is None:
        return None
    reason = reason.strip()
    unprintable = any((ch < " " and ch != "\t") or ch == "\x7f" for ch in reason)
    if len(reason) > MAX_REASON_LENGTH or unprintable:
        raise BadRequest(
            f"{field} must be at most {MAX_REASON_LENGTH} printable characters",
            details={"field": field},
        )
    return reason or None


async def change_actor(request: Request, key: CallerKey) -> Actor:
    """Who makes this change, and why (the ``X-Chronos-Reason`` header; an endpoint whose body
    has a ``reason`` field may replace it with :meth:`Actor` ``reason``)."""
    raw = request.headers.get(REASON_HEADER)
    # HTTP headers arrive as Latin-1: a UTF-8 reason ("café") is read back as such.
    with contextlib.suppress(UnicodeError):
        raw = raw.encode("latin-1").decode("utf-8") if raw is not None else None
    reason = check_reason(raw, field="X-Chronos-Reason")
    return Actor.of(key, reason=reason)


# Declare after ``AccountId``: the key must be authenticated first.
ActorDep = Annotated[Actor, Depends(change_actor)]


async def require_json_body(request: Request) -> None:
    """Bodies must be JSON (the request guard has already bounded their size)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    body = await request.body()
    if not body:
        return
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"send JSON with 'Content-Type: application/json' (got {content_type or 'none'!r})"
        )


def tag_filters(request: Request) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key.startswith("tag."):
            name = key[4:]
            if not TAG_KEY.match(name):
                raise BadRequest(f"invalid tag filter {key!r}", code="invalid_filter")
            tags[name] = value
    if len(tags) > MAX_TAG_FILTERS:
        raise BadRequest(
            f"at most {MAX_TAG_FILTERS} tag filters per request", code="invalid_filter"
        )
    return tags


Limit = Annotated[int, Query(ge=1, le=500)]
