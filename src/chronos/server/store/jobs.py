"""Jobs: creation, listing, admission, claiming, cancel and retry.

Every status change is a guarded update whose allowed source statuses come from the
transition table (``domain/states.py``): ``WHERE status IN sources_of(target)``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.rows import JobMoved, JobOutcome, JobRow
from chronos.server.domain.states import (
    ATTEMPT_OUTCOMES,
    CANCELABLE,
    FINAL_JOB_STATUSES,
    IN_FLIGHT_JOB_STATUSES,
    JOB_INITIAL_STATUSES,
    RETRYABLE_BY_USER,
    DeliveryType,
    IllegalTransition,
    JobStatus,
    sources_of,
    values,
)
from chronos.server.ids import id_floor
from chronos.server.store.dialect import (
    insert_for,
    insert_many,
    is_postgres,
    jsonb_text,
    skip_locked,
    sqlite_params,
    tag_filter,
    update_many,
)
from chronos.server.store.errors import UniqueViolation
from chronos.server.store.executions import execution_cancel_running
from chronos.server.store.pagination import page, split_page
from chronos.server.store.tables import IDEMPOTENCY_KEY_PREDICATE, SCHEDULE_SLOT_PREDICATE, jobs


def _check_initial(rows: list[JobRow]) -> None:
    for row in rows:
        if row["status"] not in JOB_INITIAL_STATUSES:
            raise IllegalTransition(f"a job cannot be created {row['status']}")


async def job_insert(conn: AsyncConnection, row: JobRow) -> None:
    """Insert one job; a reused idempotency key raises :class:`UniqueViolation` and inserts
    nothing (the rest of the transaction goes on: ``ON CONFLICT DO NOTHING``, no savepoint)."""
    _check_initial([row])
    if row["idempotency_key"] is None:
        await conn.execute(sa.insert(jobs).values(**row))
        return
    inserted = await conn.execute(
        insert_for(conn, jobs)
        .values(**row)
        .on_conflict_do_nothing(
            index_elements=["account_id", "idempotency_key"],
            index_where=sa.text(IDEMPOTENCY_KEY_PREDICATE),
        )
        .returning(jobs.c.id)
    )
    if inserted.first() is None:
        raise UniqueViolation("idempotency_key", row["idempotency_key"])


async def job_insert_many(conn: AsyncConnection, rows: list[JobRow]) -> None:
    """Insert jobs that carry no idempotency key (nothing about them can conflict)."""
    _check_initial(rows)
    if rows:
        await conn.execute(sa.insert(jobs), rows)


# A keyed row whose key is taken is skipped, on either backend; RETURNING tells which went in.
_KEYED_SUFFIX = (
    f"ON CONFLICT (account_id, idempotency_key) WHERE {IDEMPOTENCY_KEY_PREDICATE} "
    "DO NOTHING RETURNING id"
)
# SQLite, a batch holding keys: built once (building and hashing a Core statement per request
# shows in a create's profile); SQLAlchemy runs it as one multi-row INSERT … RETURNING.
_SQLITE_INSERT_KEYED = (
    sqlite.insert(jobs)
    .on_conflict_do_nothing(
        index_elements=["account_id", "idempotency_key"],
        index_where=sa.text(IDEMPOTENCY_KEY_PREDICATE),
    )
    .returning(jobs.c.id)
)
_JSON_COLUMNS = frozenset(c.name for c in jobs.c if isinstance(c.type, sa.JSON))


async def job_create(conn: AsyncConnection, rows: list[JobRow]) -> None:
    """Insert new one-off jobs with ONE statement, keyed or not (the create path).

    A row whose idempotency key is taken is skipped by ``ON CONFLICT DO NOTHING`` (no
    savepoint), and :class:`UniqueViolation` names the first such key (in ``rows`` order).
    One statement is atomic on its own: a single job, or a batch without keys, needs no
    transaction around it (``Database.statement``: on PostgreSQL one round trip instead of
    ``BEGIN``/``INSERT``/``COMMIT``). The rows of a batch that did go in stay in, though, so a
    batch holding a key must run in a transaction, which the raised error rolls back.
    """
    if not rows:
        return
    _check_initial(rows)
    keyed = any(row["idempotency_key"] is not None for row in rows)
    suffix = _KEYED_SUFFIX if keyed else ""
    if len(rows) == 1 and (keyed or is_postgres(conn)):
        inserted = await _insert_one(conn, rows[0], suffix)
    elif is_postgres(conn) or not keyed:
        # PostgreSQL: one statement over unnest; SQLite: one prepared INSERT, executemany.
        batch = cast(list[dict[str, Any]], rows)
        inserted = await insert_many(conn, jobs, batch, suffix=suffix)
    else:
        inserted = list((await conn.execute(_SQLITE_INSERT_KEYED, rows)).scalars())
    if keyed and len(inserted) < len(rows):
        went_in = set(inserted)
        taken = next(r for r in rows if r["idempotency_key"] and r["id"] not in went_in)
        raise UniqueViolation("idempotency_key", taken["idempotency_key"])


@functools.cache
def _values_sql(postgres: bool, columns: tuple[str, ...], suffix: str) -> str:
    """``INSERT INTO jobs (…) VALUES ($1, …) suffix`` (``?`` placeholders on SQLite)."""
    marks = [f"${n}" if postgres else "?" for n in range(1, len(columns) + 1)]
    placeholders = ", ".join(marks)
    return f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({placeholders}) {suffix}"


async def _insert_one(conn: AsyncConnection, row: JobRow, suffix: str) -> list[Any]:
    """One job as plain SQL with one scalar parameter per column (the single create is the
    hot case): cheaper to build, encode and plan than a Core statement or ``insert_many``'s
    one-element arrays. Returns the ids RETURNING gave, if ``suffix`` asks for them."""
    columns = tuple(row)
    postgres = is_postgres(conn)
    params: tuple[Any, ...]
    if postgres:  # JSON text as insert_many writes it (dialect.jsonb_text)
        params = tuple(
            jsonb_text(value) if name in _JSON_COLUMNS else value for name, value in row.items()
        )
    else:
        [params] = sqlite_params(jobs, [cast(dict[str, Any], row)], columns)
    result = await conn.exec_driver_sql(_values_sql(postgres, columns, suffix), params)
    return list(result.scalars()) if result.returns_rows else []


async def job_insert_fired(conn: AsyncConnection, rows: list[JobRow]) -> set[str]:
    """Insert jobs fired by schedules; a slot that already has its job is left alone.

    The partial unique index ``uq_jobs_schedule_slot`` makes this exactly-once across nodes.
    Returns the ids actually inserted.
    """
    if not rows:
        return set()
    _check_initial(rows)
    if is_postgres(conn):  # a round of the scheduler: one statement, plain SQL
        suffix = (
            f"ON CONFLICT (schedule_id, scheduled_for) WHERE {SCHEDULE_SLOT_PREDICATE} "
            "DO NOTHING RETURNING id"
        )
        return set(await insert_many(conn, jobs, cast(list[dict[str, Any]], rows), suffix=suffix))
    statement = (
        insert_for(conn, jobs)
        .on_conflict_do_nothing(
            index_elements=["schedule_id", "scheduled_for"],
            index_where=sa.text(SCHEDULE_SLOT_PREDICATE),
        )
        .returning(jobs.c.id)
    )
    # RETURNING with executemany: SQLAlchemy's insertmanyvalues.
    result = await conn.execute(statement, rows)
    return set(result.scalars().all())


async def job_get(conn: AsyncConnection, account_id: str, job_id: str) -> JobRow | None:
    row = (
        await conn.execute(
            sa.select(jobs).where(jobs.c.id == job_id, jobs.c.account_id == account_id)
        )
    ).first()
    return cast(JobRow, dict(row._mapping)) if row else None


async def job_list(
    conn: AsyncConnection,
    account_id: str,
    *,
    schedule_id: str | None = None,
    one_off_only: bool = False,
    status: str | None = None,
    handler: str | None = None,
    tags: dict[str, str] | None = None,
    trigger: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[JobRow], str | None]:
    """Newest first. The creation-time bounds are an id range on ``(account_id, id)``: ids
    sort by creation time."""
    query = sa.select(jobs).where(jobs.c.account_id == account_id)
    if one_off_only:
        query = query.where(jobs.c.schedule_id.is_(None))
    elif schedule_id:
        query = query.where(jobs.c.schedule_id == schedule_id)
    if status:
        query = query.where(jobs.c.status == status)
    if handler:
        query = query.where(jobs.c.handler == handler)
    if tags:
        query = query.where(tag_filter(conn, jobs.c.tags, tags))
    if trigger:
        query = query.where(jobs.c.trigger == trigger)
    if created_from is not None:
        query = query.where(jobs.c.id >= id_floor("job", _epoch_ms(created_from)))
    if created_to is not None:
        query = query.where(jobs.c.id < id_floor("job", _epoch_ms(created_to)))
    rows = await conn.execute(page(query, jobs.c.id, cursor, limit))
    return split_page([cast(JobRow, dict(r._mapping)) for r in rows], limit)


async def job_schedules_in_flight(
    conn: AsyncConnection, schedule_ids: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """For each schedule, its jobs that are still in flight (concurrency policy input). A
    backfill's jobs do not count: they run beside the schedule (and ``replace`` must not
    cancel a backfill's range at the next fire)."""
    ids = list(schedule_ids)
    if not ids:
        return {}
    rows = await conn.execute(
        sa.select(jobs.c.id, jobs.c.schedule_id, jobs.c.status).where(
            jobs.c.schedule_id.in_(ids),
            jobs.c.status.in_(values(IN_FLIGHT_JOB_STATUSES)),
            jobs.c.backfill_id.is_(None),
        )
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row.schedule_id, []).append(dict(row._mapping))
    return found


