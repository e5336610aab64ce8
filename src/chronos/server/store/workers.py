"""The queries behind the workers page and ``GET /v1/workers``: what each pull worker is running,
and how recent push requests went (workers themselves are recorded and listed by
``store/dashboard.py``: ``worker_seen``, ``worker_list``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.states import DeliveryType, ExecutionStatus
from chronos.server.ids import id_floor
from chronos.server.store.tables import executions, jobs


class PushSample(TypedDict):
    """One finished push execution, with its job's delivery (for the target's URL)."""

    status: str  # ExecutionStatus
    http_status: int | None
    duration_ms: int | None
    finished_at: datetime
    delivery: dict[str, Any]


async def worker_running_counts(
    conn: AsyncConnection, account_id: str, worker_ids: Sequence[str]
) -> dict[str, int]:
    """How many running executions each of ``worker_ids`` holds (absent: none), in one grouped
    query over the running executions (the partial lease index holds only those)."""
    if not worker_ids:
        return {}
    rows = await conn.execute(
        sa.select(executions.c.worker_id, sa.func.count().label("running"))
        .where(
            executions.c.status == ExecutionStatus.RUNNING.value,
            executions.c.account_id == account_id,
            executions.c.worker_id.in_(list(worker_ids)),
        )
        .group_by(executions.c.worker_id)
    )
    return {row.worker_id: int(row.running) for row in rows}


async def push_executions_recent(
    conn: AsyncConnection, account_id: str, *, since: datetime, limit: int
) -> list[PushSample]:
    """The account's push executions started and finished since ``since``, newest first, at
    most ``limit``. Started since is an id range (execution ids sort by when they were
    claimed), so the scan is bounded by the primary key, however long the table."""
    floor = id_floor("exe", int(since.timestamp() * 1000))
    rows = await conn.execute(
        sa.select(
            executions.c.status,
            executions.c.http_status,
            executions.c.duration_ms,
            executions.c.finished_at,
            jobs.c.delivery,
        )
        .join(jobs, jobs.c.id == executions.c.job_id)
        .where(
            executions.c.id >= floor,
            executions.c.account_id == account_id,
            executions.c.finished_at >= since,
            jobs.c.delivery_type == DeliveryType.PUSH.value,
        )
        .order_by(executions.c.id.desc())
        .limit(limit)
    )
    return [
        PushSample(
            status=row.status,
            http_status=row.http_status,
            duration_ms=row.duration_ms,
            finished_at=row.finished_at,
            delivery=row.delivery,
        )
        for row in rows
    ]
