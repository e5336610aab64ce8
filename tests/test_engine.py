"""Engine services against a real database: exactly-once firing, admission, retries, leases."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import timedelta
from typing import Any

from chronos.server.domain.jobs import Ending, Result, job_outcome
from chronos.server.domain.retry import RetryPolicy
from chronos.server.domain.states import ExecutionStatus
from chronos.server.engine.scheduler import Scheduler
from chronos.server.store import jobs as job_store
from tests.helpers import (
    claim,
    claim_one,
    create_job,
    create_schedule,
    fired_slots,
    get_job,
    list_jobs,
    report,
    run_admission,
    run_lease_rescuer,
    run_scheduler,
)

EVERY_SECOND = {"name": "every-second", "handler": "h", "interval": {"value": 1, "unit": "second"}}


async def test_each_slot_fires_once_even_when_schedulers_race(client, runtime, clock):
    schedule = await create_schedule(client, **EVERY_SECOND, concurrency="allow")
    schedulers = [Scheduler(runtime.db, clock, runtime.notifier) for _ in range(3)]
    for _ in range(5):
        clock.advance(seconds=1)
        await asyncio.gather(*(s.run_once() for s in schedulers))
        await asyncio.gather(*(s.run_once() for s in schedulers))
    slots = await fired_slots(runtime.db, schedule["id"])
    assert len(slots) == 5
    assert len(set(slots)) == 5
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(slots))


async def test_the_unique_slot_constraint_rejects_a_second_job_for_a_slot(client, runtime, clock):
    schedule = await create_schedule(client, **EVERY_SECOND)
    clock.advance(seconds=1)
    first = await run_scheduler(runtime)
    assert first.fired == 1
    duplicate = {**first.jobs[0], "id": "job_duplicate"}
    async with runtime.db.transaction() as conn:
        inserted = await job_store.job_insert_fired(conn, [duplicate])
    assert inserted == set()
    assert len(await fired_slots(runtime.db, schedule["id"])) == 1


async def test_scheduler_round_cost_follows_due_schedules_only(client, runtime, clock):
    for i in range(20):
        await create_schedule(
            client, name=f"daily-{i}", handler="h", interval={"value": 1, "unit": "day"}
        )
    await create_schedule(client, **{**EVERY_SECOND, "name": "fast"})
    clock.advance(seconds=1)
    outcome = await run_scheduler(runtime)
    assert outcome.schedules == 1
    assert outcome.fired == 1


async def test_forbid_skips_while_previous_job_in_flight(client, runtime, clock):
    schedule = await create_schedule(client, **EVERY_SECOND)
    clock.advance(seconds=1)
    assert (await run_scheduler(runtime)).fired == 1
    clock.advance(seconds=1)
    second = await run_scheduler(runtime)
    assert (second.fired, second.skipped) == (0, 1)
    listing = await list_jobs(client, schedule_id=schedule["id"])
    assert sorted(j["status"] for j in listing) == ["ready", "skipped"]


async def test_replace_cancels_the_in_flight_job(client, runtime, clock):
    schedule = await create_schedule(client, **EVERY_SECOND, concurrency="replace")
    clock.advance(seconds=1)
    await run_scheduler(runtime)
    execution_id = (await claim_one(client))["execution_id"]
    clock.advance(seconds=1)
    await run_scheduler(runtime)
    statuses = [j["status"] for j in await list_jobs(client, schedule_id=schedule["id"])]
    assert statuses == ["ready", "canceled"]
    beat = await client.post(f"/v1/worker/executions/{execution_id}/heartbeat")
    assert beat.json()["cancel_requested"] is True
    late = await client.post(
        f"/v1/worker/executions/{execution_id}/result", json={"status": "completed"}
    )
    assert late.status_code == 409


async def test_misfire_run_once_after_downtime_fires_one_job(client, runtime, clock):
    schedule = await create_schedule(client, **EVERY_SECOND)
    clock.advance(hours=2)
    outcome = await run_scheduler(runtime)
    assert outcome.fired == 1
    assert outcome.missed == 7199
    slots = await fired_slots(runtime.db, schedule["id"])
    assert slots == [clock.now().replace(microsecond=0)]


async def test_paused_schedule_does_not_fire(client, runtime, clock):
    schedule = await create_schedule(client, **EVERY_SECOND)
    await client.post(f"/v1/schedules/{schedule['id']}/pause")
    clock.advance(seconds=5)
    assert (await run_scheduler(runtime)).fired == 0


async def test_failed_attempt_returns_to_pending_then_admission_makes_it_ready(
    client, runtime, clock
):
    job = await create_job(client, handler="h", max_retries=2)
    execution_id = (await claim_one(client))["execution_id"]
    await report(client, execution_id, status="failed", error={"message": "boom"})
    pending = await get_job(client, job["id"])
    assert pending["status"] == "pending"
    assert (await run_admission(runtime)).admitted == 0  # not yet: backoff is ~1s
    clock.advance(seconds=1.2)
    assert (await run_admission(runtime)).admitted == 1
    assert (await get_job(client, job["id"]))["status"] == "ready"


async def test_expired_lease_times_out_and_retries(client, runtime, clock):
    job = await create_job(client, handler="h", timeout=10)
    await claim_one(client)
    clock.advance(seconds=9)
    assert (await run_lease_rescuer(runtime)).timed_out == 0
    clock.advance(seconds=2)
    assert (await run_lease_rescuer(runtime)).timed_out == 1
    detail = await get_job(client, job["id"])
    assert detail["status"] == "pending"
    assert detail["executions"][0]["status"] == "timeout"


async def test_last_attempt_timing_out_fails_the_job(client, runtime, clock):
    job = await create_job(client, handler="h", timeout=5, max_retries=0)
    await claim_one(client)
    clock.advance(seconds=6)
    await run_lease_rescuer(runtime)
    assert (await get_job(client, job["id"]))["status"] == "failed"


def test_backoff_grows_exponentially_and_is_capped():
    policy = RetryPolicy(initial_interval=1, multiplier=2, max_interval=10)
    assert [policy.base_delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    rng = random.Random(7)
    for attempt in range(1, 6):
        delay = policy.delay(attempt, rng).total_seconds()
        assert policy.base_delay(attempt) <= delay <= policy.base_delay(attempt) * 1.1


def test_huge_attempt_numbers_do_not_overflow():
    assert RetryPolicy(multiplier=10).base_delay(10_000) == 3600


def _ending(attempt: int, retry_base: int = 0, max_retries: int = 3, **kwargs: Any) -> Ending:
    row = {
        "id": "exe_1",
        "job_id": "job_1",
        "attempt": attempt,
        "retry_base": retry_base,
        "max_retries": max_retries,
        "retry_policy": {"initial_interval": 1, "multiplier": 2, "max_interval": 3600},
        "run_at": None,
        "schedule_id": None,
    }
    return Ending(execution=row, result=Result(**{"status": ExecutionStatus.FAILED, **kwargs}))


def test_outcome_retries_until_max_retries_then_fails(clock):
    assert job_outcome(_ending(1), clock.now())["status"] == "pending"
    assert job_outcome(_ending(3), clock.now())["status"] == "pending"
    assert job_outcome(_ending(4), clock.now())["status"] == "failed"


def test_outcome_non_retryable_is_terminal(clock):
    assert job_outcome(_ending(1, retryable=False), clock.now())["status"] == "failed"


def test_outcome_user_retry_starts_a_new_round(clock):
    assert job_outcome(_ending(5, retry_base=4), clock.now())["status"] == "pending"


async def test_pruner_deletes_old_finished_jobs_in_batches(client, runtime, clock):
    from chronos.server.engine.maintenance.pruner import Pruner

    old = [await create_job(client, handler="h") for _ in range(3)]
    for job in old:
        await client.post(f"/v1/jobs/{job['id']}/cancel")
    kept_running = await create_job(client, handler="h")
    clock.advance(days=8)
    recent = await create_job(client, handler="x")
    await client.post(f"/v1/jobs/{recent['id']}/cancel")
    pruner = Pruner(runtime.db, clock, runtime.notifier, retention=timedelta(days=7), batch_size=2)
    first = await pruner.run_once()
    assert (first.deleted, pruner.has_more(first)) == (2, True)
    assert (await pruner.run_once()).deleted == 1
    assert (await pruner.run_once()).deleted == 0
    remaining = {j["id"] for j in await list_jobs(client)}
    assert remaining == {kept_running["id"], recent["id"]}


async def test_pruner_forgets_workers_not_seen_for_a_week(client, runtime, clock, account):
    from chronos.server.engine.maintenance.pruner import Pruner
    from chronos.server.store.dashboard import worker_list

    await claim(client, ["h"], worker_id="old-worker")
    clock.advance(days=6)
    await claim(client, ["h"], worker_id="recent-worker")
    clock.advance(days=1, seconds=1)
    pruner = Pruner(runtime.db, clock, runtime.notifier, retention=timedelta(days=7))
    assert (await pruner.run_once()).workers_forgotten == 1
    async with runtime.db.read() as conn:
        seen = await worker_list(conn, account["id"], seen_since=clock.now() - timedelta(days=30))
    assert [w["worker_id"] for w in seen] == ["recent-worker"]
