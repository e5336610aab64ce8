"""What the store raises. It knows nothing of HTTP: ``chronos.server.errors.from_store_error``
is the one place that turns these into API error codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection


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


@asynccontextmanager
async def unique(conn: AsyncConnection, what: str, value: Any) -> AsyncIterator[None]:
    """Run the block's statements in a savepoint: a broken constraint undoes them alone (the
    transaction stays usable, PostgreSQL included) and raises :class:`UniqueViolation`
    naming ``what`` and ``value``. For writes whose only breakable constraint is a name's."""
    try:
        async with conn.begin_nested():
            yield
    except IntegrityError as exc:
        raise UniqueViolation(what, value) from exc


class InvalidCursor(StoreError):
    """A pagination cursor this store never handed out."""
