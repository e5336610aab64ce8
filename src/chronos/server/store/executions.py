"""Executions: results, heartbeats, cancels and expired leases.

Every change is guarded by ``status = 'running'``: the only status an execution leaves
(``EXECUTION_TRANSITIONS`` in ``domain/states.py``).
"""

from __future__ import annotations

import functools
import json
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.rows import ExecutionEnd, ExecutionRow, LockedExecution
from chronos.server.domain.states import (
    ATTEMPT_OUTCOMES,
    EXECUTION_TRANSITIONS,
    ExecutionStatus,
    IllegalTransition,
    JobStatus,
)
from chronos.server.store.dialect import (
    is_postgres,
    jsonb_text,
    row_dicts,
    sqlite_readers,
    sqlite_row_dicts,
    update_many,
)
from chronos.server.store.tables import executions, jobs, schedules

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
_FINISH_READERS = sqlite_readers(_FINISH_COLUMNS)  # SQLite: how they read back

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
def _lock_sql(*, scoped: bool, postgres: bool) -> str:
    """:func:`_finish_query` in plain SQL for the execution ids of parameter 1 (an array on
    PostgreSQL, a JSON array on SQLite), of the account of parameter 2 if ``scoped``. Locked
    on PostgreSQL; SQLite has one writer, which the caller holds."""
    columns = ", ".join(f"{c.table.name}.{c.name}" for c in _FINISH_COLUMNS)
    if postgres:
        ids, account, lock = "= ANY($1::text[])", "$2::text", " FOR UPDATE OF executions"
    else:
        ids, account, lock = "IN (SELECT value FROM json_each(?1))", "?2", ""
    scope = f" AND executions.account_id = {account}" if scoped else ""
    return (
        f"SELECT {columns} FROM executions JOIN jobs ON jobs.id = executions.job_id "
        f"WHERE executions.id {ids}{scope}{lock}"
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
    # Every result batch comes here: plain SQL, no statement building.
    scoped = account_id is not None
    if is_postgres(conn):
        params: tuple[Any, ...] = (execution_ids, account_id) if scoped else (execution_ids,)
        result = await conn.exec_driver_sql(_lock_sql(scoped=scoped, postgres=True), params)
        rows = row_dicts(result)
    else:
        ids = json.dumps(execution_ids)
        params = (ids, account_id) if scoped else (ids,)
        result = await conn.exec_driver_sql(_lock_sql(scoped=scoped, postgres=False), params)
        rows = sqlite_row_dicts(result, _FINISH_READERS)
    return {row["id"]: cast(LockedExecution, row) for row in rows}


class Completion(NamedTuple):
    """A worker's plain success: an execution completed, with its output (no error)."""

    execution_id: str
    output: Any
    duration_ms: int | None  # as the worker measured it; None: finished_at - started_at


@functools.cache
def _complete_sql() -> str:
    """PostgreSQL: complete running executions of account ``$5`` and their jobs, and set their
    schedules' last status, in one statement. ``$1`` execution ids, ``$2`` outputs (JSON),
    ``$3`` durations (ms, or null), ``$4`` now.

    Each part is guarded as the general path's statements are: only a ``running`` execution
    completes (a timed-out or canceled one is left alone, and its report goes the general
    way), and only a ``running`` job follows it (a job canceled meanwhile keeps its status).
    """
    running, completed = ExecutionStatus.RUNNING.value, ExecutionStatus.COMPLETED.value
    assert ExecutionStatus.COMPLETED in EXECUTION_TRANSITIONS[ExecutionStatus.RUNNING]
    assert JobStatus.COMPLETED in ATTEMPT_OUTCOMES
    elapsed_ms = "GREATEST(0, floor(extract(epoch FROM $4::timestamptz - e.started_at) * 1000))"
    returned = ", ".join(
        f"'{running}' AS status" if c.name == "status" else f"{c.table.name}.{c.name}"
        for c in _FINISH_COLUMNS
        if c.name != "retry_policy"
    ).replace("executions.", "done.")
    return f"""
WITH done AS (
    UPDATE executions AS e
    SET status = '{completed}', finished_at = $4, output = v.output, error = NULL,
        duration_ms = COALESCE(v.duration_ms, {elapsed_ms}::int8),
        http_status = NULL, response_excerpt = NULL, lease_expires_at = NULL
    FROM unnest($1::text[], $2::jsonb[], $3::int8[]) AS v(id, output, duration_ms)
    WHERE e.id = v.id AND e.account_id = $5::text AND e.status = '{running}'
    RETURNING e.id, e.job_id, e.started_at, e.account_id, e.attempt, v.output
), jobs_done AS (
    UPDATE jobs AS j
    SET status = '{JobStatus.COMPLETED.value}', result = done.output, last_error = NULL,
        finished_at = $4, updated_at = $4
    FROM done WHERE j.id = done.job_id AND j.status = '{running}'
), schedules_done AS (
    UPDATE schedules SET last_status = '{JobStatus.COMPLETED.value}'
    WHERE id IN (
        SELECT jobs.schedule_id FROM done JOIN jobs ON jobs.id = done.job_id
        WHERE jobs.schedule_id IS NOT NULL
    )
)
SELECT {returned}
FROM done JOIN jobs ON jobs.id = done.job_id
"""


async def execution_complete_many(
    conn: AsyncConnection, account_id: str, completions: list[Completion], now: datetime
) -> list[LockedExecution]:
    """The common result — success, no error — for many executions, with their jobs and
    schedules, without the general path's per-report checks. Returns the executions it
    completed, as they were before (``status`` running). Executions it left alone (not
    running, not found, another account's) are for the general path, which tells why.

    PostgreSQL: one statement (no lock-then-update round trips, no transaction block needed;
    no ``retry_policy`` comes back: a completed attempt needs no retry rule). SQLite: in the
    caller's write transaction, a read of the running executions and three batch updates.
    """
    if not is_postgres(conn):
        return await _complete_sqlite(conn, account_id, completions, now)
    result = await conn.exec_driver_sql(
        _complete_sql(),
        (
            [c.execution_id for c in completions],
            [jsonb_text(c.output) for c in completions],
            [c.duration_ms for c in completions],
            now,
            account_id,
        ),
    )
    return cast(list[LockedExecution], row_dicts(result))


async def _complete_sqlite(
    conn: AsyncConnection, account_id: str, completions: list[Completion], now: datetime
) -> list[LockedExecution]:
    """:func:`execution_complete_many` on SQLite, guarded as :func:`_complete_sql` is. The
    write lock is held from the read on, so the executions read as running stay so."""
    locked = await execution_lock_many(conn, account_id, [c.execution_id for c in completions])
    running = ExecutionStatus.RUNNING.value
    done = [
        (c, row)
        for c in completions
        if (row := locked.get(c.execution_id)) is not None and row["status"] == running
    ]
    if not done:
        return []
    completed = ExecutionStatus.COMPLETED.value
    ends: list[ExecutionEnd] = [
        {
            "id": row["id"],
            "status": completed,
            "finished_at": now,
            "duration_ms": (
                c.duration_ms
                if c.duration_ms is not None
                else max(0, int((now - row["started_at"]).total_seconds() * 1000))
            ),
            "output": c.output,
            "error": None,
            "http_status": None,
            "response_excerpt": None,
        }
        for c, row in done
    ]
    await execution_finish_many(conn, ends)
    # job_apply_outcomes' update (store/jobs.py imports this module, so not called from here).
    job_rows = [
        {
            "id": row["job_id"],
            "status": JobStatus.COMPLETED.value,
            "result": c.output,
            "last_error": None,
            "finished_at": now,
            "updated_at": now,
        }
        for c, row in done
    ]
    columns = ("status", "result", "last_error", "finished_at", "updated_at")
    await update_many(conn, jobs, job_rows, columns, guard=f"t.status = '{running}'")
    scheduled = {row["schedule_id"] for _, row in done if row["schedule_id"] is not None}
    schedule_rows = [{"id": s, "last_status": JobStatus.COMPLETED.value} for s in scheduled]
    await update_many(conn, schedules, schedule_rows, ("last_status",))
    return [row for _, row in done]


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
    await update_many(
        conn,
        executions,
        cast(list[dict[str, Any]], finished),
        _END_COLUMNS[1:],
        guard=f"t.status = '{ExecutionStatus.RUNNING.value}'",
        sets=(("lease_expires_at", "NULL"),),
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
