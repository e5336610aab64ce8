"""The workers page's queries (``store/workers.py``) and the jobs list's creation-time and
trigger filters (``job_list``), called directly, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chronos.server.clock import FakeClock
from chronos.server.domain.rows import ClaimedJob
from chronos.server.ids import new_id
from chronos.server.store import jobs as job_store
from chronos.server.store import workers as store
from chronos.server.store.claims import job_claim_queued, job_claim_ready
from chronos.server.store.db import Database
from chronos.server.store.executions import execution_finish_many
from tests.store.conftest import RowFactory, finish

S = timedelta(seconds=1)


async def claim_as(db: Database, row: Any, worker_id: str, now: Any) -> ClaimedJob:
    async with db.transaction() as conn:
        await job_store.job_insert(conn, row)
        [claimed] = await job_claim_ready(
            conn,
            account_id=row["account_id"],
            handlers=[row["handler"]],
            limit=1,
            worker_id=worker_id,
            now=now,
        )
    return claimed


async def test_worker_running_counts_counts_each_workers_running_executions(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str, other_account_id: str
):
    now = clock.now()
    for _ in range(2):
        await claim_as(db, pull_job(), "busy", now)
    await claim_as(db, pull_job(account_id=other_account_id), "busy", now)  # not ours
    async with db.transaction() as conn:
        await finish(conn, pull_job(), "completed", now)  # claimed by w1, then finished
    async with db.read() as conn:
        counts = await store.worker_running_counts(conn, account_id, ["busy", "w1", "idle"])
        assert counts == {"busy": 2}
        assert await store.worker_running_counts(conn, account_id, []) == {}
        theirs = await store.worker_running_counts(conn, other_account_id, ["busy"])
        assert theirs == {"busy": 1}


async def push_finished(
    db: Database, row: Any, now: Any, *, status: str = "completed", duration_ms: int = 10
) -> ClaimedJob:
    async with db.transaction() as conn:
        await job_store.job_insert(conn, row)
        [claimed] = await job_claim_queued(
            conn, limit=1, node_id="node", now=now, lease_margin=30, account_id=row["account_id"]
        )
        await execution_finish_many(
            conn,
            [
                {
                    "id": claimed["execution_id"],
                    "status": status,
                    "finished_at": now,
                    "duration_ms": duration_ms,
                    "output": None,
                    "error": None,
                    "http_status": 200 if status == "completed" else 500,
                    "response_excerpt": None,
                }
            ],
        )
    return claimed


async def test_push_executions_recent_reads_finished_pushes_newest_first(
    db: Database,
    push_job: RowFactory,
    pull_job: RowFactory,
    clock: FakeClock,
    account_id: str,
    other_account_id: str,
):
    now = clock.now()
    await push_finished(db, push_job(), now, duration_ms=5)
    await push_finished(db, push_job(), now, status="failed", duration_ms=7)
    await push_finished(db, push_job(account_id=other_account_id), now)
    async with db.transaction() as conn:
        await finish(conn, pull_job(), "completed", now)  # a pull execution: not a push
    async with db.read() as conn:
        # Started since (an id range; execution ids carry the wall clock's time, later than
        # the test clock's) and finished since (the test clock's).
        recent = await store.push_executions_recent(
            conn, account_id, since=now - 3600 * S, limit=10
        )
        assert [(s["status"], s["duration_ms"]) for s in recent] == [
            ("failed", 7),
            ("completed", 5),
        ]
        assert recent[0]["delivery"]["http"]["url"] == "https://example.test/hook"
        limited = await store.push_executions_recent(
            conn, account_id, since=now - 3600 * S, limit=1
        )
        assert len(limited) == 1
        later = await store.push_executions_recent(conn, account_id, since=now + S, limit=10)
        assert later == []


async def test_job_list_selects_a_creation_range_by_id_and_a_trigger(
    db: Database, pull_job: RowFactory, account_id: str
):
    base = 1_800_000_000_000
    made = [
        pull_job(id=new_id("job", at_ms=base + n * 1000), trigger=trigger)
        for n, trigger in enumerate(["api", "manual", "api", "api"])
    ]
    async with db.transaction() as conn:
        await job_store.job_insert_many(conn, made)
    start = datetime.fromtimestamp((base + 1000) / 1000, UTC)  # the second job's id time
    end = start + 2 * S
    async with db.read() as conn:
        rows, _ = await job_store.job_list(
            conn, account_id, created_from=start, created_to=end, limit=10
        )
        assert [r["id"] for r in rows] == [made[2]["id"], made[1]["id"]]
        rows, _ = await job_store.job_list(conn, account_id, trigger="manual", limit=10)
        assert [r["id"] for r in rows] == [made[1]["id"]]
        rows, _ = await job_store.job_list(
            conn, account_id, created_from=start, trigger="api", limit=10
        )
        assert [r["id"] for r in rows] == [made[3]["id"], made[2]["id"]]
