"""Keyset pagination on time-sortable ids: newest first, the cursor is the last id seen."""

from __future__ import annotations

import base64
from typing import Any, TypeVar

import sqlalchemy as sa

from chronos.server.store.errors import InvalidCursor

R = TypeVar("R", bound=Any)


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor(cursor) from exc
    if not value or len(value) > 40 or "_" not in value:
        raise InvalidCursor(cursor)
    return value


def page(
    query: sa.Select[Any], id_column: sa.ColumnElement[str], cursor: str | None, limit: int
) -> sa.Select[Any]:
    if cursor:
        query = query.where(id_column < decode_cursor(cursor))
    return query.order_by(id_column.desc()).limit(limit + 1)


def split_page(rows: list[R], limit: int) -> tuple[list[R], str | None]:
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1]["id"])
    return rows, None
