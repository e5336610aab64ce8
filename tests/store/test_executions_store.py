"""The execution store, called directly, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chronos.server.clock import FakeClock
from chronos.server.domain.rows import ClaimedJob, ExecutionEnd
from chronos.server.domain.states import IllegalTransition
from chronos.server.store import executions as store
from chronos.server.store.claims import job_claim_ready
from chronos.server.store.db import Database
from chronos.server.store.jobs import job_admit_due, job_apply_outcomes, job_cancel
from tests.store.conftest import RowFactory, finish, next_id, postgres_only, start

S = timedelta(seconds=1)


def end(execution_id: str, status: str, now: Any, **fields: Any) -> ExecutionEnd:
    return {
        "id": execution_id,
        "status": status,
        "finished_at": now,
        "duration_ms": 1500,
        "output": None,
        "error": None,
        "http_status": None,
        "response_excerpt": None,
        **fields,
    }


async def started(db: Database, *rows: Any, now: Any) -> list[ClaimedJob]:
    async with db.transaction() as conn:
        return [await start(conn, row, now) for row in rows]


async def test_execution_get_returns_the_accounts_execution_only(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str, other_account_id: str
):
    (job,) = await started(db, pull_job(), now=clock.now())
    async with db.read() as conn:
        row = await store.execution_get(conn, account_id, job["execution_id"])
        assert await store.execution_get(conn, other_account_id, job["execution_id"]) is None
        assert await store.execution_get(conn, account_id, next_id("exe")) is None
    assert row is not None
    assert (row["id"], row["job_id"], row["account_id"], row["status"], row["attempt"]) == (
        job["execution_id"],
        job["id"],
        account_id,
        "running",
        1,
    )


async def test_execution_list_for_job_lists_its_attempts_in_order(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    row, other = pull_job(), pull_job(handler="other")
    first, _ = await started(db, row, other, now=clock.now())
    async with db.transaction() as conn:
        await store.execution_finish_many(conn, [end(first["execution_id"], "failed", clock.now())])
        await job_apply_outcomes(
            conn,
            [
                {
                    "id": row["id"],
                    "status": "pending",
                    "run_at": clock.now(),
                    "result": None,
                    "last_error": None,
                    "finished_at": None,
                    "now": clock.now(),
                }
            ],
        )
        assert len(await job_admit_due(conn, clock.now(), limit=10)) == 1
        (second,) = await job_claim_ready(
            conn, account_id=account_id, handlers=["email"], limit=1, worker_id="w", now=clock.now()
        )
        listed = await store.execution_list_for_job(conn, row["id"])
        assert await store.execution_list_for_job(conn, next_id("job")) == []
    assert [(e["id"], e["attempt"], e["status"]) for e in listed] == [
        (first["execution_id"], 1, "failed"),
        (second["execution_id"], 2, "running"),
    ]


async def test_execution_lock_many_is_scoped_to_the_account_unless_none(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str, other_account_id: str
):
    mine, theirs = pull_job(max_retries=5), pull_job(account_id=other_account_id)
    a, b = await started(db, mine, theirs, now=clock.now())
    asked = [a["execution_id"], b["execution_id"], next_id("exe")]
    async with db.transaction() as conn:
        scoped = await store.execution_lock_many(conn, account_id, asked)
        everyone = await store.execution_lock_many(conn, None, asked)
    assert list(scoped) == [a["execution_id"]]
    assert sorted(everyone) == sorted([a["execution_id"], b["execution_id"]])
    assert scoped[a["execution_id"]] == {
        "id": a["execution_id"],
        "status": "running",
        "started_at": clock.now(),
        "job_id": mine["id"],
        "account_id": account_id,
        "attempt": 1,
        "schedule_id": None,
        "run_at": mine["run_at"],
        "retry_base": 0,
        "max_retries": 5,
        "retry_policy": mine["retry_policy"],
        "traceparent": None,  # the job was created while tracing was off
    }


async def test_execution_lock_expired_returns_running_expired_leases_oldest_first(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    at_20, at_10, at_25 = (
        pull_job(handler=h, timeout_seconds=t) for h, t in [("a", 20), ("b", 10), ("c", 25)]
    )
    at_60, canceled = (
        pull_job(handler="d", timeout_seconds=60),
        pull_job(handler="e", timeout_seconds=1),
    )
    jobs = await started(db, at_20, at_10, at_25, at_60, canceled, now=clock.now())
    async with db.transaction() as conn:
        await job_cancel(conn, account_id, canceled["id"], clock.now())
    now = clock.advance(seconds=25)  # at_25's lease ends exactly now: not yet expired
    async with db.transaction() as conn:
        expired = await store.execution_lock_expired(conn, now, limit=10)
        first = await store.execution_lock_expired(conn, now, limit=1)
    by_job = {job["id"]: job["execution_id"] for job in jobs}
    assert [e["id"] for e in expired] == [by_job[at_10["id"]], by_job[at_20["id"]]]
    assert [e["id"] for e in first] == [by_job[at_10["id"]]]
    assert expired[0]["job_id"] == at_10["id"]


@postgres_only
async def test_execution_lock_expired_skips_rows_another_transaction_holds(
    db: Database, pull_job: RowFactory, clock: FakeClock
):
    a, b = await started(
        db,
        pull_job(handler="a", timeout_seconds=10.0),
        pull_job(handler="b", timeout_seconds=20.0),
        now=clock.now(),
    )
    now = clock.advance(seconds=3600)
    async with db.transaction() as first:
        held = await store.execution_lock_expired(first, now, limit=1)
        async with db.transaction() as second:
            rest = await store.execution_lock_expired(second, now, limit=10)
    assert [e["id"] for e in held] + [e["id"] for e in rest] == [
        a["execution_id"],
        b["execution_id"],
    ]


async def test_execution_finish_many_records_the_end_of_running_executions_only(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    done, canceled = await started(db, pull_job(), pull_job(handler="x"), now=clock.now())
    async with db.transaction() as conn:
        await job_cancel(conn, account_id, canceled["id"], clock.now())
    now = clock.advance(seconds=2)
    async with db.transaction() as conn:
        await store.execution_finish_many(
            conn,
            [
                end(done["execution_id"], "completed", now, output={"ok": 1}, http_status=200),
                end(canceled["execution_id"], "completed", now, output={"late": True}),
            ],
        )
        await store.execution_finish_many(conn, [])
        finished = await store.execution_get(conn, account_id, done["execution_id"])
        untouched = await store.execution_get(conn, account_id, canceled["execution_id"])
    assert finished is not None and untouched is not None
    assert {k: finished[k] for k in ("status", "finished_at", "duration_ms", "output")} == {
        "status": "completed",
        "finished_at": now,
        "duration_ms": 1500,
        "output": {"ok": 1},
    }
    assert (finished["http_status"], finished["lease_expires_at"]) == (200, None)
    assert (untouched["status"], untouched["output"]) == ("canceled", None)


async def test_execution_finish_many_refuses_a_non_final_status(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    a, b = await started(db, pull_job(), pull_job(handler="b"), now=clock.now())
    batch = [
        end(a["execution_id"], "completed", clock.now()),
        end(b["execution_id"], "running", clock.now()),
    ]
    async with db.transaction() as conn:
        with pytest.raises(IllegalTransition):
            await store.execution_finish_many(conn, batch)
        rows = [await store.execution_get(conn, account_id, j["execution_id"]) for j in (a, b)]
    assert [r["status"] for r in rows if r] == ["running", "running"]


async def test_execution_heartbeat_extends_a_running_lease_by_the_timeout(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str, other_account_id: str
):
    (job,) = await started(db, pull_job(timeout_seconds=30.0), now=clock.now())
    now = clock.advance(seconds=20)
    async with db.transaction() as conn:
        state = await store.execution_heartbeat(conn, account_id, job["execution_id"], now)
        assert (
            await store.execution_heartbeat(conn, other_account_id, job["execution_id"], now)
            is None
        )
        assert await store.execution_heartbeat(conn, account_id, next_id("exe"), now) is None
        row = await store.execution_get(conn, account_id, job["execution_id"])
    assert state == {
        "status": "running",
        "lease_expires_at": now + 30 * S,
        "cancel_requested": False,
        "worker_id": "w1",  # who claimed it, and for which handler: they keep it alive
        "handler": job["handler"],
    }
    assert row is not None and row["lease_expires_at"] == now + 30 * S


async def test_execution_heartbeat_of_a_canceled_execution_reports_cancel_without_a_lease(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    (job,) = await started(db, pull_job(), now=clock.now())
    async with db.transaction() as conn:
        await job_cancel(conn, account_id, job["id"], clock.now())
    async with db.transaction() as conn:
        state = await store.execution_heartbeat(
            conn, account_id, job["execution_id"], clock.advance(seconds=5)
        )
    assert state == {
        "status": "canceled",
        "lease_expires_at": None,
        "cancel_requested": True,
        "worker_id": "w1",
        "handler": job["handler"],
    }


async def test_execution_heartbeat_of_a_finished_execution_does_not_extend_it(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    row = pull_job()
    async with db.transaction() as conn:
        job = await finish(conn, row, "completed", clock.now())
    now = clock.advance(seconds=5)
    async with db.transaction() as conn:
        state = await store.execution_heartbeat(conn, account_id, job["execution_id"], now)
        stored = await store.execution_get(conn, account_id, job["execution_id"])
    assert state == {
        "status": "completed",
        "lease_expires_at": None,
        "cancel_requested": False,
        "worker_id": "w1",
        "handler": row["handler"],
    }
    assert stored is not None and stored["lease_expires_at"] is None


async def test_execution_cancel_running_cancels_only_those_jobs_running_executions(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    target, bystander, done = pull_job(handler="t"), pull_job(handler="b"), pull_job(handler="d")
    a, b = await started(db, target, bystander, now=clock.now())
    async with db.transaction() as conn:
        finished = await finish(conn, done, "completed", clock.now())
    now = clock.advance(seconds=4)
    async with db.transaction() as conn:
        await store.execution_cancel_running(conn, [target["id"], done["id"]], now)
        rows = [
            await store.execution_get(conn, account_id, job["execution_id"])
            for job in (a, b, finished)
        ]
    assert [(r["status"], r["finished_at"]) for r in rows if r] == [
        ("canceled", now),
        ("running", None),
        ("completed", clock.now() - 4 * S),
    ]
    assert rows[0] is not None
    assert rows[0]["error"] == {"type": "canceled", "message": "the job was canceled"}
