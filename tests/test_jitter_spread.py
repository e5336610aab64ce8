"""Jitter (a per-fire delay, deterministic per slot) and spread (Jenkins-style ``H`` cron terms
and a per-schedule slot offset), from the pure hashing up to the scheduler, the admission
service, the worker claim and the fire ledger on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronos.server.clock import FakeClock
from chronos.server.domain.hashing import (
    HashError,
    jitter_delay,
    resolve_hashes,
    spread_offset,
)
from chronos.server.domain.jobs import job_from_schedule
from chronos.server.domain.schedules import new_schedule, schedule_trigger
from chronos.server.domain.states import JobStatus
from chronos.server.domain.timing import CronTrigger, TimingError
from chronos.server.normalize import normalize_schedule
from chronos.server.runtime import Runtime
from chronos.server.schemas import ScheduleIn
from tests.helpers import (
    at,
    claim,
    claim_one,
    create_schedule,
    expect,
    fired_slots,
    list_jobs,
    run_admission,
    run_scheduler,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the test clock's start
NAMES = st.text(min_size=1, max_size=40)


def spec(**fields: Any):
    body = {"name": "report", "handler": "h", **fields}
    return normalize_schedule(ScheduleIn.model_validate(body), max_payload_bytes=65536)


# --- H terms -----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(name=NAMES)
def test_h_terms_resolve_inside_their_ranges_the_same_way_every_time(name):
    minute, hour, day, month, weekday = resolve_hashes("H H H H H", name).split()
    assert 0 <= int(minute) <= 59 and 0 <= int(hour) <= 23
    assert 1 <= int(day) <= 28, "day-of-month H stays within days every month has"
    assert 1 <= int(month) <= 12 and 0 <= int(weekday) <= 6
    assert resolve_hashes("H H H H H", name) == resolve_hashes("H H H H H", name)
    ranged = resolve_hashes("H(10-20) H(9-17)/4 * * *", name).split()
    assert 10 <= int(ranged[0]) <= 20
    start, rest = ranged[1].split("-")
    assert 9 <= int(start) < 13 and rest == "17/4"
    stepped = resolve_hashes("H/15 * * * *", name).split()[0]
    assert stepped.endswith("-59/15") and 0 <= int(stepped.split("-")[0]) < 15
    # The trigger fires where the resolved expression does.
    trigger = CronTrigger.parse("H/15 * * * *", "UTC", seed=name)
    assert trigger.expression == f"{stepped} * * * *"


def test_h_spreads_many_hourly_schedules_over_the_hour():
    minutes = {resolve_hashes("H * * * *", f"tenant-{n}") for n in range(1000)}
    assert len(minutes) == 60  # every minute of the hour is used
    lists = resolve_hashes("H,H(30-59) H * * 1-5", "x").split()
    assert len(lists[0].split(",")) == 2 and lists[-1] == "1-5"


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("H(5-2) * * * *", "range"),
        ("H(0-60) * * * *", "range"),
        ("* H(1-24) * * *", "range"),
        ("H/0 * * * *", "step"),
        ("H/61 * * * *", "step"),
        ("* * H(1-40) * *", "range"),
        ("Hx * * * *", "H term"),
        ("H(a-b) * * * *", "H term"),
    ],
)
def test_bad_h_terms_are_refused(expression, problem):
    with pytest.raises(HashError, match=problem):
        resolve_hashes(expression, "name")
    with pytest.raises(TimingError):
        CronTrigger.parse(expression, "UTC", seed="name")


def test_h_needs_a_name():
    with pytest.raises(TimingError, match="no name"):
        CronTrigger.parse("H * * * *")


# --- spread ------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(name=NAMES, spread=st.floats(0, 86400))
def test_spread_offset_is_stable_and_below_the_spread(name, spread):
    offset = spread_offset(name, spread)
    assert offset == spread_offset(name, spread)
    assert 0 <= offset < max(spread, 1)


def test_spread_moves_every_slot_of_cron_and_interval_alike():
    hourly = spec(cron="@hourly", spread="1h")
    offset = spread_offset("report", 3600)
    assert 0 < offset < 3600
    trigger = schedule_trigger(hourly, NOW)
    assert trigger.next_fire(NOW) == NOW + timedelta(seconds=offset)
    assert trigger.next_fire(NOW + timedelta(seconds=offset)) == NOW + timedelta(
        seconds=offset + 3600
    )
    every = spec(interval="10m", spread="10m")
    slots = schedule_trigger(every, NOW)
    ten_min = spread_offset("report", 600)
    assert slots.next_fire(NOW) == NOW + timedelta(seconds=600 + ten_min)
    assert schedule_trigger(spec(interval="10m"), NOW).next_fire(NOW) == NOW + timedelta(minutes=10)


# --- jitter ------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    schedule_id=st.text(min_size=1, max_size=30),
    minutes=st.integers(0, 10**6),
    jitter=st.floats(0, 86400),
)
def test_jitter_delay_is_deterministic_and_within_the_jitter(schedule_id, minutes, jitter):
    slot = NOW + timedelta(minutes=minutes)
    delay = jitter_delay(schedule_id, slot, jitter)
    assert delay == jitter_delay(schedule_id, slot, jitter)
    assert timedelta(0) <= delay <= timedelta(seconds=jitter) + timedelta(milliseconds=1)


def test_jitter_differs_between_slots_and_schedules():
    delays = {jitter_delay("sch_a", NOW + timedelta(hours=n), 3600) for n in range(50)}
    assert len(delays) > 40
    assert jitter_delay("sch_a", NOW, 3600) != jitter_delay("sch_b", NOW, 3600)


def test_a_jittered_job_waits_pending_with_its_slot_kept():
    row = new_schedule("acc_1", spec(cron="* * * * *", jitter="30s"), NOW)
    slot = NOW + timedelta(minutes=1)
    delay = jitter_delay(row["id"], slot, 30)
    job = job_from_schedule(row, slot, slot, status=JobStatus.READY)
    assert job["scheduled_for"] == slot and job["run_at"] == slot + delay
    assert job["status"] == ("pending" if delay else "ready")
    # A scheduler that comes late, past the delay, admits it at once.
    late = job_from_schedule(row, slot, slot + timedelta(seconds=31), status=JobStatus.QUEUED)
    assert late["status"] == "queued" and late["run_at"] == slot + delay
    skipped = job_from_schedule(row, slot, slot, status=JobStatus.SKIPPED)
    assert skipped["status"] == "skipped"


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cron": "* * * * *", "jitter": "25h"}, "jitter"),
        ({"interval": "1m", "jitter": "60s"}, "jitter"),
        ({"interval": "1m", "spread": "61s"}, "spread"),
        ({"cron": "* * * * *", "spread": "2d"}, "spread"),
        ({"interval": "1w", "spread": "2d"}, "spread"),
    ],
)
async def test_out_of_range_jitter_and_spread_are_refused(client: httpx.AsyncClient, fields, field):
    body = {"name": "bad", "handler": "h", **fields}
    for path in ("/v1/schedules", "/v1/schedules/preview"):
        error = expect(await client.post(path, json=body), 422)["error"]
        assert error["code"] == "invalid_schedule" and field in error["message"]
    for wrong in (-1, "soon", True, "1" * 5000):
        negative = {"name": "bad", "handler": "h", "cron": "* * * * *", field: wrong}
        error = expect(await client.post("/v1/schedules", json=negative), 422)["error"]
        assert error["code"] == "validation_error"
    bad_h = {"name": "bad", "handler": "h", "cron": "H/99 * * * *"}
    assert "step" in expect(await client.post("/v1/schedules", json=bad_h), 422)["error"]["message"]
    assert expect(await client.get("/v1/schedules"), 200)["data"] == []


# --- end to end on both databases --------------------------------------------------------------


async def test_a_jittered_pull_job_is_claimable_only_from_its_run_at(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    schedule = await create_schedule(
        client, name="jittered", handler="h", cron="*/5 * * * *", jitter="4m"
    )
    assert schedule["jitter"] == 240
    slot = at(schedule["next_run_at"])
    delay = jitter_delay(schedule["id"], slot, 240)
    # This id's delay, whatever it is, is known up front (0 has odds of 1 in 240,001).
    assert delay > timedelta(0)
    clock.set(slot)
    assert (await run_scheduler(runtime)).fired == 1
    (job,) = await list_jobs(client, schedule_id=schedule["id"])
    assert job["status"] == "pending" and at(job["scheduled_for"]) == slot
    assert at(job["run_at"]) == slot + delay
    assert await claim(client) == []
    await run_scheduler(runtime)  # a second round (or another node) changes nothing
    assert await fired_slots(runtime.db, schedule["id"]) == [slot]
    clock.set(slot + delay - timedelta(milliseconds=1))
    assert (await run_admission(runtime)).admitted == 0
    assert await claim(client) == []
    clock.set(slot + delay)
    assert (await run_admission(runtime)).admitted == 1
    claimed = await claim_one(client)
    assert claimed["id"] == job["id"]


async def test_a_jittered_push_job_is_queued_at_its_run_at(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    schedule = await create_schedule(
        client,
        name="pushed",
        cron="0 * * * *",
        jitter="30m",
        webhook={"url": "http://127.0.0.1:9/hook"},
    )
    slot = at(schedule["next_run_at"])
    delay = jitter_delay(schedule["id"], slot, 1800)
    clock.set(slot)
    await run_scheduler(runtime)
    (job,) = await list_jobs(client, schedule_id=schedule["id"])
    assert (job["status"], at(job["run_at"])) == ("pending", slot + delay)
    clock.set(slot + delay)
    await run_admission(runtime)
    (job,) = await list_jobs(client, schedule_id=schedule["id"])
    assert job["status"] == "queued"


async def test_a_spread_slot_fires_once_at_its_offset_and_the_ledger_has_it_on_time(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    schedule = await create_schedule(
        client, name="spread-hourly", handler="h", cron="@hourly", spread="1h"
    )
    offset = spread_offset("spread-hourly", 3600)
    slot = datetime(2026, 3, 1, 12, tzinfo=UTC) + timedelta(seconds=offset)
    assert at(schedule["next_run_at"]) == slot
    assert schedule["spread"] == 3600 and schedule["cron"] == "0 * * * *"
    clock.set(slot - timedelta(seconds=1))
    assert (await run_scheduler(runtime)).fired == 0
    clock.set(slot + timedelta(seconds=1))
    assert (await run_scheduler(runtime)).fired == 1
    assert (await run_scheduler(runtime)).fired == 0
    assert await fired_slots(runtime.db, schedule["id"]) == [slot]
    found = expect(await client.get(f"/v1/schedules/{schedule['id']}/slots"), 200)["data"]
    assert [(at(s["at"]), s["outcome"]) for s in found] == [(slot, "on_time")]
    upcoming = expect(await client.get(f"/v1/schedules/{schedule['id']}/upcoming"), 200)
    assert at(upcoming["data"][0]) == slot + timedelta(hours=1)


async def test_h_schedules_keep_what_was_written_and_fire_at_the_resolved_minute(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    body = {"name": "hashed", "handler": "h", "cron": "H  H(9-17) * * 1-5"}
    preview = expect(await client.post("/v1/schedules/preview", json=body), 200)
    resolved = resolve_hashes("H H(9-17) * * 1-5", "hashed")
    assert preview["cron_resolved"] == resolved
    schedule = await create_schedule(client, **body)
    assert schedule["cron"] == "H H(9-17) * * 1-5"
    minute, hour = (int(v) for v in resolved.split()[:2])
    slot = at(schedule["next_run_at"])
    assert (slot.minute, slot.hour) == (minute, hour) and 9 <= hour <= 17
    assert at(preview["data"][0]) == slot
    clock.set(slot)
    await run_scheduler(runtime)
    assert await fired_slots(runtime.db, schedule["id"]) == [slot]
    # Renaming re-hashes: the same name would fire at the same minute anywhere.
    renamed = expect(await client.patch("/v1/schedules/hashed", json={"name": "hashed-2"}), 200)
    other = resolve_hashes("H H(9-17) * * 1-5", "hashed-2").split()[:2]
    assert at(renamed["next_run_at"]).minute == int(other[0])
