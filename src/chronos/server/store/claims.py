"""Claims: the hot path. Ready pull jobs go to workers, queued push jobs to the dispatcher.

On PostgreSQL a claim is one statement of plain SQL: ``UPDATE jobs SET
status = 'running' … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`` (so concurrent claimers
never block each other or get the same job), with the execution rows and their leases inserted
by a CTE of the same statement. SQLite (one writer) runs the update and the insert in turn,
also in plain SQL.
Both go through the partial indexes ``ix_jobs_claimable`` and ``ix_jobs_queued``, so the cost
follows the claimable jobs, not the table.

The dispatcher shares its delivery slots between accounts: it lists the accounts with queued
jobs (:func:`job_queued_accounts`, a loose scan of ``ix_jobs_queued``), then claims for each
account on its own (``job_claim_queued(account_id=…)``). A window function would do it in one
statement, but PostgreSQL refuses ``FOR UPDATE`` beside one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.domain.rows import ClaimedJob
from chronos.server.domain.states import ExecutionStatus, IllegalTransition, JobStatus, sources_of
from chronos.server.ids import new_ids
from chronos.server.store.dialect import (
    insert_many,
    is_postgres,
    row_dicts,
    sqlite_datetime,
    sqlite_readers,
    sqlite_row_dicts,
)
from chronos.server.store.tables import executions, jobs
from chronos.server.store.types import UTCDateTime

CLAIM_COLUMNS = (
    jobs.c.id,
    jobs.c.account_id,
    jobs.c.name,
    jobs.c.handler,
    jobs.c.payload,
    jobs.c.delivery,
    jobs.c.schedule_id,
    jobs.c.scheduled_for,
    jobs.c.run_at,
    jobs.c.attempt,
    jobs.c.timeout_seconds,
    jobs.c.trigger,
    jobs.c.tags,
    jobs.c.max_retries,
    jobs.c.created_at,
    jobs.c.traceparent,  # null unless the job was created while tracing was on
)

_CLAIM_READERS = sqlite_readers(CLAIM_COLUMNS)

# The columns of a claim's new execution rows, in the order the claim statement fills them.
_START_COLUMNS = (
    "id",
    "job_id",
    "account_id",
    "attempt",
    "status",
    "started_at",
    "worker_id",
    "lease_expires_at",
)


@dataclass(frozen=True)
class ClaimQuery:
    """What one claim takes: up to ``limit`` jobs in ``source`` status (of ``account_id`` and
    ``handlers`` when given; the handlers named once each), for ``worker_id``, at ``now``, each
    leased for its timeout plus ``lease_margin``."""

    source: JobStatus
    account_id: str | None
    handlers: tuple[str, ...] | None
    limit: int
    worker_id: str | None
    now: datetime
    lease_margin: float


async def _claim(
    conn: AsyncConnection,
    source: JobStatus,
    *,
    account_id: str | None,
    handlers: list[str] | None,
    limit: int,
    worker_id: str | None,
    now: datetime,
    lease_margin: float = 0.0,
) -> list[ClaimedJob]:
    """Move up to ``limit`` ``source`` jobs (of ``account_id`` and ``handlers`` when given) to
    ``running``, the oldest ``run_at`` first, each with a new execution and its lease."""
    if source not in sources_of(JobStatus.RUNNING):
        raise IllegalTransition(f"a {source} job cannot be claimed")
    if handlers is not None and not handlers:
        return []  # no handler named: nothing to claim
    query = ClaimQuery(
        source,
        account_id,
        tuple(dict.fromkeys(handlers)) if handlers is not None else None,
        limit,
        worker_id,
        now,
        lease_margin,
    )
    if is_postgres(conn):
        return await _claim_postgres(conn, query)
    return await _claim_sqlite(conn, query)


@functools.cache
def _claim_sql(source: JobStatus, *, by_account: bool, handler_count: int) -> str:
    """The PostgreSQL claim: one statement that moves the jobs, creates their executions and
    returns both. ``$1`` now, ``$2`` limit, ``$3`` the execution ids to use (``limit`` of
    them, in order), ``$4`` worker id, ``$5`` lease margin, ``$6`` account, ``$7`` the handler
    (or handlers, when ``handler_count`` > 1; 0: any handler).

    One handler is ``handler = $7``, not ``= ANY(…)``: only then can PostgreSQL walk
    ``ix_jobs_claimable`` in ``run_at`` order and stop at ``limit``, so a claim costs the same
    with a backlog of a million as of ten. Several handlers take the same walk once per handler
    (``LATERAL`` over ``unnest($7)``), each stopping at ``limit``, and the oldest ``limit`` of
    those are claimed: ``= ANY(…)`` would read every ready job of every handler to sort them.
    A handler's walk locks up to ``limit`` rows (a claim of 100 over 3 busy handlers locks up
    to 300 to take 100), and those the claim does not take stay locked until the statement
    ends (it runs alone, ``Database.statement``): a concurrent claim skips them and may find
    nothing, so a full claim over several handlers wakes the claims waiting for those handlers
    (``ExecutionService.claim``, on every node).
    """
    conditions = [f"status = '{source.value}'"]
    if by_account:
        conditions.append("account_id = $6")
    if handler_count == 1:
        conditions.append("handler = $7::text")
    elif handler_count > 1:
        conditions.append("handler = wanted.handler")
    walk = f"""FROM jobs WHERE {" AND ".join(conditions)}
        ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED"""
    oldest = f"SELECT id {walk}"
    if handler_count > 1:
        oldest = f"""SELECT each.id FROM unnest($7::text[]) AS wanted(handler)
        CROSS JOIN LATERAL (SELECT id, run_at {walk}) AS each
        ORDER BY each.run_at LIMIT $2"""
    returned = ", ".join(c.name for c in CLAIM_COLUMNS)
    lease = "$1::timestamptz + make_interval(secs => numbered.timeout_seconds + $5::float8)"
    started = ", ".join(_START_COLUMNS)
    return f"""
