"""What the dashboard records beside the core tables: schedule events, workers seen, and the
cluster's own secrets."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.rows import ScheduleEventRow, WorkerRow
from chronos.server.store.dialect import insert_for
from chronos.server.store.tables import schedule_events, server_secrets, workers

# --- schedule events ----------------------------------------------------------------------


async def schedule_event_insert(conn: AsyncConnection, row: ScheduleEventRow) -> None:
    await conn.execute(sa.insert(schedule_events).values(**row))


async def schedule_event_list(
    conn: AsyncConnection,
    schedule_id: str,
    *,
    since: datetime | None = None,
    kinds: Sequence[str] | None = None,
    limit: int = 100,
) -> list[ScheduleEventRow]:
    """Newest first."""
    query = sa.select(schedule_events).where(schedule_events.c.schedule_id == schedule_id)
    if since is not None:
        query = query.where(schedule_events.c.at >= since)
    if kinds:
        query = query.where(schedule_events.c.kind.in_(list(kinds)))
    query = query.order_by(schedule_events.c.at.desc(), schedule_events.c.id.desc()).limit(limit)
    return [cast(ScheduleEventRow, dict(r._mapping)) for r in await conn.execute(query)]


# --- workers ------------------------------------------------------------------------------


async def worker_seen(
    conn: AsyncConnection,
    account_id: str,
    worker_id: str,
    handlers: list[str],
    now: datetime,
    *,
    claimed: bool = True,
) -> None:
    """Record that ``worker_id`` is alive: created the first time, ``last_seen_at`` after. A
    claim (``claimed``) also says which handlers it polls for; a heartbeat does not."""
    insert = insert_for(conn, workers).values(
        account_id=account_id,
        worker_id=worker_id,
        handlers=sorted(set(handlers)),
        first_seen_at=now,
        last_seen_at=now,
    )
    await conn.execute(
        insert.on_conflict_do_update(
            index_elements=[workers.c.account_id, workers.c.worker_id],
            set_=(
                {"handlers": insert.excluded.handlers, "last_seen_at": now}
                if claimed
                else {"last_seen_at": now}
            ),
        )
    )


async def worker_list(
    conn: AsyncConnection, account_id: str, *, seen_since: datetime, limit: int = 500
) -> list[WorkerRow]:
    """Workers that claimed since ``seen_since``, most recently seen first."""
    rows = await conn.execute(
        sa.select(workers)
        .where(workers.c.account_id == account_id, workers.c.last_seen_at >= seen_since)
        .order_by(workers.c.last_seen_at.desc())
        .limit(limit)
    )
    return [cast(WorkerRow, dict(r._mapping)) for r in rows]


async def workers_forget(conn: AsyncConnection, seen_before: datetime) -> int:
    """Drop workers not seen since ``seen_before`` (the pruner's)."""
    result = await conn.execute(sa.delete(workers).where(workers.c.last_seen_at < seen_before))
    return result.rowcount or 0


# --- server secrets -----------------------------------------------------------------------


async def server_secret(conn: AsyncConnection, name: str, now: datetime) -> str:
    """The cluster's secret called ``name``, made on first use. Nodes racing to make it agree:
    the first insert wins and everyone reads the winner's."""
    await conn.execute(
        insert_for(conn, server_secrets)
        .values(name=name, value=secrets.token_urlsafe(48), created_at=now)
        .on_conflict_do_nothing(index_elements=[server_secrets.c.name])
    )
    value = await conn.scalar(
        sa.select(server_secrets.c.value).where(server_secrets.c.name == name)
    )
    assert value is not None
    return str(value)
