"""The schedule store, called directly, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chronos.server.clock import FakeClock
from chronos.server.domain.rows import ScheduleRow
from chronos.server.store import schedules as store
from chronos.server.store.db import Database
from chronos.server.store.errors import InvalidCursor, UniqueViolation
from chronos.server.store.jobs import job_insert_many, job_list
from tests.store.conftest import RowFactory, finish, next_id, postgres_only

S = timedelta(seconds=1)


def ids(rows: list[Any]) -> list[str]:
    return [row["id"] for row in rows]


async def insert(db: Database, *rows: ScheduleRow) -> None:
    async with db.transaction() as conn:
        for row in rows:
            await store.schedule_insert(conn, row)


async def get(db: Database, row: ScheduleRow) -> ScheduleRow | None:
    async with db.read() as conn:
        return await store.schedule_get(conn, row["account_id"], row["id"])


async def test_schedule_insert_stores_the_row_as_given(db: Database, schedule: RowFactory):
    row = schedule(tags={"team": "ops"}, last_status="completed")
    await insert(db, row)
    assert await get(db, row) == row


async def test_schedule_insert_taken_name_raises_and_keeps_the_transaction_usable(
    db: Database, schedule: RowFactory, account_id: str
):
    first, clash, other = schedule("nightly"), schedule("nightly"), schedule("hourly")
    await insert(db, first)
    async with db.transaction() as conn:
        with pytest.raises(UniqueViolation) as caught:
            await store.schedule_insert(conn, clash)
        await store.schedule_insert(conn, other)
    assert (caught.value.what, caught.value.value) == ("schedule_name", "nightly")
    async with db.read() as conn:
        listed, _ = await store.schedule_list(conn, account_id)
    assert ids(listed) == [other["id"], first["id"]]


async def test_schedule_insert_same_name_in_another_account_is_allowed(
    db: Database, schedule: RowFactory, other_account_id: str
):
    theirs = schedule("nightly", account_id=other_account_id)
    await insert(db, schedule("nightly"), theirs)
    assert await get(db, theirs) == theirs


async def test_schedule_get_finds_by_id_or_by_name_in_the_account_only(
    db: Database, schedule: RowFactory, account_id: str, other_account_id: str
):
    plain, sch_named = schedule("nightly"), schedule("sch_reports")
    # A name that is another schedule's id (the API refuses such names today; older rows may
    # hold one): the id wins.
    id_named = {**schedule("legacy"), "name": plain["id"]}
    await insert(db, plain, sch_named, id_named)
    async with db.read() as conn:
        found = {
            key: await store.schedule_get(conn, account_id, key)
            for key in (plain["id"], "nightly", "sch_reports", sch_named["id"])
        }
        assert await store.schedule_get(conn, other_account_id, plain["id"]) is None
        assert await store.schedule_get(conn, other_account_id, "nightly") is None
        assert await store.schedule_get(conn, account_id, "missing") is None
        assert await store.schedule_get(conn, account_id, next_id("sch")) is None
    assert {key: row["id"] if row else None for key, row in found.items()} == {
        plain["id"]: plain["id"],
        "nightly": plain["id"],
        "sch_reports": sch_named["id"],
        sch_named["id"]: sch_named["id"],
    }


async def test_schedule_get_for_update_returns_the_row(
    db: Database, schedule: RowFactory, account_id: str
):
    row = schedule("sch_named")
    await insert(db, row)
    async with db.transaction() as conn:
        assert await store.schedule_get(conn, account_id, row["id"], for_update=True) == row
        assert await store.schedule_get(conn, account_id, "sch_named", for_update=True) == row


@postgres_only
async def test_schedule_get_for_update_locks_the_row_against_the_scheduler(
    db: Database, schedule: RowFactory, clock: FakeClock, account_id: str
):
    locked, free = (
        schedule("a", next_run_at=clock.now() - S),
        schedule("b", next_run_at=clock.now()),
    )
    await insert(db, locked, free)
    async with db.transaction() as editing:
        await store.schedule_get(editing, account_id, "a", for_update=True)
        async with db.transaction() as scheduler:
            due = await store.schedule_lock_due(scheduler, clock.now(), limit=10)
    assert ids(due) == [free["id"]]


@pytest.fixture
async def listed(
    db: Database, schedule: RowFactory, other_account_id: str
) -> dict[str, ScheduleRow]:
    rows = {
        "ops": schedule("ops", tags={"team": "ops", "env": "prod"}),
        "mail": schedule("mail", handler="email", tags={"team": "growth"}),
        "paused": schedule("paused", state="paused", next_run_at=None, tags={"team": "ops"}),
        "theirs": schedule("theirs", account_id=other_account_id, tags={"team": "ops"}),
    }
    await insert(db, *rows.values())
    return rows


SCHEDULE_FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    ({}, ["paused", "mail", "ops"]),
    ({"state": "enabled"}, ["mail", "ops"]),
    ({"state": "paused"}, ["paused"]),
    ({"handler": "email"}, ["mail"]),
    ({"tags": {"team": "ops"}}, ["paused", "ops"]),
    ({"tags": {"team": "ops", "env": "prod"}}, ["ops"]),
    ({"tags": {"team": "ops", "env": "dev"}}, []),
    ({"state": "enabled", "tags": {"team": "ops"}}, ["ops"]),
]


async def test_schedule_list_filters_the_accounts_schedules(
    db: Database, listed: dict[str, ScheduleRow], account_id: str
):
    async with db.read() as conn:
        for filters, expected in SCHEDULE_FILTERS:
            rows, cursor = await store.schedule_list(conn, account_id, **filters)
            assert (ids(rows), cursor) == ([listed[n]["id"] for n in expected], None), filters


async def test_schedule_list_pages_newest_first_with_a_cursor(
    db: Database, schedule: RowFactory, account_id: str
):
    rows = [schedule(f"s{n}") for n in range(5)]
    await insert(db, *rows)
    newest_first = ids(rows[::-1])
    async with db.read() as conn:
        first, cursor = await store.schedule_list(conn, account_id, limit=3)
        second, end = await store.schedule_list(conn, account_id, cursor=cursor, limit=3)
        with pytest.raises(InvalidCursor):
            await store.schedule_list(conn, account_id, cursor="not a cursor")
    assert (ids(first), ids(second), end) == (newest_first[:3], newest_first[3:], None)


async def test_schedule_update_changes_the_given_columns(
    db: Database, schedule: RowFactory, clock: FakeClock
):
    row = schedule("nightly")
    await insert(db, row)
    changes = {"name": "renamed", "version": 2, "updated_at": clock.advance(seconds=9)}
    async with db.transaction() as conn:
        await store.schedule_update(conn, row["id"], changes)
    assert await get(db, row) == {**row, **changes}


async def test_schedule_update_rename_onto_a_taken_name_raises_and_changes_nothing(
    db: Database, schedule: RowFactory, other_account_id: str
):
    a, b = schedule("a"), schedule("b")
    theirs = schedule("c", account_id=other_account_id)
    await insert(db, a, b, theirs)
    async with db.transaction() as conn:
        with pytest.raises(UniqueViolation) as caught:
            await store.schedule_update(conn, b["id"], {"name": "a", "version": 2})
        await store.schedule_update(conn, a["id"], {"name": "c"})  # taken in another account only
    assert (caught.value.what, caught.value.value) == ("schedule_name", "a")
    assert [(r or {}).get("name") for r in (await get(db, a), await get(db, b))] == ["c", "b"]
    assert (await get(db, b) or {}).get("version") == 1


async def test_schedule_delete_deletes_the_accounts_schedule_and_its_versions_not_its_jobs(
    db: Database,
    schedule: RowFactory,
    pull_job: RowFactory,
    clock: FakeClock,
    account_id: str,
    other_account_id: str,
):
    row, kept = schedule("a"), schedule("b")
    job = pull_job(schedule_id=row["id"])
    await insert(db, row, kept)
    async with db.transaction() as conn:
        await store.schedule_version_insert(conn, row["id"], 1, row["spec"], clock.now())
        await job_insert_many(conn, [job])
    async with db.transaction() as conn:
        assert await store.schedule_delete(conn, other_account_id, row["id"]) is False
        assert await store.schedule_delete(conn, account_id, row["id"]) is True
        assert await store.schedule_delete(conn, account_id, row["id"]) is False
        versions = await store.schedule_version_list(conn, row["id"])
        jobs, _ = await job_list(conn, account_id, schedule_id=row["id"])
    assert (await get(db, row), await get(db, kept)) == (None, kept)
    assert (versions, ids(jobs)) == ([], [job["id"]])


# --- the scheduler's queries --------------------------------------------------------------------


async def test_schedule_lock_due_returns_enabled_due_schedules_earliest_first(
    db: Database, schedule: RowFactory, clock: FakeClock
):
    now = clock.now()
    late = schedule("late", next_run_at=now - 5 * S)
    on_time = schedule("on-time", next_run_at=now)
    later = schedule("later", next_run_at=now + S)
    paused = schedule("paused", state="paused", next_run_at=now - 9 * S)
    disabled = schedule("disabled", state="disabled", next_run_at=now - 9 * S)
    ended = schedule("ended", next_run_at=None)
    await insert(db, on_time, late, later, paused, disabled, ended)
    async with db.transaction() as conn:
        due = await store.schedule_lock_due(conn, now, limit=10)
        first = await store.schedule_lock_due(conn, now, limit=1)
    assert ids(due) == [late["id"], on_time["id"]]
    assert ids(first) == [late["id"]]
    assert due[0] == late


async def test_schedule_advance_many_sets_next_run_and_keeps_last_run_when_none_fired(
    db: Database, schedule: RowFactory, clock: FakeClock
):
    now = clock.now()
    fired = schedule("fired", last_run_at=now - 60 * S)
    idle = schedule("idle", last_run_at=now - 60 * S)
    ended = schedule("ended")
    untouched = schedule("untouched")
    await insert(db, fired, idle, ended, untouched)
    async with db.transaction() as conn:
        await store.schedule_advance_many(
            conn,
            [
                {"id": fired["id"], "next_run_at": now + 60 * S, "last_run_at": now},
                {"id": idle["id"], "next_run_at": now + 30 * S, "last_run_at": None},
                {"id": ended["id"], "next_run_at": None, "last_run_at": now},
            ],
        )
        await store.schedule_advance_many(conn, [])
    got = [await get(db, row) for row in (fired, idle, ended, untouched)]
    assert [(r["next_run_at"], r["last_run_at"]) for r in got if r] == [
        (now + 60 * S, now),
        (now + 30 * S, now - 60 * S),
        (None, now),
        (untouched["next_run_at"], None),
    ]
    async with db.transaction() as conn:  # the new times compare as times
        assert ids(await store.schedule_lock_due(conn, now + 30 * S, limit=10)) == [idle["id"]]


async def test_schedule_set_last_status_many_sets_each_schedules_status(
    db: Database, schedule: RowFactory
):
    a, b, c = schedule("a"), schedule("b"), schedule("c", last_status="failed")
    await insert(db, a, b, c)
    async with db.transaction() as conn:
        await store.schedule_set_last_status_many(conn, {a["id"]: "completed", b["id"]: "failed"})
        await store.schedule_set_last_status_many(conn, {})
    assert [(await get(db, r) or {}).get("last_status") for r in (a, b, c)] == [
        "completed",
        "failed",
        "failed",
    ]


async def test_schedule_next_due_at_is_the_earliest_enabled_next_run(
    db: Database, schedule: RowFactory, clock: FakeClock
):
    now = clock.now()
    async with db.read() as conn:
        assert await store.schedule_next_due_at(conn) is None
    await insert(
        db,
        schedule("a", next_run_at=now + 30 * S),
        schedule("b", next_run_at=now + 20 * S),
        schedule("paused", state="paused", next_run_at=now + S),
        schedule("ended", next_run_at=None),
    )
    async with db.read() as conn:
        assert await store.schedule_next_due_at(conn) == now + 20 * S


# --- versions and success rates -----------------------------------------------------------------


async def test_schedule_versions_are_stored_and_listed_newest_first(
    db: Database, schedule: RowFactory, clock: FakeClock
):
    row, other = schedule("a"), schedule("b")
    v1, v2 = row["spec"], {**row["spec"], "handler": "report-v2"}
    await insert(db, row, other)
    async with db.transaction() as conn:
        await store.schedule_version_insert(conn, row["id"], 1, v1, clock.now())
        await store.schedule_version_insert(conn, row["id"], 2, v2, clock.advance(seconds=60))  # type: ignore[arg-type]
        await store.schedule_version_insert(conn, other["id"], 1, other["spec"], clock.now())
    async with db.read() as conn:
        listed = await store.schedule_version_list(conn, row["id"])
        first = await store.schedule_version_get(conn, row["id"], 1)
        assert await store.schedule_version_get(conn, row["id"], 3) is None
    assert [(v["schedule_id"], v["version"], v["spec"]) for v in listed] == [
        (row["id"], 2, v2),
        (row["id"], 1, v1),
    ]
    assert first == {
        "schedule_id": row["id"],
        "version": 1,
        "spec": v1,
        "created_at": clock.now() - 60 * S,
    }


async def test_schedule_success_rates_count_the_last_20_completed_or_failed_jobs(
    db: Database, pull_job: RowFactory, clock: FakeClock
):
    a, b, quiet = next_id("sch"), next_id("sch"), next_id("sch")
    # Oldest first: 3 failed that fall out of a's window, then 5 failed and 15 completed.
    plan = [(a, "failed")] * 8 + [(a, "completed")] * 15 + [(b, "completed")] * 2
    async with db.transaction() as conn:
        for n, (schedule_id, status) in enumerate(plan):
            await finish(
                conn, pull_job(schedule_id=schedule_id, handler=f"h{n}"), status, clock.now()
            )
        # Newest of all: skipped and canceled jobs take no place in the window.
        await job_insert_many(
            conn,
            [pull_job(schedule_id=a, status=s) for s in ("skipped", "canceled") * 3]
            + [pull_job(schedule_id=quiet, status="skipped"), pull_job(schedule_id=a)],
        )
        rates = await store.schedule_success_rates(conn, [a, b, quiet, next_id("sch")])
        assert await store.schedule_success_rates(conn, []) == {}
    assert rates == {a: {"completed": 15, "failed": 5}, b: {"completed": 2, "failed": 0}}
