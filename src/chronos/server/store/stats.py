"""Queue depths and job counts for the metrics, across accounts.

Every query is an aggregate that returns a bounded number of rows:
- ready jobs grouped by handler read the partial index ``ix_jobs_claimable`` (ready jobs
  only) and return at most ``limit`` groups, the largest first;
- queued jobs are one ``count``/``min`` over the partial index ``ix_jobs_queued``;
- jobs by status is one group per status (a bounded set), but reads the whole table: the
  pruner keeps that to ``CHRONOS_RETENTION`` worth of finished jobs.

    async with db.read() as conn:
        await limit_statement_time(conn, 2.0)
        top = await ready_by_handler(conn, limit=100)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.states import JobStatus
from chronos.server.store.tables import jobs


@dataclass(frozen=True)
class Backlog:
    """Jobs waiting in one queue: how many, and the earliest ``run_at`` among them."""

    count: int
    oldest_run_at: datetime | None


async def limit_statement_time(conn: AsyncConnection, seconds: float) -> None:
    """Have PostgreSQL cancel any statement of this transaction that runs longer than
    ``seconds`` (SQLite has no such setting; the caller's own timeout bounds it there)."""
    if conn.dialect.name == "postgresql":
        milliseconds = max(1, int(seconds * 1000))
        await conn.execute(sa.text(f"SET LOCAL statement_timeout = {milliseconds}"))


def _count_and_oldest() -> tuple[sa.ColumnElement[int], sa.ColumnElement[datetime]]:
    return sa.func.count().label("total"), sa.func.min(jobs.c.run_at).label("oldest")


async def ready_by_handler(conn: AsyncConnection, *, limit: int) -> dict[str | None, Backlog]:
    """The ``limit`` handlers with the most ready jobs (ties: by name), with their backlogs."""
    if limit <= 0:
        return {}
    count, oldest = _count_and_oldest()
    rows = await conn.execute(
        sa.select(jobs.c.handler, count, oldest)
        .where(jobs.c.status == JobStatus.READY.value)
        .group_by(jobs.c.handler)
        .order_by(count.desc(), jobs.c.handler)
        .limit(limit)
    )
    return {row.handler: Backlog(row.total, row.oldest) for row in rows}


async def ready_other_handlers(
    conn: AsyncConnection, handlers: list[str | None] | set[str | None]
) -> Backlog:
    """The backlog of the ready jobs whose handler is not one of ``handlers``."""
    names = [h for h in handlers if h is not None]
    outside: sa.ColumnElement[bool] = jobs.c.handler.not_in(names)
    if None in handlers:
        outside = sa.and_(outside, jobs.c.handler.is_not(None))
    else:
        outside = sa.or_(outside, jobs.c.handler.is_(None))
    count, oldest = _count_and_oldest()
    row = (
        await conn.execute(
            sa.select(count, oldest).where(jobs.c.status == JobStatus.READY.value, outside)
        )
    ).one()
    return Backlog(row.total, row.oldest)


async def queued_backlog(conn: AsyncConnection) -> Backlog:
    """Push jobs waiting for the dispatcher."""
    count, oldest = _count_and_oldest()
    row = (
        await conn.execute(sa.select(count, oldest).where(jobs.c.status == JobStatus.QUEUED.value))
    ).one()
    return Backlog(row.total, row.oldest)


async def jobs_by_status(conn: AsyncConnection) -> dict[str, int]:
    """How many jobs each status holds (statuses with none are absent)."""
    rows = await conn.execute(
        sa.select(jobs.c.status, sa.func.count().label("total")).group_by(jobs.c.status)
    )
    return {row.status: row.total for row in rows}
