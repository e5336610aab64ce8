"""Heartbeat monitors and their pings: one function per query."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.monitors import PING_HISTORY, MonitorRow, PingRow
from chronos.server.store.dialect import is_postgres, tag_filter
from chronos.server.store.errors import unique
from chronos.server.store.pagination import page, split_page
from chronos.server.store.tables import monitor_pings, monitors

# The most monitors ``monitor_list_all`` returns for one account (a safety bound).
MAX_MONITORS_PER_LIST = 10_000


def _row(mapping: Any) -> MonitorRow:
    return cast(MonitorRow, dict(mapping))


async def monitor_insert(conn: AsyncConnection, row: MonitorRow) -> None:
    """Insert a monitor; a taken name raises :class:`UniqueViolation` and inserts nothing."""
    async with unique(conn, "monitor_name", row["name"]):
        await conn.execute(sa.insert(monitors).values(**row))


async def monitor_get(
    conn: AsyncConnection, account_id: str, id_or_name: str, *, for_update: bool = False
) -> MonitorRow | None:
    """By id (``mon_…``) or by name (a name may itself start with ``mon_``)."""
    keys = [monitors.c.name]
    if id_or_name.startswith("mon_"):
        keys.insert(0, monitors.c.id)
    for key in keys:
        query = sa.select(monitors).where(monitors.c.account_id == account_id, key == id_or_name)
        if for_update and is_postgres(conn):
            query = query.with_for_update()
        found = (await conn.execute(query)).first()
        if found is not None:
            return _row(found._mapping)
    return None


async def monitor_get_by_token_hash(
    conn: AsyncConnection, ping_token_hash: str, *, for_update: bool = False
) -> MonitorRow | None:
    """The monitor whose ping token hashes to ``ping_token_hash`` (any account)."""
    query = sa.select(monitors).where(monitors.c.ping_token_hash == ping_token_hash)
    if for_update and is_postgres(conn):
        query = query.with_for_update()
    found = (await conn.execute(query)).first()
    return _row(found._mapping) if found is not None else None


async def monitor_list(
    conn: AsyncConnection,
    account_id: str,
    *,
    tags: dict[str, str] | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[MonitorRow], str | None]:
    """One page of an account's monitors, newest first."""
    query = sa.select(monitors).where(monitors.c.account_id == account_id)
    if tags:
        query = query.where(tag_filter(conn, monitors.c.tags, tags))
    rows = await conn.execute(page(query, monitors.c.id, cursor, limit))
    return split_page([_row(r._mapping) for r in rows], limit)


async def monitor_list_all(conn: AsyncConnection, account_id: str) -> list[MonitorRow]:
    """Every monitor of an account (the alert evaluator's and the overview's view), by name."""
    rows = await conn.execute(
        sa.select(monitors)
        .where(monitors.c.account_id == account_id)
        .order_by(monitors.c.name)
        .limit(MAX_MONITORS_PER_LIST)
    )
    return [_row(r._mapping) for r in rows]


async def monitor_update(conn: AsyncConnection, monitor_id: str, values: Mapping[str, Any]) -> None:
    """Change a monitor's columns; a taken name raises :class:`UniqueViolation`."""
    if not values:
        return
    async with unique(conn, "monitor_name", values.get("name")):
        await conn.execute(
            sa.update(monitors).where(monitors.c.id == monitor_id).values(dict(values))
        )


async def monitor_delete(conn: AsyncConnection, account_id: str, monitor_id: str) -> bool:
    result = await conn.execute(
        sa.delete(monitors).where(monitors.c.id == monitor_id, monitors.c.account_id == account_id)
    )
    return result.rowcount == 1


async def monitor_ping_insert(conn: AsyncConnection, ping: PingRow) -> None:
    """Record a ping and forget the monitor's pings beyond the latest ``PING_HISTORY``."""
    await conn.execute(sa.insert(monitor_pings).values(**ping))
    oldest_kept = (
        sa.select(monitor_pings.c.id)
        .where(monitor_pings.c.monitor_id == ping["monitor_id"])
        .order_by(monitor_pings.c.id.desc())
        .offset(PING_HISTORY - 1)
        .limit(1)
        .scalar_subquery()
    )
    await conn.execute(
        sa.delete(monitor_pings).where(
            monitor_pings.c.monitor_id == ping["monitor_id"], monitor_pings.c.id < oldest_kept
        )
    )


async def monitor_ping_list(conn: AsyncConnection, monitor_id: str, limit: int) -> list[PingRow]:
    """A monitor's latest pings, newest first."""
    rows = await conn.execute(
        sa.select(monitor_pings)
        .where(monitor_pings.c.monitor_id == monitor_id)
        .order_by(monitor_pings.c.id.desc())
        .limit(limit)
    )
    return [cast(PingRow, dict(r._mapping)) for r in rows]
