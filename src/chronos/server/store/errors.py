"""What the store raises. It knows nothing of HTTP: ``chronos.server.errors.from_store_error``
is the one place that turns these into API error codes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


def is_database_outage(exc: BaseException) -> bool:
    """A lost or refused database connection (as opposed to a bug or a refused value)."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or "shutting down" in str(exc) or "connection" in str(exc)
    )


class StoreError(Exception):
    """A store operation that could not be done as asked."""


class UniqueViolation(StoreError):
    """A row would break a uniqueness guarantee (a schedule's name, an idempotency key).

    ``what`` names the guarantee (``"schedule_name"``, ``"idempotency_key"``); ``value`` is
    the value that is already taken.
    """

    def __init__(self, what: str, value: Any) -> None:
        super().__init__(f"{what} {value!r} is already taken")
        self.what = what
        self.value = value


class InvalidCursor(StoreError):
    """A pagination cursor this store never handed out."""
