"""The batch paths of the hot loop, on SQLite and PostgreSQL: completing many executions at
once (``execution_complete_many``), and ``dialect``'s plain-SQL batch statements, whose values
on SQLite must be stored and read exactly as SQLAlchemy stores and reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from chronos.server.clock import FakeClock
from chronos.server.store import dialect
from chronos.server.store import executions as store
from chronos.server.store import jobs as job_store
from chronos.server.store.db import Database
from chronos.server.store.executions import Completion
from chronos.server.store.schedules import schedule_insert
from chronos.server.store.tables import executions, jobs, schedules
from tests.store.conftest import RowFactory, finish, next_id, start

S = timedelta(seconds=1)


async def read(db: Database, table: sa.Table, row_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(table).where(table.c.id == row_id))).one()
    return dict(row._mapping)


async def test_execution_complete_many_completes_running_executions_jobs_and_schedules(
    db: Database,
    pull_job: RowFactory,
    schedule: RowFactory,
    clock: FakeClock,
    account_id: str,
    other_account_id: str,
):
    nightly = schedule()
    timed, untimed = pull_job(handler="a", schedule_id=nightly["id"]), pull_job(handler="b")
    done_before, canceled, theirs = (
        pull_job(handler="c"),
        pull_job(handler="d"),
        pull_job(handler="e", account_id=other_account_id),
    )
    started_at = clock.now()
    async with db.transaction() as conn:
        await schedule_insert(conn, nightly)
        a, b, d, e = [
            await start(conn, row, started_at) for row in (timed, untimed, canceled, theirs)
        ]
        c = await finish(conn, done_before, "failed", started_at)
        # A job that stopped running while its execution still runs (as a cancel racing the
        # result would leave it): the execution completes, the job keeps its status.
        await conn.execute(
            sa.update(jobs).where(jobs.c.id == canceled["id"]).values(status="canceled")
        )
    now = started_at + timedelta(seconds=2, microseconds=345_678)
    completions = [
        Completion(a["execution_id"], {"rows": [1, "é"]}, 120),
        Completion(b["execution_id"], None, None),  # no duration: now - started_at
        Completion(c["execution_id"], None, 5),  # failed already: left alone
        Completion(next_id("exe"), None, 5),  # unknown: left alone
        Completion(d["execution_id"], "x", 7),
        Completion(e["execution_id"], None, 5),  # another account's: left alone
    ]
    async with db.statement() as conn:
        completed = await store.execution_complete_many(conn, account_id, completions, now)

    assert sorted(row["id"] for row in completed) == sorted(
        [a["execution_id"], b["execution_id"], d["execution_id"]]
    )
    by_id = {row["id"]: row for row in completed}
    assert {k: v for k, v in by_id[a["execution_id"]].items() if k != "retry_policy"} == {
        "id": a["execution_id"],
        "status": "running",  # as it was
        "started_at": started_at,
        "job_id": timed["id"],
        "account_id": account_id,
        "attempt": 1,
        "schedule_id": nightly["id"],
        "run_at": timed["run_at"],
        "retry_base": 0,
        "max_retries": timed["max_retries"],
        "traceparent": None,
    }
    first = await read(db, executions, a["execution_id"])
    assert (first["status"], first["finished_at"], first["duration_ms"]) == ("completed", now, 120)
    assert (first["output"], first["error"], first["lease_expires_at"]) == (
        {"rows": [1, "é"]},
        None,
        None,
    )
    assert (await read(db, executions, b["execution_id"]))["duration_ms"] == 2345
    job_a, job_b = await read(db, jobs, timed["id"]), await read(db, jobs, untimed["id"])
    assert (job_a["status"], job_a["result"], job_a["finished_at"], job_a["updated_at"]) == (
        "completed",
        {"rows": [1, "é"]},
        now,
        now,
    )
    assert (job_b["status"], job_b["result"], job_b["last_error"]) == ("completed", None, None)
    assert (await read(db, schedules, nightly["id"]))["last_status"] == "completed"
    assert (await read(db, executions, d["execution_id"]))["status"] == "completed"
    assert (await read(db, jobs, canceled["id"]))["status"] == "canceled"
    assert (await read(db, executions, c["execution_id"]))["status"] == "failed"
    assert (await read(db, executions, e["execution_id"]))["status"] == "running"
    assert (await read(db, jobs, theirs["id"]))["status"] == "running"


async def test_execution_complete_many_twice_completes_once(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    async with db.transaction() as conn:
        job = await start(conn, pull_job(), clock.now())
    completion = [Completion(job["execution_id"], 1, 10)]
    async with db.statement() as conn:
        assert len(await store.execution_complete_many(conn, account_id, completion, clock.now()))
    async with db.statement() as conn:
        later = clock.now() + S
        assert await store.execution_complete_many(conn, account_id, completion, later) == []
    assert (await read(db, executions, job["execution_id"]))["finished_at"] == clock.now()


async def test_update_many_and_insert_many_store_what_sqlalchemy_reads_back(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    """Plain SQL on SQLite: aware datetimes (any zone) become UTC, JSON round-trips (None
    included), booleans read back as booleans — as through SQLAlchemy's own types."""
    async with db.transaction() as conn:
        job = await start(conn, pull_job(), clock.now())
    east = timezone(timedelta(hours=5, minutes=30))
    finished_at = datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=east)
    execution_id = next_id("exe")
    async with db.transaction() as conn:
        await dialect.insert_many(
            conn,
            executions,
            [
                {
                    "id": execution_id,
                    "job_id": job["id"],
                    "account_id": account_id,
                    "attempt": 2,
                    "status": "running",
                    "started_at": clock.now(),
                    "worker_id": None,
                    "lease_expires_at": datetime(2030, 1, 1, tzinfo=UTC),
                }
            ],
        )
        await dialect.update_many(
            conn,
            executions,
            [
                {"id": execution_id, "finished_at": finished_at, "output": [1, {"a": None}]},
                {"id": next_id("exe"), "finished_at": finished_at, "output": None},  # no row
            ],
            ("finished_at", "output"),
            guard="t.status = 'running'",
            sets=(("lease_expires_at", "NULL"),),
        )
        await dialect.update_many(
            conn,
            jobs,
            [{"id": job["id"], "cancel_requested": True, "last_error": None}],
            ("cancel_requested", "last_error"),
        )
    stored = await read(db, executions, execution_id)
    assert stored["finished_at"] == finished_at
    assert stored["finished_at"].tzinfo == UTC
    assert (stored["started_at"], stored["output"], stored["lease_expires_at"]) == (
        clock.now(),
        [1, {"a": None}],
        None,
    )
    row = await read(db, jobs, job["id"])
    assert (row["cancel_requested"], row["last_error"]) == (True, None)