def _admitted_status(delivery_type: Any) -> Any:
    """``domain.jobs.admitted_status`` in SQL."""
    return sa.case(
        (delivery_type == DeliveryType.PUSH.value, JobStatus.QUEUED.value),
        else_=JobStatus.READY.value,
    )


async def job_admit_due(conn: AsyncConnection, now: datetime, limit: int) -> list[JobMoved]:
    """Move due ``pending`` jobs to ``ready`` (pull) or ``queued`` (push).

    Returns ``account_id``, ``handler`` and ``status`` of each job moved, for wake-ups.
    """
    due = skip_locked(
        conn,
        sa.select(jobs.c.id)
        .where(jobs.c.status == JobStatus.PENDING.value, jobs.c.run_at <= now)
        .order_by(jobs.c.run_at)
        .limit(limit),
    ).scalar_subquery()
    assert JobStatus.PENDING in sources_of(JobStatus.QUEUED) & sources_of(JobStatus.READY)
    result = await conn.execute(
        sa.update(jobs)
        .where(jobs.c.id.in_(due))
        .values(status=_admitted_status(jobs.c.delivery_type), updated_at=now)
        .returning(jobs.c.account_id, jobs.c.handler, jobs.c.status)
    )
    return [cast(JobMoved, dict(r._mapping)) for r in result]