WITH claimed AS (
    UPDATE jobs
    SET status = '{JobStatus.RUNNING.value}', attempt = attempt + 1, updated_at = $1
    WHERE id IN (
        {oldest}
    )
    RETURNING {returned}
), numbered AS (
    SELECT claimed.*, row_number() OVER (ORDER BY run_at, id) AS n FROM claimed
), started AS (
    SELECT numbered.*, ids.execution_id, {lease} AS lease_expires_at
    FROM numbered JOIN unnest($3::text[]) WITH ORDINALITY AS ids(execution_id, n) USING (n)
), inserted AS (
    INSERT INTO executions ({started})
    SELECT execution_id, id, account_id, attempt, '{ExecutionStatus.RUNNING.value}', $1,
           $4::text, lease_expires_at
    FROM started
)
SELECT {returned}, execution_id, lease_expires_at FROM started ORDER BY n
"""


async def _claim_postgres(conn: AsyncConnection, query: ClaimQuery) -> list[ClaimedJob]:
    """The claim as one statement of plain SQL: the hottest path, where building and compiling
    SQLAlchemy statements cost more than running them. (``exec_driver_sql``: SQLAlchemy still
    wraps errors and invalidates a dead connection.)"""
    handlers = query.handlers or ()
    sql = _claim_sql(
        query.source, by_account=query.account_id is not None, handler_count=len(handlers)
    )
    ids = new_ids("exe", query.limit)
    args: list[Any] = [query.now, query.limit, ids, query.worker_id, query.lease_margin]
    if query.account_id is not None:
        args.append(query.account_id)
    if handlers:
        args.append(handlers[0] if len(handlers) == 1 else list(handlers))
    result = await conn.exec_driver_sql(sql, tuple(args))
    return cast(list[ClaimedJob], row_dicts(result))


@functools.lru_cache(maxsize=64)
def _claim_sqlite_sql(source: JobStatus, *, by_account: bool, handler_count: int) -> str:
    """The SQLite claim's update. Its parameters, in order: now, the account (if
    ``by_account``), the handlers (``handler_count`` of them; 0: any handler), the limit.
    SQLite has one writer (the caller holds it), so nothing needs locking."""
    conditions = [f"status = '{source.value}'"]
    if by_account:
        conditions.append("account_id = ?")
    if handler_count:
        conditions.append(f"handler IN ({', '.join('?' * handler_count)})")
    return f"""
