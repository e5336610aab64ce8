"""Request dependencies: the runtime, the caller's account, JSON body checks, list params."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Query, Request

from chronos.server.errors import BadRequest, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from chronos.server.runtime import Runtime

TAG_KEY = re.compile(r"^[A-Za-z0-9_.\-/]{1,64}$")


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def authenticate(request: Request, runtime: RuntimeDep) -> str:
    """The account id behind the Bearer key, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing API key: send 'Authorization: Bearer chrns_…'")
    account_id = await runtime.accounts.authenticate(token.strip())
    if account_id is None:
        raise Unauthorized("invalid API key")
    return account_id


AccountId = Annotated[str, Depends(authenticate)]


async def require_json_body(request: Request, runtime: RuntimeDep) -> None:
    """Bodies must be JSON and no larger than the configured limit."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    limit = runtime.settings.max_body_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
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
    return tags


Limit = Annotated[int, Query(ge=1, le=500)]
