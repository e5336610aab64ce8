"""The schedules list's store queries: searching names, and the runs of a history strip."""

from __future__ import annotations

from datetime import timedelta

from chronos.server.clock import FakeClock
from chronos.server.store import schedules as store
from chronos.server.store.db import Database
from chronos.server.store.jobs import job_insert_many
from tests.store.conftest import RowFactory, finish, next_id

S = timedelta(seconds=1)


async def test_schedule_list_search_is_a_case_insensitive_substring_with_literal_wildcards(
    db: Database, schedule: RowFactory, account_id: str, other_account_id: str
):
    names = ["Nightly Report", "nightly-backup", "hourly", "100%_done", "100x done", r"a\b"]
    async with db.transaction() as conn:
        for name in names:
            await store.schedule_insert(conn, schedule(name))
        await store.schedule_insert(conn, schedule("nightly", account_id=other_account_id))

    async def found(search: str) -> list[str]:
        async with db.read() as conn:
            rows, _ = await store.schedule_list(conn, account_id, search=search)
        return sorted(row["name"] for row in rows)

    assert await found("NIGHTLY") == ["Nightly Report", "nightly-backup"]
    assert await found("ly r") == ["Nightly Report"]
    assert await found("%") == ["100%_done"]
    assert await found("_") == ["100%_done"]
    assert await found("0%_d") == ["100%_done"]
    assert await found("\\") == [r"a\b"]
    assert await found("missing") == []
    assert await found("") == sorted(names)


async def test_schedule_recent_runs_are_the_latest_slots_of_each_schedule_oldest_first(
    db: Database, pull_job: RowFactory, account_id: str, other_account_id: str, clock: FakeClock
):
    busy, quiet, foreign = next_id("sch"), next_id("sch"), next_id("sch")
    start = clock.now()
    # Inserted newest slot first, so the order comes from the query, not from insertion.
    rows = [
        pull_job(schedule_id=busy, scheduled_for=start + n * S, status="skipped")
        for n in reversed(range(8))
    ]
    rows += [pull_job(schedule_id=foreign, account_id=other_account_id, scheduled_for=start)]
    rows += [pull_job()]  # a one-off job belongs to no schedule
    failed = pull_job(schedule_id=quiet, scheduled_for=start, handler="alone")
    async with db.transaction() as conn:
        await job_insert_many(conn, rows)
        await finish(conn, failed, "failed", clock.now())
    async with db.read() as conn:
        runs = await store.schedule_recent_runs(conn, account_id, [busy, quiet, foreign], 5)
        assert await store.schedule_recent_runs(conn, account_id, [], 5) == []
    assert [(r["schedule_id"], r["scheduled_for"]) for r in runs if r["schedule_id"] == busy] == [
        (busy, start + n * S) for n in range(3, 8)
    ]
    assert [(r["id"], r["status"]) for r in runs if r["schedule_id"] == quiet] == [
        (failed["id"], "failed")
    ]
    assert {r["schedule_id"] for r in runs} == {busy, quiet}
    assert set(runs[0]) == {"id", "schedule_id", "status", "scheduled_for"}
