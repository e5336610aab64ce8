"""The OpenAPI document, made to tell the truth about errors.

FastAPI declares every ``422`` as its own ``{"detail": [...]}`` shape and no other error at all;
Chronos answers every error with ``{"error": {"code", "message", "details"?}}``. This declares
that body once (``Error``), uses it for ``422``, and adds it as the ``4XX``/``5XX`` answers of
every operation, so clients and fuzzers can check error bodies too. ``install`` also adds
``/docs`` (Swagger UI from the package's own files: :mod:`chronos.server.api.docs`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from chronos.server.api import docs

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, snake_case"},
                "message": {"type": "string"},
                "details": {"description": "what went wrong, when there is more to say"},
            },
        }
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_ERROR_ANSWER = {"content": {"application/json": {"schema": _ERROR_REF}}}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for path in spec.get("paths", {}).values():
            for operation in path.values():
                answers = operation.setdefault("responses", {})
                if "422" in answers:
                    answers["422"] = {"description": "Invalid input", **_ERROR_ANSWER}
                answers.setdefault("4XX", {"description": "A client error", **_ERROR_ANSWER})
                answers.setdefault("5XX", {"description": "A server error", **_ERROR_ANSWER})
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
    docs.install(app)
