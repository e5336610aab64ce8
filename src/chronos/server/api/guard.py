"""The request guard: what is checked before any route sees a request.

In order, so that a stranger can make Chronos do as little as possible:

1. a URL holding a NUL character is refused (400): no database can store it;
2. a request with a body to ``/v1/…`` must carry a valid API key *before* its body is read
   (401 without reading it), and the account it names is handed on to the route;
3. the body is counted as it streams in and refused (413) as soon as it passes the limit,
   whether or not it declared a ``Content-Length``; a body that stalls for longer than the read
   timeout between two chunks is refused (408), so a slow client cannot hold a worker forever;
4. a JSON body holding a value that could not be stored and read back — ``NaN``, ``1e400``,
   a lone surrogate, a NUL character, nesting deeper than 64 levels — is refused (422), so
   nothing is stored that cannot be read back (``domain/jsonsafe.py``).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chronos.server.domain import jsonsafe
from chronos.server.domain.monitors import MAX_PING_BODY_BYTES
from chronos.server.domain.rows import KeyHolder
from chronos.server.domain.states import KeyScope
from chronos.server.store.errors import is_database_outage

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status)


def bearer_token(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


MISSING_KEY = "missing API key: send 'Authorization: Bearer chrns_…'"
WORKER_PATHS = "/v1/worker/"
# A monitor's pings, which worker keys may send too (a job's own key can report on it).
MONITOR_PING_PATH = re.compile(r"^/v1/monitors/[^/]+/(ping|start|fail)$")
# Tokenised monitor pings: the token in the path is the credential, no API key is needed.
TOKEN_PING_PATHS = "/v1/ping/"


def scope_refusal(holder: KeyHolder, path: str) -> str | None:
    """Why this key may not call ``path``, or None if it may."""
    if (
        holder["scope"] == KeyScope.WORKER
        and not path.startswith(WORKER_PATHS)
        and not MONITOR_PING_PATH.match(path)
    ):
        return "a worker key may only claim jobs, send heartbeats, report results and ping monitors"
    return None


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


class RequestGuard:
    def __init__(self, app: ASGIApp, limit: int, read_timeout: float = 30.0) -> None:
        self.app = app
        self.limit = limit
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = await self._check(scope, receive)
        if isinstance(refusal, JSONResponse):
            await refusal(scope, receive, send)
            return
        await self.app(scope, refusal or receive, send)

    async def _check(self, scope: Scope, receive: Receive) -> JSONResponse | Receive | None:
        """A response refusing the request, a ``receive`` replaying its body, or None."""
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            return error_response(400, "bad_request", "NUL characters are not allowed in URLs")
        if scope["method"] not in BODY_METHODS:
            return None
        headers = Headers(scope=scope)
        limit = self.limit
        if scope["path"].startswith(TOKEN_PING_PATHS):
            # No key is needed here: a stranger's body is bounded by what a ping may keep,
            # not by the (much larger) limit of authenticated requests.
            limit = min(limit, MAX_PING_BODY_BYTES)
        elif scope["path"].startswith("/v1/"):
            refused = await self._authenticate(scope, headers)
            if refused is not None:
                return refused
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return self._too_large(limit)
        try:
            body = await self._read_body(receive, limit)
        except _TooLarge:
            return self._too_large(limit)
        except _TooSlow:
            response = error_response(
                408,
                "request_timeout",
                f"the request body stalled for more than {self.read_timeout:g} seconds",
            )
            response.headers["Connection"] = "close"
            return response
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if body and (content_type == "application/json" or content_type.endswith("+json")):
            found, value = _json_problem(body)
            if found is not None:
                return error_response(422, "validation_error", found)
            if value is not _UNPARSED:  # kept for a route that would parse it again
                scope.setdefault("state", {})[JSON_BODY] = (value,)
        return _replay(body, receive)

    async def _authenticate(self, scope: Scope, headers: Headers) -> JSONResponse | None:
        token = bearer_token(headers)
        if token is None:
            return error_response(401, "unauthorized", MISSING_KEY)
        runtime = scope["app"].state.runtime
        try:
            holder = await runtime.accounts.authenticate(token)
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            return error_response(
                503, "database_unavailable", "the database is unreachable; retry shortly"
            )
        if holder is None:
            return error_response(401, "unauthorized", "invalid API key")
        refused = scope_refusal(holder, scope["path"])
        if refused is not None:
            return error_response(403, "forbidden", refused)
        scope.setdefault("state", {})["key_holder"] = holder
        return None

    async def _read_body(self, receive: Receive, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                async with asyncio.timeout(self.read_timeout):
                    message = await receive()
            except TimeoutError:
                raise _TooSlow from None
            if message["type"] != "http.request":  # the client went away
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self, limit: int) -> JSONResponse:
        message = f"request body is larger than {limit} bytes"
        response = error_response(413, "payload_too_large", message)
        # The rest of the body is not read: the connection cannot be reused.
        response.headers["Connection"] = "close"
        return response


# Where the guard leaves the body it parsed, as a 1-tuple (``api/jobs.py`` reads it).
JSON_BODY = "chronos.json_body"
_UNPARSED = object()


def _json_problem(body: bytes) -> tuple[str | None, Any]:
    """Why the JSON body cannot be stored, or None; and the parsed value (``_UNPARSED`` when
    the body is not JSON at all: the route answers ``invalid_json``)."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except ValueError as exc:
        if "is not allowed" in str(exc):
            return "NaN and infinite numbers are not allowed", _UNPARSED
        return None, _UNPARSED  # not JSON at all: the route answers invalid_json
    except RecursionError:
        return f"JSON nested deeper than {jsonsafe.MAX_DEPTH} levels", _UNPARSED
    return jsonsafe.problem(value), value


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
