"""One exception per API error code. The app maps every one to the JSON error body::

{"error": {"code": "name_conflict", "message": "...", "details": ...}}
"""

from __future__ import annotations

from chronos.errors import ChronosError
from chronos.server.store.errors import InvalidCursor, StoreError, UniqueViolation


class BadRequest(ChronosError):
    code, status = "bad_request", 400


class InvalidJSON(ChronosError):
    code, status = "invalid_json", 400


class Unauthorized(ChronosError):
    code, status = "unauthorized", 401


class Forbidden(ChronosError):
    code, status = "forbidden", 403


class NotFound(ChronosError):
    code, status = "not_found", 404


class MethodNotAllowed(ChronosError):
    code, status = "method_not_allowed", 405


class NameConflict(ChronosError):
    code, status = "name_conflict", 409


class IdempotencyKeyConflict(ChronosError):
    code, status = "idempotency_key_conflict", 409


class ExecutionNotRunning(ChronosError):
    code, status = "execution_not_running", 409


class UnrecordableResult(ChronosError):
    """A result the database would not store (it is reported, never silently lost)."""

    code, status = "unrecordable_result", 422


class InvalidState(ChronosError):
    """The object exists but is not in a state that allows the operation."""

    code, status = "invalid_state", 409


class RateLimited(ChronosError):
    """Too many requests; ``retry_after`` seconds say when to try again."""

    code, status = "rate_limited", 429

    def __init__(self, message: str, *, retry_after: int, details: object = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class PayloadTooLarge(ChronosError):
    code, status = "payload_too_large", 413


class UnsupportedMediaType(ChronosError):
    code, status = "unsupported_media_type", 415


class ValidationFailed(ChronosError):
    code, status = "validation_error", 422


class InvalidSchedule(ChronosError):
    """Cron, interval, timezone or window that cannot work."""

    code, status = "invalid_schedule", 422


class NotSupported(ChronosError):
    code, status = "not_supported", 422


class UnknownCalendar(ChronosError):
    """A schedule names a calendar the account does not have (``details.calendars``)."""

    code, status = "unknown_calendar", 422


class CalendarInUse(ChronosError):
    """A calendar that schedules name cannot be deleted (``details.schedules`` lists them)."""

    code, status = "calendar_in_use", 409


def from_store_error(exc: StoreError) -> ChronosError:
    """The API error for a store error: the one place where one becomes the other."""
    if isinstance(exc, UniqueViolation):
        if exc.what == "schedule_name":
            return NameConflict(
                f"a schedule named {exc.value!r} already exists", details={"name": exc.value}
            )
        if exc.what == "idempotency_key":
            return IdempotencyKeyConflict(
                f"a job with idempotency_key {exc.value!r} already exists",
                details={"idempotency_key": exc.value},
            )
        return ChronosError(str(exc), code="conflict", status=409)
    if isinstance(exc, InvalidCursor):
        return BadRequest("invalid cursor", code="invalid_cursor")
    return ChronosError(str(exc), code="conflict", status=409)
