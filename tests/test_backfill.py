"""Backfill: a past range's slots get their jobs exactly once — a backfill run twice creates no
duplicate, a slot the scheduler fired is not created again (nor a backfilled one fired again),
``overlap: "rerun"`` reruns finished jobs only; bounded, cancellable, audited, account-isolated.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from chronos.server.domain.backfill import (
    Overlap,
    TooManySlots,
    decide,
    plan_backfill,
)
from chronos.server.domain.jobs import job_from_schedule
from chronos.server.domain.states import JobStatus
from chronos.server.domain.timing import CronTrigger, IntervalTrigger, Window
from chronos.server.store import jobs as job_store
from chronos.server.store import schedules as schedule_store
from chronos.server.store.tables import jobs
from tests.helpers import (
    at,
    claim,
    claim_one,
    create_schedule,
    expect,
    fired_slots,
    list_jobs,
    report,
    run_scheduler,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)  # the test clock starts at 12:00 that day
HOURLY = {"cron": "0 * * * *", "handler": "h", "timezone": "UTC"}


def _hours(*hours: int) -> list[datetime]:
    return [T0 + timedelta(hours=h) for h in hours]


# --- planning (pure) --------------------------------------------------------------------------


def test_plan_takes_every_slot_in_the_closed_range_inside_the_window():
    trigger = CronTrigger.build("0 * * * *", "UTC")
    plan = plan_backfill(trigger, Window(), T0, T0 + timedelta(hours=5), excluded=None)
    assert plan.slots == _hours(0, 1, 2, 3, 4, 5) and plan.excluded == 0
    window = Window(T0 + timedelta(hours=2), T0 + timedelta(hours=3))
    assert plan_backfill(trigger, window, T0, T0 + timedelta(hours=5), excluded=None).slots == (
        _hours(2, 3)
    )


def test_plan_leaves_out_calendar_excluded_slots_and_counts_them():
    trigger = IntervalTrigger(3600, T0 - timedelta(days=10), first_index=0)
    odd = {T0 + timedelta(hours=h) for h in (1, 3)}
    plan = plan_backfill(
        trigger, Window(), T0, T0 + timedelta(hours=4), excluded=lambda s: "x" if s in odd else None
    )
    assert plan.slots == _hours(0, 2, 4) and plan.excluded == 2


def test_plan_refuses_more_slots_than_the_bound_and_says_where_to_cut():
    trigger = CronTrigger.build("* * * * *", "UTC")
    with pytest.raises(TooManySlots) as refused:
        plan_backfill(trigger, Window(), T0, T0 + timedelta(days=1), excluded=None, max_slots=100)
    assert refused.value.limit == 100
    assert refused.value.last_allowed == T0 + timedelta(minutes=99)
    # Exactly the bound is fine.
    plan = plan_backfill(
        trigger, Window(), T0, T0 + timedelta(minutes=99), excluded=None, max_slots=100
    )
    assert len(plan.slots) == 100
    # Excluded slots count towards what a plan may look at.
    with pytest.raises(TooManySlots):
        plan_backfill(
            trigger, Window(), T0, T0 + timedelta(days=1), excluded=lambda s: "x", max_scanned=500
        )


def test_decide_creates_missing_slots_reruns_finished_ones_and_leaves_in_flight_alone():
    slots = _hours(0, 1, 2, 3, 4)
    existing: list[Any] = [
        {"id": "job_done", "scheduled_for": slots[1], "status": "completed"},
        {"id": "job_failed", "scheduled_for": slots[2], "status": "failed"},
        {"id": "job_running", "scheduled_for": slots[3], "status": "running"},
    ]
    skip = decide(slots, existing, Overlap.SKIP)
    assert (skip.create, skip.rerun, skip.existing, skip.in_flight) == (
        [slots[0], slots[4]],
        [],
        3,
        1,
    )
    rerun = decide(slots, existing, Overlap.RERUN)
    assert rerun.create == [slots[0], slots[4]]
    assert rerun.rerun == ["job_done", "job_failed"]
    assert (rerun.existing, rerun.in_flight) == (1, 1)


# --- through the API, on both databases -------------------------------------------------------


async def _backfill(client: Any, ref: str, start: str, end: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"/v1/schedules/{ref}/backfill", json={"from": start, "to": end, **body}
    )
    return expect(response, 201)


async def test_a_backfill_run_twice_creates_no_duplicate(client, runtime):
    schedule = await create_schedule(client, name="report", **HOURLY)
    first = await _backfill(client, "report", "2026-03-01T00:00:00Z", "2026-03-01T05:00:00Z")
    assert first["status"] == "running"
    assert (first["created"], first["skipped_existing"], first["rerun"]) == (6, 0, 0)
    assert first["jobs"] == {"ready": 6}
    backfilled = await list_jobs(client, trigger="backfill")
    assert sorted(at(j["scheduled_for"]) for j in backfilled) == _hours(0, 1, 2, 3, 4, 5)
    assert {j["backfill_id"] for j in backfilled} == {first["id"]}
    assert {j["status"] for j in backfilled} == {"ready"}

    again = await _backfill(client, schedule["id"], "2026-03-01T00:00:00Z", "2026-03-01T05:00:00Z")
    assert (again["created"], again["skipped_existing"], again["in_flight"]) == (0, 6, 6)
    wider = await _backfill(client, "report", "2026-02-28T22:00:00Z", "2026-03-01T06:30:00Z")
    assert (wider["created"], wider["skipped_existing"]) == (3, 6)
    assert await fired_slots(runtime.db, schedule["id"]) == _hours(-2, -1, 0, 1, 2, 3, 4, 5, 6)
    ledger = expect(
        await client.get(
            "/v1/schedules/report/slots",
            params={"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T02:00:00Z"},
        ),
        200,
    )["data"]
    # Before the schedule's creation: slots it did not plan then, run by the backfill.
    assert [s["outcome"] for s in ledger] == ["fired"] * 3
    assert all(s["reason"].startswith("run by a backfill") for s in ledger)


async def test_fired_slots_are_not_backfilled_and_backfilled_slots_are_not_fired(
    client, runtime, clock
):
    schedule = await create_schedule(client, name="report", concurrency="allow", **HOURLY)
    clock.advance(hours=1, seconds=5)  # 13:00:05
    assert (await run_scheduler(runtime)).fired == 1  # the 13:00 slot
    result = await _backfill(client, "report", "2026-03-01T11:00:00Z", "2026-03-01T13:00:00Z")
    assert (result["created"], result["skipped_existing"]) == (2, 1)

    clock.advance(hours=1)  # 14:00:05: the 14:00 slot is due, not yet fired
    result = await _backfill(client, "report", "2026-03-01T13:30:00Z", "2026-03-01T14:00:00Z")
    assert result["created"] == 1
    assert (await run_scheduler(runtime)).fired == 0  # its slot has its job already
    slots = await fired_slots(runtime.db, schedule["id"])
    assert slots == _hours(11, 12, 13, 14)
    triggers = {at(j["scheduled_for"]): j["trigger"] for j in await list_jobs(client)}
    assert triggers[_hours(13)[0]] == "schedule" and triggers[_hours(14)[0]] == "backfill"
    # The scheduler goes on with the next slot.
    clock.advance(hours=1)
    assert (await run_scheduler(runtime)).fired == 1


async def test_rerun_runs_finished_slots_again_as_the_same_job(client, runtime):
    schedule = await create_schedule(client, name="report", **HOURLY)
    await _backfill(client, "report", "2026-03-01T00:00:00Z", "2026-03-01T02:00:00Z")
    done = await claim_one(client)
    await report(client, done["execution_id"])
    failed = await claim_one(client)
    await report(client, failed["execution_id"], "failed", retryable=False)

    skip = await _backfill(client, "report", "2026-03-01T00:00:00Z", "2026-03-01T02:00:00Z")
    assert (skip["created"], skip["rerun"], skip["skipped_existing"]) == (0, 0, 3)
    rerun = await _backfill(
        client, "report", "2026-03-01T00:00:00Z", "2026-03-01T02:00:00Z", overlap="rerun"
    )
    assert (rerun["created"], rerun["rerun"], rerun["skipped_existing"], rerun["in_flight"]) == (
        0,
        2,
        1,
        1,
    )
    assert rerun["jobs"] == {"ready": 2}
    all_jobs = await list_jobs(client, schedule_id=schedule["id"])
    assert len(all_jobs) == 3  # one job per slot, still
    assert {j["id"] for j in all_jobs if j["backfill_id"] == rerun["id"]} == {
        done["id"],
        failed["id"],
    }
    # The rerun jobs are claimable again, as their next attempt.
    attempts = {j["id"]: j["attempt"] for j in await claim(client, limit=10)}
    assert attempts[done["id"]] == attempts[failed["id"]] == 2 and len(attempts) == 3


async def test_calendar_excluded_slots_are_not_backfilled(client, runtime):
    calendar = {"name": "holidays", "dates": ["2026-02-27"]}
    expect(await client.post("/v1/calendars", json=calendar), 201)
    await create_schedule(
        client, name="daily", cron="0 9 * * *", handler="h", exclude_calendars=["holidays"]
    )
    result = await _backfill(client, "daily", "2026-02-25T00:00:00Z", "2026-03-01T00:00:00Z")
    assert (result["created"], result["excluded"]) == (3, 1)
    slots = sorted(at(j["scheduled_for"]).day for j in await list_jobs(client, trigger="backfill"))
    assert slots == [25, 26, 28]


async def test_backfill_jobs_stand_outside_the_concurrency_policy(client, runtime, clock):
    await create_schedule(client, name="forbid", **HOURLY)  # concurrency: forbid (default)
    await create_schedule(client, name="replace", concurrency="replace", **HOURLY)
    for name in ("forbid", "replace"):
        result = await _backfill(client, name, "2026-03-01T00:00:00Z", "2026-03-01T02:00:00Z")
        assert result["jobs"] == {"ready": 3}  # admitted, none skipped
    clock.advance(hours=1, seconds=1)
    fired = await run_scheduler(runtime)
    assert (fired.fired, fired.skipped) == (2, 0)  # neither skipped nor replacing
    backfilled = await list_jobs(client, trigger="backfill")
    assert [j["status"] for j in backfilled] == ["ready"] * 6


async def test_cancel_stops_the_jobs_not_yet_started(client, runtime, other_client):
    await create_schedule(client, name="report", **HOURLY)
    result = await _backfill(
        client, "report", "2026-03-01T00:00:00Z", "2026-03-01T03:00:00Z", reason="outage"
    )
    running = await claim_one(client)
    canceled = expect(await client.post(f"/v1/backfills/{result['id']}/cancel"), 200)
    assert canceled["canceled_jobs"] == 3 and canceled["status"] == "canceled"
    assert canceled["jobs"] == {"running": 1, "canceled": 3}
    assert canceled["canceled_at"] is not None
    again = expect(await client.post(f"/v1/backfills/{result['id']}/cancel"), 200)
    assert again["canceled_jobs"] == 0
    shown = expect(await client.get(f"/v1/backfills/{result['id']}"), 200)
    assert shown["status"] == "canceled" and shown["reason"] == "outage"
    listed = expect(await client.get("/v1/schedules/report/backfills"), 200)
    assert [b["id"] for b in listed["data"]] == [result["id"]]
    assert (await list_jobs(client, status="running"))[0]["id"] == running["id"]

    audit = expect(await client.get("/v1/audit"), 200)["data"]
    actions = [(r["action"], r["reason"]) for r in audit[:2]]
    assert actions == [("backfill.canceled", None), ("schedule.backfilled", "outage")]
    assert audit[1]["changes"]["created"] == [None, 4]
    assert audit[1]["resource"]["name"] == "report"

    # Another account sees none of it.
    for response in (
        await other_client.get(f"/v1/backfills/{result['id']}"),
        await other_client.post(f"/v1/backfills/{result['id']}/cancel"),
        await other_client.get("/v1/schedules/report/backfills"),
        await other_client.post(
            "/v1/schedules/report/backfill",
            json={"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T01:00:00Z"},
        ),
    ):
        assert response.status_code == 404, response.text


async def test_a_backfill_is_done_when_its_jobs_have_finished(client):
    await create_schedule(client, name="report", **HOURLY)
    result = await _backfill(client, "report", "2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z")
    for _ in range(2):
        await report(client, (await claim_one(client))["execution_id"])
    shown = expect(await client.get(f"/v1/backfills/{result['id']}"), 200)
    assert shown["status"] == "done" and shown["jobs"] == {"completed": 2}


BAD_BODIES: list[tuple[dict[str, Any], int, str]] = [
    ({"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T13:00:00Z"}, 422, "validation_error"),
    ({"from": "2026-03-01T05:00:00Z", "to": "2026-03-01T05:00:00Z"}, 422, "validation_error"),
    ({"from": "2026-03-01T06:00:00Z", "to": "2026-03-01T05:00:00Z"}, 422, "validation_error"),
    ({"from": "yesterday", "to": "2026-03-01T05:00:00Z"}, 422, "validation_error"),
    ({"to": "2026-03-01T05:00:00Z"}, 422, "validation_error"),
    ({"from": ["2026-03-01"], "to": "2026-03-01T05:00:00Z"}, 422, "validation_error"),
    (
        {"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T05:00:00Z", "overlap": "x"},
        422,
        "validation_error",
    ),
    (
        {"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T05:00:00Z", "extra": 1},
        422,
        "validation_error",
    ),
    (
        {"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T05:00:00Z", "reason": "x" * 501},
        422,
        "validation_error",
    ),
    (
        {"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T05:00:00Z", "reason": "a\x01"},
        400,
        "bad_request",
    ),
]


async def test_bad_input_is_refused_and_changes_nothing(client):
    await create_schedule(client, name="report", **HOURLY)
    for body, status, code in BAD_BODIES:
        response = await client.post("/v1/schedules/report/backfill", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["code"] == code, body
    assert await list_jobs(client) == []
    assert expect(await client.get("/v1/schedules/report/backfills"), 200)["data"] == []
    audit = expect(await client.get("/v1/audit"), 200)["data"]
    assert [r["action"] for r in audit] == ["schedule.created"]


async def test_a_range_with_too_many_slots_is_refused_with_where_to_cut(client):
    await create_schedule(client, name="busy", cron="* * * * *", handler="h")  # every minute
    response = await client.post(
        "/v1/schedules/busy/backfill",
        json={"from": "2026-02-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
    )
    error = expect(response, 422)["error"]
    assert error["code"] == "too_many_slots"
    assert error["details"] == {"max_slots": 10000, "last_allowed": "2026-02-07T22:39:00Z"}
    assert "narrow" in error["message"]
    assert await list_jobs(client) == []
    for ref in ("nope", "sch_nope"):
        response = await client.post(
            f"/v1/schedules/{ref}/backfill",
            json={"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T01:00:00Z"},
        )
        assert response.status_code == 404
    for path in ("/v1/backfills/bfl_nope", "/v1/schedules/nope/backfills"):
        assert (await client.get(path)).status_code == 404


async def test_a_backfill_racing_the_scheduler_on_one_slot_makes_one_job(
    client, runtime, account, database_url
):
    """PostgreSQL, two real transactions: the scheduler's insert of the 12:00 slot holds its
    index entry uncommitted; the backfill's insert of the same slot waits for it, then finds
    it taken. One job."""
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers: PostgreSQL")
    schedule = await create_schedule(
        client, name="race", cron="0 12 * * *", handler="h", timezone="UTC"
    )
    async with runtime.db.read() as conn:
        row = await schedule_store.schedule_get(conn, account["id"], schedule["id"])
    assert row is not None
    # The scheduler's job for the 12:00 slot, inserted as a scheduler round does.
    fired = job_from_schedule(row, T0 + timedelta(hours=12), T0, status=JobStatus.READY)
    engine = runtime.db.engine
    async with engine.connect() as scheduler_conn:
        tx = await scheduler_conn.begin()
        assert await job_store.job_insert_fired(scheduler_conn, [fired]) == {fired["id"]}
        backfill = asyncio.create_task(
            client.post(
                "/v1/schedules/race/backfill",
                json={"from": "2026-03-01T11:00:00Z", "to": "2026-03-01T12:00:00Z"},
            )
        )
        await _until_waiting_on_a_lock(runtime)
        await tx.commit()
        result = expect(await backfill, 201)
    assert (result["created"], result["skipped_existing"]) == (0, 1)
    async with runtime.db.read() as conn:
        count = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(jobs)
                .where(jobs.c.schedule_id == schedule["id"])
            )
        ).scalar_one()
    assert count == 1


async def _until_waiting_on_a_lock(runtime: Any) -> None:
    for _ in range(500):
        async with runtime.db.read() as conn:
            waiting = (
                await conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            ).scalar_one()
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the backfill never waited for the scheduler's uncommitted slot")