async def job_next_pending_at(conn: AsyncConnection) -> datetime | None:
    return (
        await conn.execute(
            sa.select(sa.func.min(jobs.c.run_at)).where(jobs.c.status == JobStatus.PENDING.value)
        )
    ).scalar_one_or_none()


async def job_canceled_among(conn: AsyncConnection, job_ids: list[str]) -> list[str]:
    """Which of ``job_ids`` have been canceled (the dispatcher aborts their requests)."""
    if not job_ids:
        return []
    rows = await conn.execute(
        sa.select(jobs.c.id).where(
            jobs.c.id.in_(job_ids), jobs.c.status == JobStatus.CANCELED.value
        )
    )
    return [row.id for row in rows]


async def job_cancel(
    conn: AsyncConnection, account_id: str, job_id: str, now: datetime
) -> JobRow | None:
    """Cancel a job; a running one also has its execution canceled (its worker learns it from
    the heartbeat, and its late result is refused). None if the job can't be canceled.

    Like every path that touches both, this updates executions before jobs, so two
    transactions never wait on each other's rows in opposite orders.
    """
    await execution_cancel_running(conn, [job_id], now, account_id=account_id)
    result = await conn.execute(
        sa.update(jobs)
        .where(
            jobs.c.id == job_id,
            jobs.c.account_id == account_id,
            jobs.c.status.in_(values(CANCELABLE)),
        )
        .values(
            status=JobStatus.CANCELED.value,
            cancel_requested=sa.case((jobs.c.status == JobStatus.RUNNING.value, True), else_=False),
            finished_at=now,
            updated_at=now,
        )
        .returning(jobs.c.id)
    )
    if result.first() is None:
        return None
    return await job_get(conn, account_id, job_id)