UPDATE jobs SET status = '{JobStatus.RUNNING.value}', attempt = attempt + 1, updated_at = ?
WHERE id IN (SELECT id FROM jobs WHERE {" AND ".join(conditions)} ORDER BY run_at LIMIT ?)
RETURNING {", ".join(c.name for c in CLAIM_COLUMNS)}
"""


async def _claim_sqlite(conn: AsyncConnection, query: ClaimQuery) -> list[ClaimedJob]:
    """The claim on SQLite: the update of the jobs, then the insert of their executions, in
    plain SQL (two statements in the caller's write transaction). As on PostgreSQL, building
    statements and processing each row's values by type cost more than running them."""
    handlers, now = query.handlers or (), query.now
    sql = _claim_sqlite_sql(
        query.source, by_account=query.account_id is not None, handler_count=len(handlers)
    )
    args: list[Any] = [sqlite_datetime(now)]
    if query.account_id is not None:
        args.append(query.account_id)
    result = await conn.exec_driver_sql(sql, (*args, *handlers, query.limit))
    claimed = cast(list[ClaimedJob], sqlite_row_dicts(result, _CLAIM_READERS))
    if not claimed:
        return []
    claimed.sort(key=lambda j: (j["run_at"], j["id"]))
    started = []
    for job, execution_id in zip(claimed, new_ids("exe", len(claimed)), strict=True):
        job["execution_id"] = execution_id
        lease = timedelta(seconds=job["timeout_seconds"] + query.lease_margin)
        job["lease_expires_at"] = now + lease
        started.append(
            {
                "id": execution_id,
                "job_id": job["id"],
                "account_id": job["account_id"],
                "attempt": job["attempt"],
                "status": ExecutionStatus.RUNNING.value,
                "started_at": now,
                "worker_id": query.worker_id,
                "lease_expires_at": job["lease_expires_at"],
            }
        )
    await insert_many(conn, executions, started)
    return claimed


async def job_claim_ready(
    conn: AsyncConnection,
    *,
    account_id: str,
    handlers: list[str],
    limit: int,
    worker_id: str | None,
    now: datetime,
) -> list[ClaimedJob]:
    """Claim up to ``limit`` ready pull jobs of ``handlers`` for a worker of ``account_id``."""
    return await _claim(
        conn,
        JobStatus.READY,
        account_id=account_id,
        handlers=handlers,
        limit=limit,
        worker_id=worker_id,
        now=now,
    )


class QueuedAccount(NamedTuple):
    """An account with push jobs waiting for the dispatcher."""

    account_id: str
    queued: int  # how many of its jobs are queued, counted up to the ``cap`` asked for
    oldest_run_at: datetime  # the earliest ``run_at`` among them


# The accounts with queued jobs, by a loose scan of ``ix_jobs_queued`` (account_id, run_at):
# each step seeks the next account after the last one found, so the walk costs one index probe
# per account however many jobs each has queued. Per account, its oldest jobs up to the cap
# (a count that needs no more cannot grow with the backlog). :cap, :limit. PostgreSQL joins
# LATERAL; SQLite has no LATERAL and answers the same with correlated subqueries.
_QUEUED_ACCOUNTS_WALK = f"""
WITH RECURSIVE waiting(account_id) AS (
    SELECT min(account_id) FROM jobs WHERE status = '{JobStatus.QUEUED.value}'
    UNION ALL
    SELECT (SELECT min(account_id) FROM jobs
            WHERE status = '{JobStatus.QUEUED.value}' AND account_id > waiting.account_id)
    FROM waiting WHERE waiting.account_id IS NOT NULL
)"""
_OLDEST = f"""
    SELECT run_at FROM jobs
    WHERE status = '{JobStatus.QUEUED.value}' AND account_id = waiting.account_id
    ORDER BY run_at LIMIT :cap"""
_QUEUED_ACCOUNTS_POSTGRES = sa.text(f"""{_QUEUED_ACCOUNTS_WALK}
SELECT waiting.account_id, oldest.queued, oldest.run_at
FROM waiting CROSS JOIN LATERAL (
    SELECT count(*) AS queued, min(run_at) AS run_at FROM ({_OLDEST}) AS first_jobs
) AS oldest
WHERE waiting.account_id IS NOT NULL
ORDER BY oldest.run_at, waiting.account_id
LIMIT :limit
""")
_QUEUED_ACCOUNTS_SQLITE = sa.text(f"""{_QUEUED_ACCOUNTS_WALK}
SELECT account_id, queued, run_at FROM (
    SELECT waiting.account_id,
           (SELECT count(*) FROM ({_OLDEST})) AS queued,
           (SELECT min(run_at) FROM ({_OLDEST})) AS run_at
    FROM waiting WHERE waiting.account_id IS NOT NULL
)
ORDER BY run_at, account_id
LIMIT :limit
""").columns(sa.column("account_id"), sa.column("queued"), sa.column("run_at", UTCDateTime()))


async def job_queued_accounts(
    conn: AsyncConnection, *, limit: int, cap: int
) -> list[QueuedAccount]:
    """The accounts with queued push jobs, the one whose oldest job has waited longest first
    (then by id), at most ``limit`` of them; each with its queued jobs counted up to ``cap``
    (the dispatcher never takes more of one account in a round).

    The cost follows the accounts waiting, not the jobs queued: the dispatcher runs it once per
    claiming round, so with a backlog of a million it must not read a million rows.
    """
    query = _QUEUED_ACCOUNTS_POSTGRES if is_postgres(conn) else _QUEUED_ACCOUNTS_SQLITE
    rows = await conn.execute(query, {"cap": max(1, cap), "limit": limit})
    return [QueuedAccount(str(row[0]), int(row[1]), row[2]) for row in rows]


async def job_claim_queued(
    conn: AsyncConnection,
    *,
    limit: int,
    node_id: str,
    now: datetime,
    lease_margin: float,
    account_id: str | None = None,
) -> list[ClaimedJob]:
    """Claim up to ``limit`` queued push jobs for this node's dispatcher, the oldest first: of
    ``account_id`` only (``ix_jobs_queued`` in order), or of every account, which sorts the
    whole queued backlog (the dispatcher always names the account).

    The lease is the job's timeout plus ``lease_margin``: the request itself is bounded by the
    timeout, so only a dead node lets a lease expire.
    """
    return await _claim(
        conn,
        JobStatus.QUEUED,
        account_id=account_id,
        handlers=None,
        limit=limit,
        worker_id=node_id,
        now=now,
        lease_margin=lease_margin,
    )
