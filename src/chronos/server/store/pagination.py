"""Keyset pagination on time-sortable ids: newest first, the cursor is the last id seen."""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa

from chronos.server.errors import BadRequest


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("invalid cursor", code="invalid_cursor") from exc
    if not value or len(value) > 40 or "_" not in value:
        raise BadRequest("invalid cursor", code="invalid_cursor")
    return value


def page(
    query: sa.Select[Any], id_column: sa.ColumnElement[str], cursor: str | None, limit: int
) -> sa.Select[Any]:
    if cursor:
        query = query.where(id_column < decode_cursor(cursor))
    return query.order_by(id_column.desc()).limit(limit + 1)


def split_page(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1]["id"])
    return rows, None
