"""The transition table in ``domain/states.py`` is what the store does.

Every store operation that changes a job's or an execution's status is run against one job in
every status (pull and push), on both databases. Every move it makes must be allowed by
``JOB_TRANSITIONS`` / ``EXECUTION_TRANSITIONS``, and every move the table allows (but the
conceptual ``admitting`` step) must be made by some operation: the table and the SQL cannot
drift apart in either direction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server.clock import FakeClock
from chronos.server.domain.jobs import Result, job_from_spec
from chronos.server.domain.rows import JobOutcome, JobRow
from chronos.server.domain.states import (
    EXECUTION_TRANSITIONS,
    JOB_INITIAL_STATUSES,
    JOB_TRANSITIONS,
    ExecutionStatus,
    IllegalTransition,
    JobStatus,
)
from chronos.server.ids import new_id
from chronos.server.normalize import normalize_job
from chronos.server.notifier import Notifier
from chronos.server.schemas import JobIn
from chronos.server.services.executions import ExecutionService, Report
from chronos.server.store import accounts as account_store
from chronos.server.store import backfills as backfill_store
from chronos.server.store import claims
from chronos.server.store import executions as execution_store
from chronos.server.store import jobs as job_store
from chronos.server.store import releases as release_store
from chronos.server.store.db import Database
from chronos.server.store.tables import executions, jobs

HANDLER = "transitions"
PUSH = {"type": "push", "http": {"url": "https://example.com/hook"}}

Move = tuple[str, str]


def _spec(delivery: dict[str, Any]) -> Any:
    return normalize_job(
        JobIn.model_validate({"handler": HANDLER, "delivery": delivery, "timeout": 30}),
        max_payload_bytes=65536,
    )


class World:
    """One job in every status, pull and push; running ones hold a running execution."""

    def __init__(self, db: Database, clock: FakeClock, account_id: str) -> None:
        self.db = db
        self.clock = clock
        self.account_id = account_id
        self.jobs: dict[str, JobRow] = {}
        self.execution_of: dict[str, str] = {}

    async def populate(self) -> None:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await conn.execute(sa.delete(jobs))
            for delivery in ({"type": "pull"}, PUSH):
                for status in JobStatus:
                    row = job_from_spec(_spec(delivery), account_id=self.account_id, now=now)
                    row.update(
                        status=status.value,
                        run_at=now - timedelta(seconds=1),
                        attempt=1 if status is not JobStatus.PENDING else 0,
                        finished_at=now if status in _FINAL else None,
                    )
                    # Straight into the table: the store refuses to create most of these.
                    await conn.execute(sa.insert(jobs).values(**row))
                    self.jobs[row["id"]] = row
                    if status is JobStatus.RUNNING:
                        self.execution_of[row["id"]] = await _running_execution(conn, row, now)

    async def job_statuses(self) -> dict[str, str]:
        async with self.db.read() as conn:
            rows = await conn.execute(sa.select(jobs.c.id, jobs.c.status))
            return {row.id: row.status for row in rows}

    async def execution_statuses(self) -> dict[str, str]:
        async with self.db.read() as conn:
            rows = await conn.execute(sa.select(executions.c.id, executions.c.status))
            return {row.id: row.status for row in rows}


_FINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.SKIPPED}


async def _running_execution(conn: AsyncConnection, job: JobRow, now: datetime) -> str:
    execution_id = new_id("exe")
    await conn.execute(
        sa.insert(executions).values(
            id=execution_id,
            job_id=job["id"],
            account_id=job["account_id"],
            attempt=1,
            status=ExecutionStatus.RUNNING.value,
            started_at=now,
            lease_expires_at=now + timedelta(seconds=30),
        )
    )
    return execution_id


def _outcomes(world: World, status: JobStatus) -> list[JobOutcome]:
    now = world.clock.now()
    return [
        {
            "id": job_id,
            "status": status.value,
            "run_at": now,
            "result": None,
            "last_error": None,
            "finished_at": None if status is JobStatus.PENDING else now,
            "now": now,
        }
        for job_id in world.jobs
    ]


async def _each_job(
    world: World, operation: Callable[[AsyncConnection, str], Awaitable[Any]]
) -> None:
    for job_id in world.jobs:
        async with world.db.transaction() as conn:
            await operation(conn, job_id)


def _operations(world: World) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Every store operation (and service path) that moves jobs or executions."""
    db, account_id = world.db, world.account_id
    later = world.clock.now() + timedelta(hours=1)
    executions_service = ExecutionService(db, world.clock, Notifier())

    async def in_tx(work: Callable[[AsyncConnection], Awaitable[Any]]) -> None:
        async with db.transaction() as conn:
            await work(conn)

    def apply(status: JobStatus) -> Callable[[], Awaitable[Any]]:
        return lambda: in_tx(lambda c: job_store.job_apply_outcomes(c, _outcomes(world, status)))

    def report(status: ExecutionStatus) -> Callable[[], Awaitable[Any]]:
        return lambda: executions_service.finish(
            None,
            [Report(e, Result(status, retryable=False)) for e in world.execution_of.values()],
        )

    async def expire() -> None:
        world.clock.advance(hours=1)
        await executions_service.expire_leases(limit=100)

    return {
        "job_admit_due": lambda: in_tx(lambda c: job_store.job_admit_due(c, later, 100)),
        "job_claim_ready": lambda: in_tx(
            lambda c: claims.job_claim_ready(
                c, account_id=account_id, handlers=[HANDLER], limit=100, worker_id="w", now=later
            )
        ),
        "job_claim_queued": lambda: in_tx(
            lambda c: claims.job_claim_queued(c, limit=100, node_id="n", now=later, lease_margin=10)
        ),
        "job_cancel": lambda: _each_job(
            world, lambda c, job_id: job_store.job_cancel(c, account_id, job_id, later)
        ),
        "job_cancel_many": lambda: in_tx(
            lambda c: job_store.job_cancel_many(c, list(world.jobs), later)
        ),
        "job_retry": lambda: _each_job(
            world, lambda c, job_id: job_store.job_retry(c, account_id, job_id, later)
        ),
        "job_rerun_many": lambda: in_tx(
            lambda c: backfill_store.job_rerun_many(c, list(world.jobs), "bfl_1", later)
        ),
        "job_apply_outcomes completed": apply(JobStatus.COMPLETED),
        "job_apply_outcomes failed": apply(JobStatus.FAILED),
        "job_apply_outcomes pending": apply(JobStatus.PENDING),
        "finish completed": report(ExecutionStatus.COMPLETED),
        "finish failed": report(ExecutionStatus.FAILED),
        "expire_leases": expire,
        "job_release_running": lambda: in_tx(
            lambda c: release_store.job_release_running(c, list(world.execution_of.values()), later)
        ),
    }