async def job_cancel_many(conn: AsyncConnection, job_ids: list[str], now: datetime) -> None:
    """Cancel in-flight jobs (the ``replace`` concurrency policy)."""
    if not job_ids:
        return
    await execution_cancel_running(conn, job_ids, now)
    await conn.execute(
        sa.update(jobs)
        .where(jobs.c.id.in_(job_ids), jobs.c.status.in_(values(CANCELABLE)))
        .values(
            status=JobStatus.CANCELED.value,
            cancel_requested=sa.case((jobs.c.status == JobStatus.RUNNING.value, True), else_=False),
            finished_at=now,
            updated_at=now,
        )
    )


async def job_retry(
    conn: AsyncConnection, account_id: str, job_id: str, now: datetime
) -> JobRow | None:
    """Run a failed or canceled job again at once, with a fresh round of retries."""
    result = await conn.execute(
        sa.update(jobs)
        .where(
            jobs.c.id == job_id,
            jobs.c.account_id == account_id,
            jobs.c.status.in_(values(RETRYABLE_BY_USER)),
        )
        .values(
            status=_admitted_status(jobs.c.delivery_type),
            run_at=now,
            retry_base=jobs.c.attempt,
            cancel_requested=False,
            finished_at=None,
            updated_at=now,
        )
        .returning(jobs.c.id)
    )
    if result.first() is None:
        return None
    return await job_get(conn, account_id, job_id)


# What an attempt's outcome sets on its job (``JobOutcome``; its ``now`` is ``updated_at``).
_OUTCOME_COLUMNS = ("status", "run_at", "result", "last_error", "finished_at", "updated_at")


async def job_apply_outcomes(conn: AsyncConnection, outcomes: list[JobOutcome]) -> None:
    """Apply finished attempts to their jobs: ``completed``, ``failed`` or back to ``pending``.

    Only jobs still ``running`` change: a job canceled meanwhile keeps its status.
    """
    if not outcomes:
        return
    for outcome in outcomes:
        if JobStatus(outcome["status"]) not in ATTEMPT_OUTCOMES:
            raise IllegalTransition(f"an attempt cannot leave its job {outcome['status']}")
    rows = [{**o, "updated_at": o["now"]} for o in outcomes]
    await update_many(
        conn, jobs, rows, _OUTCOME_COLUMNS, guard=f"t.status = '{JobStatus.RUNNING.value}'"
    )


async def job_status_counts(conn: AsyncConnection, account_id: str) -> dict[str, int]:
    rows = await conn.execute(
        sa.select(jobs.c.status, sa.func.count())
        .where(jobs.c.account_id == account_id)
        .group_by(jobs.c.status)
    )
    return {str(row[0]): int(row[1]) for row in rows}


async def job_delete_finished_before(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` final jobs that finished before ``cutoff`` (their executions go
    with them, by cascade). Returns how many were deleted."""
    final = values(FINAL_JOB_STATUSES)
    batch = skip_locked(
        conn,
        sa.select(jobs.c.id)
        .where(jobs.c.status.in_(final), jobs.c.finished_at < cutoff)
        .order_by(jobs.c.finished_at)
        .limit(limit),
    ).scalar_subquery()
    result = await conn.execute(sa.delete(jobs).where(jobs.c.id.in_(batch)))
    return result.rowcount


def _epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)
