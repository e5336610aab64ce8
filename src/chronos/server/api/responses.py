"""Responses that always render.

Routes return plain dicts of JSON values; :class:`SafeRoute` renders them with
:class:`SafeJSONResponse`, which encodes with the standard library (fast) and, should a stored
value be unrenderable — a row written before today's input checks, holding ``NaN``, a lone
surrogate or absurd nesting — renders a repaired copy instead of failing (``jsonsafe.storable``).
One bad row never turns a list, or a claim that includes it, into a 500.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response

from chronos.server.domain import jsonsafe

# Responses wrap stored values in a few levels of their own ({"data": [{"payload": …}]}).
_RESPONSE_DEPTH = jsonsafe.MAX_DEPTH + 8


def _dumps(content: Any) -> bytes:
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
        "utf-8"
    )


class SafeJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return _dumps(content)
        except (ValueError, UnicodeEncodeError, RecursionError):
            return _dumps(jsonsafe.storable(content, max_depth=_RESPONSE_DEPTH))


class SafeRoute(APIRoute):
    """A route whose returned dict is rendered by :class:`SafeJSONResponse` (with the route's
    status code); a returned ``Response`` goes out as it is."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        status_code = kwargs.get("status_code") or 200
        super().__init__(path, _rendered_safely(endpoint, status_code), **kwargs)


def _rendered_safely(
    endpoint: Callable[..., Awaitable[Any]], status_code: int
) -> Callable[..., Awaitable[Response]]:
    @functools.wraps(endpoint)
    async def endpoint_rendered_safely(*args: Any, **kwargs: Any) -> Response:
        result = await endpoint(*args, **kwargs)
        if isinstance(result, Response):
            return result
        return SafeJSONResponse(result, status_code=status_code)

    return endpoint_rendered_safely