@pytest.fixture
async def world(db: Database, clock: FakeClock) -> World:
    async with db.transaction() as conn:
        account = await account_store.account_create(conn, "transitions", clock.now())
    return World(db, clock, account["id"])


async def test_every_store_move_is_in_the_table_and_every_table_move_is_made(world):
    job_moves: set[Move] = set()
    execution_moves: set[Move] = set()
    for name, operation in _operations(world).items():
        await world.populate()
        jobs_before = await world.job_statuses()
        executions_before = await world.execution_statuses()
        await operation()
        jobs_after = await world.job_statuses()
        executions_after = await world.execution_statuses()
        for job_id, before in jobs_before.items():
            after = jobs_after[job_id]
            if after != before:
                assert JobStatus(after) in JOB_TRANSITIONS[JobStatus(before)], (
                    f"{name} moved a job {before} → {after}, which JOB_TRANSITIONS forbids"
                )
                job_moves.add((before, after))
        for execution_id, before in executions_before.items():
            after = executions_after[execution_id]
            if after != before:
                assert ExecutionStatus(after) in EXECUTION_TRANSITIONS[ExecutionStatus(before)], (
                    f"{name} moved an execution {before} → {after}"
                )
                execution_moves.add((before, after))

    allowed = {
        (source.value, target.value)
        for source, targets in JOB_TRANSITIONS.items()
        if source is not JobStatus.ADMITTING  # never at rest: jobs are created past it
        for target in targets
    }
    made = {move for move in job_moves if move[0] != JobStatus.ADMITTING}
    assert made == allowed, (
        f"moves the table allows but no store operation makes: {sorted(allowed - made)}"
    )
    # Executions only leave ``running``; a cancel, a result and an expiry each end one.
    assert execution_moves == {
        ("running", "completed"),
        ("running", "failed"),
        ("running", "canceled"),
        ("running", "timeout"),
    }


@pytest.mark.parametrize("status", list(JobStatus))
async def test_jobs_are_created_only_in_initial_statuses(db, clock, world, status):
    row = job_from_spec(_spec({"type": "pull"}), account_id=world.account_id, now=clock.now())
    row["status"] = status.value
    inserts = {
        "job_insert": lambda c: job_store.job_insert(c, row),
        "job_insert_many": lambda c: job_store.job_insert_many(c, [row]),
        "job_insert_fired": lambda c: job_store.job_insert_fired(c, [row]),
    }
    for name, insert in inserts.items():
        row["id"] = new_id("job")
        if status in JOB_INITIAL_STATUSES:
            async with db.transaction() as conn:
                await insert(conn)
            assert (await world.job_statuses())[row["id"]] == status.value, name
        else:
            with pytest.raises(IllegalTransition):
                async with db.transaction() as conn:
                    await insert(conn)
            assert row["id"] not in await world.job_statuses(), name


async def test_a_running_job_cannot_be_given_a_status_the_table_forbids(world):
    await world.populate()
    before = await world.job_statuses()
    with pytest.raises(IllegalTransition):
        async with world.db.transaction() as conn:
            # running → skipped: a move the table never allows
            await job_store.job_apply_outcomes(conn, _outcomes(world, JobStatus.SKIPPED))
    assert await world.job_statuses() == before


async def test_an_execution_cannot_be_finished_as_running(world):
    await world.populate()
    execution_id = next(iter(world.execution_of.values()))
    with pytest.raises(IllegalTransition):
        async with world.db.transaction() as conn:
            await execution_store.execution_finish_many(
                conn,
                [
                    {
                        "id": execution_id,
                        "status": ExecutionStatus.RUNNING.value,
                        "finished_at": world.clock.now(),
                        "duration_ms": 0,
                        "output": None,
                        "error": None,
                        "http_status": None,
                        "response_excerpt": None,
                    }
                ],
            )
