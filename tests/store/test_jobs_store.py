"""The job store, called directly, on SQLite and PostgreSQL (and its NOTIFY helpers)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from chronos.server.clock import FakeClock
from chronos.server.domain.jobs import job_from_schedule
from chronos.server.domain.rows import JobOutcome, JobRow
from chronos.server.domain.states import IllegalTransition, JobStatus, JobTrigger
from chronos.server.store import claims
from chronos.server.store import jobs as store
from chronos.server.store.accounts import account_create
from chronos.server.store.db import Database
from chronos.server.store.errors import InvalidCursor, UniqueViolation
from chronos.server.store.executions import execution_get, execution_list_for_job
from chronos.server.store.notify import asyncpg_dsn, notify_connect, notify_listen, notify_send
from chronos.server.store.pagination import encode_cursor
from tests.store.conftest import RowFactory, finish, next_id, postgres_only, start

S = timedelta(seconds=1)


def ids(rows: list[Any]) -> list[str]:
    return [row["id"] for row in rows]


async def insert(db: Database, *rows: JobRow) -> None:
    async with db.transaction() as conn:
        await store.job_insert_many(conn, list(rows))


async def get(db: Database, job: JobRow) -> JobRow:
    async with db.read() as conn:
        row = await store.job_get(conn, job["account_id"], job["id"])
    assert row is not None
    return row


async def statuses(db: Database, *jobs: JobRow) -> list[str]:
    return [(await get(db, job))["status"] for job in jobs]


def outcome(job_id: str, status: str, now: Any, **fields: Any) -> JobOutcome:
    return {
        "id": job_id,
        "status": status,
        "run_at": now,
        "result": None,
        "last_error": None,
        "finished_at": now,
        "now": now,
        **fields,
    }


# --- insert -------------------------------------------------------------------------------------


async def test_job_insert_stores_the_row_as_given(db: Database, pull_job: RowFactory):
    row = pull_job(payload={"to": "a@example.test"}, tags={"env": "prod"}, name="welcome")
    async with db.transaction() as conn:
        await store.job_insert(conn, row)
    assert await get(db, row) == row


async def test_job_insert_reused_idempotency_key_raises_and_keeps_the_transaction_usable(
    db: Database, pull_job: RowFactory
):
    first, again, other = pull_job(idempotency_key="k1"), pull_job(idempotency_key="k1"), pull_job()
    async with db.transaction() as conn:
        await store.job_insert(conn, first)
    async with db.transaction() as conn:
        with pytest.raises(UniqueViolation) as caught:
            await store.job_insert(conn, again)
        await store.job_insert(conn, other)
    assert (caught.value.what, caught.value.value) == ("idempotency_key", "k1")
    async with db.read() as conn:
        assert await store.job_get(conn, again["account_id"], again["id"]) is None
        listed, _ = await store.job_list(conn, first["account_id"])
    assert ids(listed) == [other["id"], first["id"]]


async def test_job_insert_idempotency_key_is_per_account(
    db: Database, pull_job: RowFactory, other_account_id: str
):
    mine, theirs = pull_job(idempotency_key="k1"), pull_job(idempotency_key="k1")
    theirs["account_id"] = other_account_id
    async with db.transaction() as conn:
        await store.job_insert(conn, mine)
        await store.job_insert(conn, theirs)
    assert (await get(db, theirs))["idempotency_key"] == "k1"


async def test_job_insert_refuses_a_status_a_job_cannot_be_created_in(
    db: Database, pull_job: RowFactory, account_id: str
):
    async with db.transaction() as conn:
        for status in ("running", "completed", "failed", "admitting"):
            with pytest.raises(IllegalTransition):
                await store.job_insert(conn, pull_job(status=status))
            with pytest.raises(IllegalTransition):
                await store.job_insert_many(conn, [pull_job(), pull_job(status=status)])
            with pytest.raises(IllegalTransition):
                await store.job_insert_fired(conn, [pull_job(status=status)])
        assert await store.job_list(conn, account_id) == ([], None)


async def test_job_insert_many_inserts_every_row(
    db: Database, pull_job: RowFactory, push_job: RowFactory, account_id: str
):
    rows = [pull_job(), push_job(), pull_job(status="canceled")]
    async with db.transaction() as conn:
        await store.job_insert_many(conn, rows)
        await store.job_insert_many(conn, [])
        listed, _ = await store.job_list(conn, account_id)
    assert listed == rows[::-1]


async def test_job_insert_fired_inserts_a_slot_once_and_returns_only_new_ids(
    db: Database, schedule: RowFactory, clock: FakeClock, account_id: str
):
    sch, now = schedule(), clock.now()
    slot1, slot2, slot3 = now, now + 60 * S, now + 120 * S

    def fired(slot: Any) -> JobRow:
        return {**job_from_schedule(sch, slot, now, status=JobStatus.PENDING), "id": next_id("job")}

    first, second = fired(slot1), fired(slot2)
    again, third, third_twice = fired(slot1), fired(slot3), fired(slot3)
    async with db.transaction() as conn:
        assert await store.job_insert_fired(conn, [first, second]) == {first["id"], second["id"]}
        assert await store.job_insert_fired(conn, [again, third, third_twice]) == {third["id"]}
        assert await store.job_insert_fired(conn, []) == set()
        listed, _ = await store.job_list(conn, account_id, schedule_id=sch["id"])
    assert ids(listed) == [third["id"], second["id"], first["id"]]


async def test_job_insert_fired_leaves_manual_runs_of_the_same_slot_alone(
    db: Database, schedule: RowFactory, clock: FakeClock
):
    sch, now = schedule(), clock.now()
    fired = job_from_schedule(sch, now, now, status=JobStatus.PENDING)
    manual = [
        job_from_schedule(sch, now, now, status=JobStatus.READY, trigger=JobTrigger.MANUAL)
        for _ in range(2)
    ]
    async with db.transaction() as conn:
        inserted = await store.job_insert_fired(conn, [fired, *manual])
    assert inserted == {fired["id"], manual[0]["id"], manual[1]["id"]}


# --- reads --------------------------------------------------------------------------------------


async def test_job_get_hides_other_accounts_jobs(
    db: Database, pull_job: RowFactory, other_account_id: str
):
    row = pull_job()
    await insert(db, row)
    async with db.read() as conn:
        assert await store.job_get(conn, other_account_id, row["id"]) is None
        assert await store.job_get(conn, row["account_id"], next_id("job")) is None
        assert (await store.job_get(conn, row["account_id"], row["id"])) == row


@pytest.fixture
async def listed(
    db: Database,
    pull_job: RowFactory,
    schedule: RowFactory,
    clock: FakeClock,
    other_account_id: str,
) -> dict[str, JobRow]:
    """Jobs of every kind the list filters tell apart, oldest first."""
    sch = schedule()
    fired = job_from_schedule(sch, clock.now(), clock.now(), status=JobStatus.PENDING)
    rows = {
        "email_prod": pull_job(tags={"env": "prod", "team": "growth"}),
        "sms_dev": pull_job(handler="sms", tags={"env": "dev"}),
        "fired": {**fired, "id": next_id("job")},
        "canceled": pull_job(status="canceled", tags={"env": "prod"}),
        "theirs": pull_job(account_id=other_account_id, tags={"env": "prod"}),
    }
    await insert(db, *rows.values())
    return rows


JOB_FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    ({}, ["canceled", "fired", "sms_dev", "email_prod"]),
    ({"one_off_only": True}, ["canceled", "sms_dev", "email_prod"]),
    ({"status": "canceled"}, ["canceled"]),
    ({"status": "ready"}, ["sms_dev", "email_prod"]),
    ({"handler": "sms"}, ["sms_dev"]),
    ({"tags": {"env": "prod"}}, ["canceled", "email_prod"]),
    ({"tags": {"env": "prod", "team": "growth"}}, ["email_prod"]),
    ({"tags": {"env": "prod", "team": "other"}}, []),
    ({"handler": "email", "status": "ready"}, ["email_prod"]),
]


async def test_job_list_filters_the_accounts_jobs(
    db: Database, listed: dict[str, JobRow], account_id: str
):
    async with db.read() as conn:
        for filters, expected in JOB_FILTERS:
            rows, cursor = await store.job_list(conn, account_id, **filters)
            assert (ids(rows), cursor) == ([listed[n]["id"] for n in expected], None), filters


async def test_job_list_tag_filter_matches_keys_with_dots_slashes_and_dashes(
    db: Database, pull_job: RowFactory, account_id: str
):
    tags = {"team.name": "ops", "a/b-c": "1", "$x": "y"}
    row = pull_job(tags=tags)
    await insert(db, row, pull_job(tags={"team": "ops"}))
    async with db.read() as conn:
        for key, value in tags.items():
            rows, _ = await store.job_list(conn, account_id, tags={key: value})
            assert ids(rows) == [row["id"]], key


@pytest.mark.parametrize(
    "database_url",
    [
        "sqlite",
        "postgresql",
    ],
    indirect=True,
)
async def test_job_list_tag_filter_matches_a_key_containing_a_double_quote(
    db: Database, pull_job: RowFactory, account_id: str
):
    row = pull_job(tags={'say"hi': "x"})
    await insert(db, row)
    async with db.read() as conn:
        rows, _ = await store.job_list(conn, account_id, tags={'say"hi': "x"})
    assert ids(rows) == [row["id"]]


async def test_job_list_by_schedule_id_returns_only_that_schedules_jobs(
    db: Database, listed: dict[str, JobRow], account_id: str
):
    schedule_id = listed["fired"]["schedule_id"]
    async with db.read() as conn:
        rows, _ = await store.job_list(conn, account_id, schedule_id=schedule_id)
        unknown, _ = await store.job_list(conn, account_id, schedule_id=next_id("sch"))
        # one_off_only wins over schedule_id
        one_offs, _ = await store.job_list(
            conn, account_id, schedule_id=schedule_id, one_off_only=True
        )
    assert ids(rows) == [listed["fired"]["id"]]
    assert ids(one_offs) == [listed[n]["id"] for n in ("canceled", "sms_dev", "email_prod")]
    assert unknown == []


async def test_job_list_pages_newest_first_with_a_cursor(
    db: Database, pull_job: RowFactory, account_id: str
):
    rows = [pull_job() for _ in range(5)]
    await insert(db, *rows)
    newest_first = ids(rows[::-1])
    pages, cursor = [], None
    async with db.read() as conn:
        while True:
            page, cursor = await store.job_list(conn, account_id, cursor=cursor, limit=2)
            pages.append(ids(page))
            if cursor is None:
                break
        whole, whole_cursor = await store.job_list(conn, account_id, limit=5)
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    assert (ids(whole), whole_cursor) == (newest_first, None)


async def test_job_list_invalid_cursor_raises_invalid_cursor(db: Database, account_id: str):
    async with db.read() as conn:
        for cursor in ("%%%", encode_cursor("no-underscore"), encode_cursor("job_" + "x" * 40)):
            with pytest.raises(InvalidCursor):
                await store.job_list(conn, account_id, cursor=cursor)


async def test_job_schedules_in_flight_lists_each_schedules_unfinished_jobs(
    db: Database, pull_job: RowFactory, clock: FakeClock
):
    a, b, c = next_id("sch"), next_id("sch"), next_id("sch")
    pending = pull_job(schedule_id=a, status="pending")
    ready = pull_job(schedule_id=a, handler="a-only")
    running = pull_job(schedule_id=a, handler="a-run")
    done = pull_job(schedule_id=a, handler="a-done")
    skipped = pull_job(schedule_id=b, status="skipped")
    queued = pull_job(schedule_id=c, status="queued")
    await insert(db, pending, ready, skipped, queued)
    async with db.transaction() as conn:
        await start(conn, running, clock.now())
        await finish(conn, done, "completed", clock.now())
        found = await store.job_schedules_in_flight(conn, iter([a, b, c, next_id("sch")]))
        assert await store.job_schedules_in_flight(conn, []) == {}
    in_flight = {
        schedule_id: sorted((row["id"], row["status"]) for row in rows)
        for schedule_id, rows in found.items()
    }
    assert in_flight == {
        a: sorted([(pending["id"], "pending"), (ready["id"], "ready"), (running["id"], "running")]),
        c: [(queued["id"], "queued")],
    }
    assert all(row["schedule_id"] == a for row in found[a])


# --- admission ----------------------------------------------------------------------------------


async def test_job_admit_due_moves_due_pull_jobs_to_ready_and_push_jobs_to_queued(
    db: Database, pull_job: RowFactory, push_job: RowFactory, clock: FakeClock, account_id: str
):
    now = clock.now()
    due_pull = pull_job(status="pending", run_at=now - S)
    due_push = push_job(status="pending", run_at=now)  # exactly due
    later = pull_job(status="pending", run_at=now + S)
    ready = pull_job(handler="other", run_at=now - 10 * S)
    await insert(db, due_pull, due_push, later, ready)
    clock.advance(seconds=0.5)
    async with db.transaction() as conn:
        moved = await store.job_admit_due(conn, now, limit=10)
    assert sorted(moved, key=lambda m: m["status"]) == [
        {"account_id": account_id, "handler": None, "status": "queued"},
        {"account_id": account_id, "handler": "email", "status": "ready"},
    ]
    assert await statuses(db, due_pull, due_push, later, ready) == [
        "ready",
        "queued",
        "pending",
        "ready",
    ]
    assert (await get(db, due_pull))["updated_at"] == now
    assert (await get(db, ready))["updated_at"] == ready["updated_at"]


async def test_job_admit_due_takes_the_earliest_due_jobs_up_to_limit(
    db: Database, pull_job: RowFactory, clock: FakeClock
):
    now = clock.now()
    second = pull_job(status="pending", run_at=now - 2 * S)
    third = pull_job(status="pending", run_at=now - 1 * S)
    first = pull_job(status="pending", run_at=now - 3 * S)
    await insert(db, second, third, first)
    async with db.transaction() as conn:
        assert len(await store.job_admit_due(conn, now, limit=2)) == 2
    assert await statuses(db, first, second, third) == ["ready", "ready", "pending"]


async def test_job_next_pending_at_is_the_earliest_pending_run_at(
    db: Database, pull_job: RowFactory, clock: FakeClock
):
    now = clock.now()
    async with db.read() as conn:
        assert await store.job_next_pending_at(conn) is None
    await insert(
        db,
        pull_job(status="pending", run_at=now + 30 * S),
        pull_job(status="pending", run_at=now + 10 * S),
        pull_job(run_at=now - 60 * S),  # ready: not pending
        pull_job(status="canceled", run_at=now - 60 * S),
    )
    async with db.read() as conn:
        assert await store.job_next_pending_at(conn) == now + 10 * S


# --- claiming -----------------------------------------------------------------------------------


async def test_job_claim_ready_claims_only_ready_jobs(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    now = clock.now()
    ready = pull_job()
    pending = pull_job(status="pending", run_at=now - S)
    queued = pull_job(status="queued")
    canceled = pull_job(status="canceled")
    await insert(db, ready, pending, queued, canceled)
    async with db.transaction() as conn:
        claimed = await claims.job_claim_ready(
            conn, account_id=account_id, handlers=["email"], limit=10, worker_id="w", now=now
        )
    assert ids(claimed) == [ready["id"]]
    assert await statuses(db, ready, pending, queued, canceled) == [
        "running",
        "pending",
        "queued",
        "canceled",
    ]


async def test_job_claim_ready_skips_other_accounts_and_handlers(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str, other_account_id: str
):
    email, sms = pull_job(), pull_job(handler="sms")
    report, theirs = pull_job(handler="report"), pull_job(account_id=other_account_id)
    await insert(db, email, sms, report, theirs)
    async with db.transaction() as conn:
        claimed = await claims.job_claim_ready(
            conn,
            account_id=account_id,
            handlers=["email", "sms"],
            limit=10,
            worker_id="w",
            now=clock.now(),
        )
    assert sorted(ids(claimed)) == sorted([email["id"], sms["id"]])
    assert await statuses(db, report, theirs) == ["ready", "ready"]


async def test_job_claim_ready_takes_the_earliest_run_at_up_to_limit(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    now = clock.now()
    middle = pull_job(run_at=now - 2 * S)
    latest = pull_job(run_at=now - 1 * S)
    earliest = pull_job(run_at=now - 3 * S)
    await insert(db, middle, latest, earliest)
    async with db.transaction() as conn:
        claimed = await claims.job_claim_ready(
            conn, account_id=account_id, handlers=["email"], limit=2, worker_id="w", now=now
        )
    assert ids(claimed) == [earliest["id"], middle["id"]]
    assert await statuses(db, latest) == ["ready"]


async def test_job_claim_ready_over_several_handlers_takes_the_oldest_of_them_all(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    # Each handler's oldest jobs are found on their own; the claim takes the oldest of all of
    # them, up to the limit, and a handler named twice is one handler.
    now = clock.now()
    email = [pull_job(run_at=now - n * S) for n in (9, 6, 2)]
    sms = [pull_job(handler="sms", run_at=now - n * S) for n in (8, 7, 1)]
    report = pull_job(handler="report", run_at=now - 10 * S)
    await insert(db, *email, *sms, report)
    async with db.transaction() as conn:
        claimed = await claims.job_claim_ready(
            conn,
            account_id=account_id,
            handlers=["sms", "email", "sms"],
            limit=4,
            worker_id="w",
            now=now,
        )
    assert ids(claimed) == [email[0]["id"], sms[0]["id"], sms[1]["id"], email[1]["id"]]
    assert await statuses(db, email[2], sms[2], report) == ["ready", "ready", "ready"]
    assert len({job["execution_id"] for job in claimed}) == 4


async def test_job_claim_ready_creates_one_running_execution_with_lease_now_plus_timeout(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    row = pull_job(timeout_seconds=45.0)
    await insert(db, row)
    now = clock.advance(seconds=5)
    async with db.transaction() as conn:
        (job,) = await claims.job_claim_ready(
            conn, account_id=account_id, handlers=["email"], limit=5, worker_id="w-7", now=now
        )
        executions = await execution_list_for_job(conn, row["id"])
    lease = now + 45 * S
    assert (job["id"], job["attempt"], job["lease_expires_at"]) == (row["id"], 1, lease)
    assert [
        (e["id"], e["status"], e["attempt"], e["worker_id"], e["started_at"], e["lease_expires_at"])
        for e in executions
    ] == [(job["execution_id"], "running", 1, "w-7", now, lease)]
    stored = await get(db, row)
    assert (stored["status"], stored["attempt"], stored["updated_at"]) == ("running", 1, now)


async def test_job_claim_ready_increments_attempt_on_each_claim(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    row = pull_job()
    async with db.transaction() as conn:
        first = await start(conn, row, clock.now())
        await store.job_apply_outcomes(conn, [outcome(row["id"], "pending", clock.now())])
        await store.job_admit_due(conn, clock.now(), limit=1)
        (second,) = await claims.job_claim_ready(
            conn, account_id=account_id, handlers=["email"], limit=1, worker_id="w", now=clock.now()
        )
        attempts = [(e["id"], e["attempt"]) for e in await execution_list_for_job(conn, row["id"])]
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert attempts == [(first["execution_id"], 1), (second["execution_id"], 2)]


async def test_job_claim_queued_claims_push_jobs_of_every_account_with_lease_margin(
    db: Database,
    pull_job: RowFactory,
    push_job: RowFactory,
    clock: FakeClock,
    other_account_id: str,
):
    now = clock.now()
    mine = push_job(timeout_seconds=10.0, run_at=now - S)
    theirs = push_job(account_id=other_account_id, timeout_seconds=20.0)
    ready_pull = pull_job()
    await insert(db, mine, theirs, ready_pull)
    async with db.transaction() as conn:
        claimed = await claims.job_claim_queued(
            conn, limit=10, node_id="node-1", now=now, lease_margin=5.0
        )
        execution = await execution_get(conn, other_account_id, claimed[1]["execution_id"])
    assert [(j["id"], j["lease_expires_at"]) for j in claimed] == [
        (mine["id"], now + 15 * S),
        (theirs["id"], now + 25 * S),
    ]
    assert execution is not None
    assert (execution["worker_id"], execution["lease_expires_at"]) == ("node-1", now + 25 * S)
    assert await statuses(db, mine, theirs, ready_pull) == ["running", "running", "ready"]


async def test_job_claim_queued_respects_limit(
    db: Database, push_job: RowFactory, clock: FakeClock
):
    now = clock.now()
    later, earlier = push_job(run_at=now - S), push_job(run_at=now - 2 * S)
    await insert(db, later, earlier)
    async with db.transaction() as conn:
        claimed = await claims.job_claim_queued(conn, limit=1, node_id="n", now=now, lease_margin=0)
    assert ids(claimed) == [earlier["id"]]
    assert await statuses(db, later) == ["queued"]


@postgres_only
async def test_job_claim_ready_concurrent_claimers_never_get_the_same_job(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    rows = [pull_job(run_at=clock.now() - n * S) for n in range(3)]
    await insert(db, *rows)
    claim = {"account_id": account_id, "handlers": ["email"], "worker_id": "w"}
    async with db.transaction() as first:
        held = await claims.job_claim_ready(first, **claim, limit=1, now=clock.now())
        async with db.transaction() as second:
            rest = await claims.job_claim_ready(second, **claim, limit=10, now=clock.now())
    assert ids(held) == [rows[2]["id"]]
    assert ids(rest) == [rows[1]["id"], rows[0]["id"]]


@postgres_only
async def test_job_claim_over_several_handlers_concurrent_claimers_never_get_the_same_job(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    now = clock.now()
    rows = [pull_job(handler=h, run_at=now - n * S) for n, h in enumerate("abab")]
    await insert(db, *rows)
    claim = {"account_id": account_id, "handlers": ["a", "b"], "worker_id": "w"}
    async with db.transaction() as first:
        held = await claims.job_claim_ready(first, **claim, limit=2, now=now)
        async with db.transaction() as second:
            # The first claim's transaction (in the service, its one autocommit statement)
            # also holds the rows its handlers' walks locked and it did not take.
            meanwhile = await claims.job_claim_ready(second, **claim, limit=10, now=now)
    async with db.transaction() as third:
        rest = await claims.job_claim_ready(third, **claim, limit=10, now=now)
    assert ids(held) == [rows[3]["id"], rows[2]["id"]]
    assert meanwhile == []
    assert ids(rest) == [rows[1]["id"], rows[0]["id"]]


async def test_job_canceled_among_returns_only_canceled_ids(
    db: Database, pull_job: RowFactory, clock: FakeClock
):
    canceled, ready, skipped = pull_job(status="canceled"), pull_job(), pull_job(status="skipped")
    await insert(db, canceled, ready, skipped)
    async with db.read() as conn:
        found = await store.job_canceled_among(
            conn, [canceled["id"], ready["id"], skipped["id"], next_id("job")]
        )
        assert await store.job_canceled_among(conn, []) == []
    assert found == [canceled["id"]]


# --- cancel and retry ---------------------------------------------------------------------------


async def test_job_cancel_running_job_requests_cancel_and_cancels_its_execution(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    row = pull_job()
    async with db.transaction() as conn:
        job = await start(conn, row, clock.now())
    now = clock.advance(seconds=3)
    async with db.transaction() as conn:
        canceled = await store.job_cancel(conn, account_id, row["id"], now)
        execution = await execution_get(conn, account_id, job["execution_id"])
    assert canceled is not None
    assert (canceled["status"], canceled["cancel_requested"], canceled["finished_at"]) == (
        "canceled",
        True,
        now,
    )
    assert execution is not None
    assert (execution["status"], execution["finished_at"]) == ("canceled", now)
    assert execution["error"]["type"] == "canceled"


async def test_job_cancel_waiting_job_cancels_without_requesting_cancel(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    rows = [pull_job(status=status) for status in ("pending", "ready", "queued")]
    await insert(db, *rows)
    now = clock.advance(seconds=1)
    async with db.transaction() as conn:
        canceled = [await store.job_cancel(conn, account_id, row["id"], now) for row in rows]
    assert canceled == [
        {
            **row,
            "status": "canceled",
            "cancel_requested": False,
            "finished_at": now,
            "updated_at": now,
        }
        for row in rows
    ]


async def test_job_cancel_final_job_returns_none_and_changes_nothing(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    completed, failed = pull_job(handler="c"), pull_job(handler="f")
    rows = [completed, failed, pull_job(status="canceled"), pull_job(status="skipped")]
    async with db.transaction() as conn:
        await finish(conn, completed, "completed", clock.now())
        await finish(conn, failed, "failed", clock.now())
        await store.job_insert_many(conn, rows[2:])
    before = [await get(db, row) for row in rows]
    now = clock.advance(seconds=1)
    async with db.transaction() as conn:
        assert [await store.job_cancel(conn, account_id, row["id"], now) for row in rows] == [
            None
        ] * 4
    assert [await get(db, row) for row in rows] == before


async def test_job_cancel_other_accounts_job_returns_none(
    db: Database, pull_job: RowFactory, clock: FakeClock, other_account_id: str
):
    row = pull_job()
    await insert(db, row)
    async with db.transaction() as conn:
        assert await store.job_cancel(conn, other_account_id, row["id"], clock.now()) is None
    assert await statuses(db, row) == ["ready"]


async def test_job_cancel_other_accounts_running_job_leaves_its_execution_running(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str, other_account_id: str
):
    row = pull_job()
    async with db.transaction() as conn:
        job = await start(conn, row, clock.now())
    async with db.transaction() as conn:
        assert await store.job_cancel(conn, other_account_id, row["id"], clock.now()) is None
        execution = await execution_get(conn, account_id, job["execution_id"])
    assert await statuses(db, row) == ["running"]
    assert execution is not None
    assert execution["status"] == "running"


async def test_job_cancel_many_cancels_in_flight_jobs_only(
    db: Database, pull_job: RowFactory, push_job: RowFactory, clock: FakeClock, account_id: str
):
    pending, queued = pull_job(status="pending"), push_job()
    running, completed = pull_job(handler="run"), pull_job(handler="done")
    untouched = pull_job(handler="other")
    await insert(db, pending, queued, untouched)
    async with db.transaction() as conn:
        job = await start(conn, running, clock.now())
        await finish(conn, completed, "completed", clock.now())
    now = clock.advance(seconds=2)
    async with db.transaction() as conn:
        await store.job_cancel_many(conn, ids([pending, queued, running, completed]), now)
        await store.job_cancel_many(conn, [], now)
        execution = await execution_get(conn, account_id, job["execution_id"])
    assert await statuses(db, pending, queued, running, completed, untouched) == [
        "canceled",
        "canceled",
        "canceled",
        "completed",
        "ready",
    ]
    assert [(await get(db, r))["cancel_requested"] for r in (pending, queued, running)] == [
        False,
        False,
        True,
    ]
    assert (await get(db, running))["finished_at"] == now
    assert execution is not None
    assert execution["status"] == "canceled"


async def test_job_retry_failed_job_is_admitted_now_with_a_fresh_round(
    db: Database, pull_job: RowFactory, push_job: RowFactory, clock: FakeClock, account_id: str
):
    pull, push = pull_job(), push_job()
    await insert(db, pull, push)
    async with db.transaction() as conn:
        await claims.job_claim_ready(
            conn, account_id=account_id, handlers=["email"], limit=1, worker_id="w", now=clock.now()
        )
        await claims.job_claim_queued(conn, limit=1, node_id="n", now=clock.now(), lease_margin=0)
        await store.job_apply_outcomes(
            conn,
            [
                outcome(pull["id"], "failed", clock.now()),
                outcome(push["id"], "failed", clock.now()),
            ],
        )
    assert await statuses(db, pull, push) == ["failed", "failed"]
    now = clock.advance(seconds=30)
    async with db.transaction() as conn:
        retried = [await store.job_retry(conn, account_id, row["id"], now) for row in (pull, push)]
    keys = ("status", "run_at", "attempt", "retry_base", "finished_at", "updated_at")
    assert [{k: row[k] for k in keys} if row else None for row in retried] == [
        {
            "status": admitted,
            "run_at": now,
            "attempt": 1,
            "retry_base": 1,
            "finished_at": None,
            "updated_at": now,
        }
        for admitted in ("ready", "queued")
    ]


async def test_job_retry_canceled_running_job_clears_cancel_requested(
    db: Database, push_job: RowFactory, clock: FakeClock, account_id: str
):
    row = push_job()
    await insert(db, row)
    async with db.transaction() as conn:
        (job,) = await claims.job_claim_queued(
            conn, limit=1, node_id="n", now=clock.now(), lease_margin=0
        )
        await store.job_cancel(conn, account_id, row["id"], clock.now())
    now = clock.advance(seconds=1)
    async with db.transaction() as conn:
        retried = await store.job_retry(conn, account_id, row["id"], now)
    assert retried is not None
    assert (retried["status"], retried["cancel_requested"], retried["retry_base"]) == (
        "queued",
        False,
        job["attempt"],
    )


async def test_job_retry_other_statuses_return_none_and_change_nothing(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    running, completed = pull_job(handler="r"), pull_job(handler="c")
    waiting = [pull_job(status=s) for s in ("pending", "ready", "queued", "skipped")]
    async with db.transaction() as conn:
        await start(conn, running, clock.now())
        await finish(conn, completed, "completed", clock.now())
        await store.job_insert_many(conn, waiting)
    rows = [running, completed, *waiting]
    before = [await get(db, row) for row in rows]
    now = clock.advance(seconds=1)
    async with db.transaction() as conn:
        assert [await store.job_retry(conn, account_id, row["id"], now) for row in rows] == [
            None
        ] * 6
    assert [await get(db, row) for row in rows] == before


async def test_job_retry_other_accounts_job_returns_none(
    db: Database, pull_job: RowFactory, clock: FakeClock, other_account_id: str
):
    row = pull_job(status="canceled")
    await insert(db, row)
    async with db.transaction() as conn:
        assert await store.job_retry(conn, other_account_id, row["id"], clock.now()) is None
    assert await statuses(db, row) == ["canceled"]


# --- outcomes, counts, pruning ------------------------------------------------------------------


async def test_job_apply_outcomes_changes_only_running_jobs(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    done, retried = pull_job(handler="a"), pull_job(handler="b")
    failed, canceled = pull_job(handler="c"), pull_job(handler="d")
    ready = pull_job(handler="e")
    await insert(db, ready)
    async with db.transaction() as conn:
        for row in (done, retried, failed, canceled):
            await start(conn, row, clock.now())
        await store.job_cancel(conn, account_id, canceled["id"], clock.now())
    now = clock.advance(seconds=5)
    retry_at = now + 60 * S
    async with db.transaction() as conn:
        await store.job_apply_outcomes(
            conn,
            [
                outcome(done["id"], "completed", now, result={"sent": 3}),
                outcome(retried["id"], "pending", now, run_at=retry_at, finished_at=None),
                outcome(failed["id"], "failed", now, last_error={"message": "boom"}),
                outcome(canceled["id"], "completed", now),
                outcome(ready["id"], "completed", now),
            ],
        )
        await store.job_apply_outcomes(conn, [])
    got_done, got_retried = await get(db, done), await get(db, retried)
    assert (got_done["status"], got_done["result"], got_done["finished_at"]) == (
        "completed",
        {"sent": 3},
        now,
    )
    assert (got_retried["status"], got_retried["run_at"], got_retried["finished_at"]) == (
        "pending",
        retry_at,
        None,
    )
    assert (await get(db, failed))["last_error"] == {"message": "boom"}
    assert await statuses(db, failed, canceled, ready) == ["failed", "canceled", "ready"]


async def test_job_apply_outcomes_refuses_a_status_running_cannot_move_to(
    db: Database, pull_job: RowFactory, clock: FakeClock
):
    ok, bad = pull_job(handler="ok"), pull_job(handler="bad")
    async with db.transaction() as conn:
        await start(conn, ok, clock.now())
        await start(conn, bad, clock.now())
    for status in ("ready", "queued", "skipped", "running", "admitting"):
        batch = [
            outcome(ok["id"], "completed", clock.now()),
            outcome(bad["id"], status, clock.now()),
        ]
        async with db.transaction() as conn:
            with pytest.raises(IllegalTransition):
                await store.job_apply_outcomes(conn, batch)
    assert await statuses(db, ok, bad) == ["running", "running"]


async def test_job_status_counts_counts_the_accounts_jobs_by_status(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str, other_account_id: str
):
    await insert(
        db,
        pull_job(),
        pull_job(handler="x"),
        pull_job(status="pending"),
        pull_job(status="canceled"),
        pull_job(account_id=other_account_id, status="skipped"),
    )
    async with db.read() as conn:
        assert await store.job_status_counts(conn, account_id) == {
            "ready": 2,
            "pending": 1,
            "canceled": 1,
        }
        assert await store.job_status_counts(conn, other_account_id) == {"skipped": 1}


async def test_job_delete_finished_before_deletes_only_final_jobs_older_than_cutoff(
    db: Database, pull_job: RowFactory, push_job: RowFactory, clock: FakeClock, account_id: str
):
    start_at = clock.now()
    completed, failed = pull_job(handler="c"), pull_job(handler="f")
    async with db.transaction() as conn:
        done = await finish(conn, completed, "completed", start_at)
        await finish(conn, failed, "failed", start_at + S)
    canceled = pull_job(status="canceled", finished_at=start_at + 2 * S)
    skipped = pull_job(status="skipped", finished_at=start_at + 3 * S)
    at_cutoff = pull_job(status="canceled", finished_at=start_at + 10 * S)
    in_flight = [pull_job(status="pending"), pull_job(), push_job()]
    await insert(db, canceled, skipped, at_cutoff, *in_flight)
    async with db.transaction() as conn:
        deleted = await store.job_delete_finished_before(conn, start_at + 10 * S, limit=100)
        remaining, _ = await store.job_list(conn, account_id)
        executions = await execution_list_for_job(conn, completed["id"])
        execution = await execution_get(conn, account_id, done["execution_id"])
    assert deleted == 4
    assert sorted(ids(remaining)) == sorted(ids([at_cutoff, *in_flight]))
    assert (executions, execution) == ([], None)


async def test_job_delete_finished_before_deletes_the_oldest_first_up_to_limit(
    db: Database, pull_job: RowFactory, clock: FakeClock, account_id: str
):
    now = clock.now()
    middle = pull_job(status="canceled", finished_at=now - 2 * S)
    newest = pull_job(status="canceled", finished_at=now - 1 * S)
    oldest = pull_job(status="skipped", finished_at=now - 3 * S)
    await insert(db, middle, newest, oldest)
    async with db.transaction() as conn:
        assert await store.job_delete_finished_before(conn, now, limit=2) == 2
        remaining, _ = await store.job_list(conn, account_id)
    assert ids(remaining) == [newest["id"]]


# --- NOTIFY (PostgreSQL only) -------------------------------------------------------------------


def test_asyncpg_dsn_drops_the_sqlalchemy_driver():
    assert (
        asyncpg_dsn("postgresql+asyncpg://u:p@127.0.0.1:5432/chronos")
        == "postgresql://u:p@127.0.0.1:5432/chronos"
    )


async def test_notify_send_reaches_another_connections_listener(postgres_url: str):
    listener, sender = await notify_connect(postgres_url), await notify_connect(postgres_url)
    received: list[str] = []
    both = asyncio.Event()

    def on_payload(payload: str) -> None:
        received.append(payload)
        if len(received) == 2:
            both.set()

    try:
        await notify_listen(listener, on_payload)
        await notify_send(sender, ['{"n": 1}', '{"n": 2}'])
        await asyncio.wait_for(both.wait(), timeout=5)
    finally:
        await listener.close()
        await sender.close()
    assert received == ['{"n": 1}', '{"n": 2}']


# --- push fairness: the accounts waiting, and claims for one account -----------------------------


async def test_job_queued_accounts_lists_accounts_with_queued_jobs_longest_waiting_first(
    db: Database,
    pull_job: RowFactory,
    push_job: RowFactory,
    clock: FakeClock,
    account_id: str,
    other_account_id: str,
):
    now = clock.now()
    running = push_job(run_at=now - 9 * S)  # claimed below: no longer waiting
    await insert(db, running)
    async with db.transaction() as conn:
        await claims.job_claim_queued(conn, limit=1, node_id="n", now=now, lease_margin=0)
    mine = [push_job(run_at=now - 1 * S), push_job(run_at=now - 5 * S), push_job(run_at=now)]
    theirs = push_job(account_id=other_account_id, run_at=now - 3 * S)
    not_queued = [push_job(status="pending", run_at=now - 9 * S), pull_job(run_at=now - 9 * S)]
    await insert(db, *mine, theirs, *not_queued)
    async with db.read() as conn:
        waiting = await claims.job_queued_accounts(conn, limit=10, cap=100)
        first = await claims.job_queued_accounts(conn, limit=1, cap=100)
        capped = await claims.job_queued_accounts(conn, limit=10, cap=2)
    assert waiting == [
        claims.QueuedAccount(account_id, 3, now - 5 * S),
        claims.QueuedAccount(other_account_id, 1, now - 3 * S),
    ]
    assert first == waiting[:1]
    # Counted up to the cap (the most a round takes of one account), the oldest still first.
    assert capped == [
        claims.QueuedAccount(account_id, 2, now - 5 * S),
        claims.QueuedAccount(other_account_id, 1, now - 3 * S),
    ]
    assert await statuses(db, running) == ["running"]


async def make_account(db: Database, name: str, clock: FakeClock) -> str:
    async with db.transaction() as conn:
        return str((await account_create(conn, name, clock.now()))["id"])


async def test_job_queued_accounts_walks_every_account_in_order_of_their_oldest_job(
    db: Database, push_job: RowFactory, clock: FakeClock
):
    # Accounts whose ids sort one way and whose oldest jobs sort the other: the walk finds
    # each (ids in any order), the answer is by age, then id for equal ages.
    now = clock.now()
    accounts = [await make_account(db, f"walk-{n}", clock) for n in range(6)]
    rows = [push_job(account_id=a, run_at=now - (n // 2) * S) for n, a in enumerate(accounts)]
    rows += [push_job(account_id=accounts[0], run_at=now + n * S) for n in range(3)]
    await insert(db, *rows)
    async with db.read() as conn:
        waiting = await claims.job_queued_accounts(conn, limit=10, cap=3)
        top = await claims.job_queued_accounts(conn, limit=3, cap=3)
    expected_order = sorted(accounts, key=lambda a: (-(accounts.index(a) // 2), a))
    assert [w.account_id for w in waiting] == expected_order
    assert {w.account_id: w.queued for w in waiting} == {
        a: 3 if a == accounts[0] else 1 for a in accounts
    }
    assert top == waiting[:3]


async def test_job_queued_accounts_is_empty_without_queued_jobs(db: Database):
    async with db.read() as conn:
        assert await claims.job_queued_accounts(conn, limit=10, cap=10) == []


async def test_job_claim_queued_for_one_account_leaves_the_others_queued(
    db: Database, push_job: RowFactory, clock: FakeClock, other_account_id: str
):
    now = clock.now()
    mine = push_job(run_at=now - 2 * S)
    theirs = [push_job(account_id=other_account_id, run_at=now - n * S) for n in (1, 0)]
    await insert(db, mine, *theirs)
    async with db.transaction() as conn:
        claimed = await claims.job_claim_queued(
            conn, limit=10, node_id="n", now=now, lease_margin=0, account_id=other_account_id
        )
    assert ids(claimed) == ids(theirs)
    assert await statuses(db, mine, *theirs) == ["queued", "running", "running"]