async def test_execution_lock_many_reads_what_sqlalchemy_wrote(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    policy = {"initial_interval": 2.5, "max_interval": 60.0, "multiplier": 3.0, "jitter": False}
    async with db.transaction() as conn:
        job = await start(conn, pull_job(retry_policy=policy), clock.now())
        locked = await store.execution_lock_many(conn, account_id, [job["execution_id"]])
    row = locked[job["execution_id"]]
    assert (row["started_at"], row["retry_policy"]) == (clock.now(), policy)
    assert row["started_at"].tzinfo == UTC


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_plain_sql_refuses_a_naive_datetime(db: Database, account_id: str):
    async with db.transaction() as conn:
        with pytest.raises(ValueError, match="naive"):
            await dialect.update_many(
                conn,
                executions,
                [{"id": "exe_x", "finished_at": datetime(2030, 1, 1)}],
                ("finished_at",),
            )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_insert_many_cannot_return_rows(db: Database):
    async with db.transaction() as conn:
        with pytest.raises(ValueError, match="cannot return rows"):
            await dialect.insert_many(conn, schedules, [{"id": "x"}], suffix="RETURNING id")


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"a": [1, 2.5, "é", True, None]},
        {"beyond_64_bits": 2**70, "negative": -(2**70)},  # orjson refuses these; json takes them
        {"deep": [[[[[[[[[[{"x": 1}]]]]]]]]]]},
    ],
)
async def test_jsonb_values_go_in_and_come_back_as_given(
    db: Database, pull_job: RowFactory, value: Any
):
    # Through insert_many (the scheduler's round) and the single create (one statement).
    batched, single = pull_job(payload=value), pull_job(payload=value)
    async with db.transaction() as conn:
        await dialect.insert_many(conn, jobs, [dict(batched)])
        await job_store.job_create(conn, [single])
    assert (await read(db, jobs, batched["id"]))["payload"] == value
    assert (await read(db, jobs, single["id"]))["payload"] == value
