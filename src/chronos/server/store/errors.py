"""What the store raises. It knows nothing of HTTP: ``chronos.server.errors.from_store_error``
is the one place that turns these into API error codes.
"""

from __future__ import annotations

from typing import Any


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
