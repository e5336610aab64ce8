"""Executions: results, heartbeats, cancels and expired leases.

Every change is guarded by ``status = 'running'``: the only status an execution leaves
(``EXECUTION_TRANSITIONS`` in ``domain/states.py``).
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.rows import ExecutionEnd, ExecutionRow, LockedExecution
from chronos.server.domain.states import EXECUTION_TRANSITIONS, ExecutionStatus, IllegalTransition
from chronos.server.store.dialect import is_postgres, update_many
from chronos.server.store.tables import executions, jobs

# What finishing an execution needs to know about it and its job.
_FINISH_COLUMNS = (
    executions.c.id,
    executions.c.status,
    executions.c.started_at,
    executions.c.job_id,
    executions.c.account_id,
    executions.c.attempt,
    jobs.c.schedule_id,
    jobs.c.run_at,
    jobs.c.retry_base,
    jobs.c.max_retries,
    jobs.c.retry_policy,
    jobs.c.traceparent,  # the result's span joins the job's trace (server/telemetry.py)
)


# The columns an ending sets (``ExecutionEnd``).
_END_COLUMNS = (
    "id",
    "status",
    "finished_at",
    "duration_ms",
    "output",
    "error",
    "http_status",
    "response_excerpt",
)


def _finish_query() -> sa.Select[Any]:
    return sa.select(*_FINISH_COLUMNS).join(jobs, jobs.c.id == executions.c.job_id)


@functools.cache
def _lock_sql(*, scoped: bool) -> str:
    """PostgreSQL: :func:`_finish_query` for ``$1`` execution ids (of account ``$2``), locked."""
    columns = ", ".join(f"{c.table.name}.{c.name}" for c in _FINISH_COLUMNS)
    account = " AND executions.account_id = $2::text" if scoped else ""
    return (
        f"SELECT {columns} FROM executions JOIN jobs ON jobs.id = executions.job_id "
        f"WHERE executions.id = ANY($1::text[]){account} FOR UPDATE OF executions"
    )


def _lock(conn: AsyncConnection, query: sa.Select[Any], *, skip: bool) -> sa.Select[Any]:
    if is_postgres(conn):
        return query.with_for_update(of=executions, skip_locked=skip)
    return query


class HeartbeatState(TypedDict):
    status: str
    lease_expires_at: datetime | None  # None unless still running
    cancel_requested: bool
    worker_id: str | None  # who claimed it
    handler: str | None


async def execution_get(
    conn: AsyncConnection, account_id: str, execution_id: str
) -> ExecutionRow | None:
    row = (
        await conn.execute(
            sa.select(executions).where(
                executions.c.id == execution_id, executions.c.account_id == account_id
            )
        )
    ).first()
    return cast(ExecutionRow, dict(row._mapping)) if row else None


async def execution_list_for_job(conn: AsyncConnection, job_id: str) -> list[ExecutionRow]:
    rows = await conn.execute(
        sa.select(executions).where(executions.c.job_id == job_id).order_by(executions.c.attempt)
    )
    return [cast(ExecutionRow, dict(r._mapping)) for r in rows]


async def execution_lock_many(
    conn: AsyncConnection, account_id: str | None, execution_ids: list[str]
) -> dict[str, LockedExecution]:
    """Lock executions (and read their jobs' retry settings) before reporting results.

    ``account_id`` scopes the lookup to one account (None: the engine's own lookups)."""
    if is_postgres(conn):  # every result batch comes here: plain SQL, no statement building
        scoped = account_id is not None
        params = (execution_ids, account_id) if scoped else (execution_ids,)
        rows = (await conn.exec_driver_sql(_lock_sql(scoped=scoped), params)).mappings()
        return {row["id"]: cast(LockedExecution, dict(row)) for row in rows}
    query = _finish_query().where(executions.c.id.in_(execution_ids))
    if account_id is not None:
        query = query.where(executions.c.account_id == account_id)
    rows = await conn.execute(_lock(conn, query, skip=False))
    return {row.id: cast(LockedExecution, dict(row._mapping)) for row in rows}


async def execution_lock_expired(
    conn: AsyncConnection, now: datetime, limit: int
) -> list[LockedExecution]:
    """Running executions whose lease has expired, locked; rows another node holds are skipped."""
    query = (
        _finish_query()
        .where(
            executions.c.status == ExecutionStatus.RUNNING.value,
            executions.c.lease_expires_at < now,
        )
        .order_by(executions.c.lease_expires_at)
        .limit(limit)
    )
    rows = await conn.execute(_lock(conn, query, skip=True))
    return [cast(LockedExecution, dict(r._mapping)) for r in rows]


async def execution_finish_many(conn: AsyncConnection, finished: list[ExecutionEnd]) -> None:
    """Record the end of running executions; executions no longer running are left alone."""
    if not finished:
        return
    for end in finished:
        if ExecutionStatus(end["status"]) not in EXECUTION_TRANSITIONS[ExecutionStatus.RUNNING]:
            raise IllegalTransition(f"a running execution cannot become {end['status']}")
    if is_postgres(conn):
        await update_many(
            conn,
            executions,
            cast(list[dict[str, Any]], finished),
            _END_COLUMNS[1:],
            guard=f"t.status = '{ExecutionStatus.RUNNING.value}'",
            sets=(("lease_expires_at", "NULL"),),
        )
        return
    await conn.execute(
        sa.update(executions)
        .where(
            executions.c.id == sa.bindparam("b_id"),
            executions.c.status == ExecutionStatus.RUNNING.value,
        )
        .values({column: sa.bindparam(f"b_{column}") for column in _END_COLUMNS[1:]})
        .values(lease_expires_at=None),
        [{f"b_{k}": v for k, v in f.items()} for f in finished],
    )


async def execution_heartbeat(
    conn: AsyncConnection, account_id: str, execution_id: str, now: datetime
) -> HeartbeatState | None:
    """Extend a running execution's lease by its job's timeout.

    Returns the execution's ``status``, the new ``lease_expires_at`` (None unless running) and
    whether cancel was requested; None if there is no such execution.
    """
    row = (
        await conn.execute(
            sa.select(
                executions.c.status,
                executions.c.worker_id,
                jobs.c.handler,
                jobs.c.timeout_seconds,
                jobs.c.cancel_requested,
            )
            .join(jobs, jobs.c.id == executions.c.job_id)
            .where(executions.c.id == execution_id, executions.c.account_id == account_id)
        )
    ).first()
    if row is None:
        return None
    if row.status != ExecutionStatus.RUNNING.value:
        return {
            "status": row.status,
            "lease_expires_at": None,
            "cancel_requested": row.cancel_requested,
            "worker_id": row.worker_id,
            "handler": row.handler,
        }
    lease_expires_at = now + timedelta(seconds=row.timeout_seconds)
    result = await conn.execute(
        sa.update(executions)
        .where(
            executions.c.id == execution_id,
            executions.c.status == ExecutionStatus.RUNNING.value,
        )
        .values(lease_expires_at=lease_expires_at)
    )
    if result.rowcount != 1:  # finished between the two statements
        return await execution_heartbeat(conn, account_id, execution_id, now)
    return {
        "status": row.status,
        "lease_expires_at": lease_expires_at,
        "cancel_requested": row.cancel_requested,
        "worker_id": row.worker_id,
        "handler": row.handler,
    }


async def execution_cancel_running(
    conn: AsyncConnection, job_ids: list[str], now: datetime, *, account_id: str | None = None
) -> None:
    """Cancel the running executions of ``job_ids`` (their jobs are being canceled).

    ``account_id`` scopes it to one account's executions (None: the engine's own cancels)."""
    conditions = [
        executions.c.job_id.in_(job_ids),
        executions.c.status == ExecutionStatus.RUNNING.value,
    ]
    if account_id is not None:
        conditions.append(executions.c.account_id == account_id)
    await conn.execute(
        sa.update(executions)
        .where(*conditions)
        .values(
            status=ExecutionStatus.CANCELED.value,
            finished_at=now,
            error={"type": "canceled", "message": "the job was canceled"},
        )
    )
