"""Exception types shared by the SDK and the server: each carries a stable API error code.

The SDK raises the subclass that fits the HTTP status of an error answer, with the API's
``code`` and ``details``::

    try:
        chronos.jobs.create(handler="charge", idempotency_key="inv_789")
    except ConflictError as exc:
        assert exc.code == "idempotency_key_conflict"
"""

from __future__ import annotations

from typing import Any


class ChronosError(Exception):
    """An error with a stable machine-readable ``code`` and an HTTP ``status``."""

    code: str = "error"
    status: int = 400

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class APIError(ChronosError):
    """The API answered with an error (``code`` and ``status`` say which)."""


class BadRequestError(APIError):
    status = 400


class AuthenticationError(APIError):
    status = 401


class NotFoundError(APIError):
    status = 404


class ConflictError(APIError):
    status = 409


class PayloadTooLargeError(APIError):
    status = 413


class ValidationError(APIError):
    status = 422


class ServiceUnavailableError(APIError):
    status = 503


class ConnectionFailed(ChronosError):
    """Chronos could not be reached at all (network error, server down)."""

    code, status = "connection_failed", 0


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: BadRequestError,
    422: ValidationError,
    503: ServiceUnavailableError,
}


def error_from_response(status: int, body: Any) -> APIError:
    """The exception for an error answer of the API."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"code": "http_error", "message": f"HTTP {status}"}
    kind = _BY_STATUS.get(status, APIError)
    return kind(
        str(error.get("message", f"HTTP {status}")),
        code=str(error.get("code", "http_error")),
        status=status,
        details=error.get("details"),
    )
