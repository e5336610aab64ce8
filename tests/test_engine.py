"""Engine services against a real database: exactly-once firing, admission, retries, leases."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from chronos.server.domain.jobs import Ending, Result, job_outcome
from chronos.server.domain.retry import RetryPolicy
from chronos.server.domain.states import ExecutionStatus
from chronos.server.engine.admission import AdmissionService
from chronos.server.engine.maintenance.lease_rescuer import LeaseRescuer
from chronos.server.engine.scheduler import Scheduler
from chronos.server.store import jobs as job_store
from chronos.server.store.tables import jobs


async def _create_schedule(client, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "every-second",
        "handler": "h",
        "interval": {"value": 1, "unit": "second"},
        **fields,
    }
    response = await client.post("/v1/schedules", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def _fired_slots(db, schedule_id: str) -> list:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(jobs.c.scheduled_for)
            .where(jobs.c.schedule_id == schedule_id)
            .order_by(jobs.c.scheduled_for)
        )
        return [r.scheduled_for for r in rows]


async def test_each_slot_fires_once_even_when_schedulers_race(client, runtime, clock):
    schedule = await _create_schedule(client, concurrency="allow")
    schedulers = [Scheduler(runtime.db, clock, runtime.notifier) for _ in range(3)]
    for _ in range(5):
        clock.advance(seconds=1)
        await asyncio.gather(*(s.run_once() for s in schedulers))
        await asyncio.gather(*(s.run_once() for s in schedulers))
    slots = await _fired_slots(runtime.db, schedule["id"])
    assert len(slots) == 5
    assert len(set(slots)) == 5
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(slots))


async def test_the_unique_slot_constraint_rejects_a_second_job_for_a_slot(client, runtime, clock):
    schedule = await _create_schedule(client)
    clock.advance(seconds=1)
    first = await Scheduler(runtime.db, clock, runtime.notifier).run_once()
    assert first.fired == 1
    duplicate = {**first.jobs[0], "id": "job_duplicate"}
    async with runtime.db.transaction() as conn:
        inserted = await job_store.job_insert_fired(conn, [duplicate])
    assert inserted == set()
    assert len(await _fired_slots(runtime.db, schedule["id"])) == 1


async def test_scheduler_round_cost_follows_due_schedules_only(client, runtime, clock):
    for i in range(20):
        await _create_schedule(client, name=f"daily-{i}", interval={"value": 1, "unit": "day"})
    await _create_schedule(client, name="fast")
    clock.advance(seconds=1)
    outcome = await Scheduler(runtime.db, clock, runtime.notifier).run_once()
    assert outcome.schedules == 1
    assert outcome.fired == 1


async def test_forbid_skips_while_previous_job_in_flight(client, runtime, clock):
    schedule = await _create_schedule(client)
    scheduler = Scheduler(runtime.db, clock, runtime.notifier)
    clock.advance(seconds=1)
    assert (await scheduler.run_once()).fired == 1
    clock.advance(seconds=1)
    second = await scheduler.run_once()
    assert (second.fired, second.skipped) == (0, 1)
    listing = (await client.get("/v1/jobs", params={"schedule_id": schedule["id"]})).json()
    assert sorted(j["status"] for j in listing["data"]) == ["ready", "skipped"]


async def test_replace_cancels_the_in_flight_job(client, runtime, clock):
    schedule = await _create_schedule(client, concurrency="replace")
    scheduler = Scheduler(runtime.db, clock, runtime.notifier)
    clock.advance(seconds=1)
    await scheduler.run_once()
    claim = await client.post("/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 0})
    execution_id = claim.json()["jobs"][0]["execution_id"]
    clock.advance(seconds=1)
    await scheduler.run_once()
    statuses = [
        j["status"]
        for j in (await client.get("/v1/jobs", params={"schedule_id": schedule["id"]})).json()[
            "data"
        ]
    ]
    assert statuses == ["ready", "canceled"]
    beat = await client.post(f"/v1/worker/executions/{execution_id}/heartbeat")
    assert beat.json()["cancel_requested"] is True
    late = await client.post(
        f"/v1/worker/executions/{execution_id}/result", json={"status": "completed"}
    )
    assert late.status_code == 409


async def test_misfire_run_once_after_downtime_fires_one_job(client, runtime, clock):
    schedule = await _create_schedule(client)
    clock.advance(hours=2)
    outcome = await Scheduler(runtime.db, clock, runtime.notifier).run_once()
    assert outcome.fired == 1
    assert outcome.missed == 7199
    slots = await _fired_slots(runtime.db, schedule["id"])
    assert slots == [clock.now().replace(microsecond=0)]


async def test_paused_schedule_does_not_fire(client, runtime, clock):
    schedule = await _create_schedule(client)
    await client.post(f"/v1/schedules/{schedule['id']}/pause")
    clock.advance(seconds=5)
    assert (await Scheduler(runtime.db, clock, runtime.notifier).run_once()).fired == 0


async def test_failed_attempt_returns_to_pending_then_admission_makes_it_ready(
    client, runtime, clock
):
    job = (await client.post("/v1/jobs", json={"handler": "h", "max_retries": 2})).json()
    claim = (
        await client.post("/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 0})
    ).json()
    execution_id = claim["jobs"][0]["execution_id"]
    await client.post(
        f"/v1/worker/executions/{execution_id}/result",
        json={"status": "failed", "error": {"message": "boom"}},
    )
    pending = (await client.get(f"/v1/jobs/{job['id']}")).json()
    assert pending["status"] == "pending"
    admission = AdmissionService(runtime.db, clock, runtime.notifier)
    assert (await admission.run_once()).admitted == 0  # not yet: backoff is ~1s
    clock.advance(seconds=1.2)
    assert (await admission.run_once()).admitted == 1
    assert (await client.get(f"/v1/jobs/{job['id']}")).json()["status"] == "ready"


async def test_expired_lease_times_out_and_retries(client, runtime, clock):
    job = (await client.post("/v1/jobs", json={"handler": "h", "timeout": 10})).json()
    await client.post("/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 0})
    rescuer = LeaseRescuer(runtime.db, clock, runtime.notifier)
    clock.advance(seconds=9)
    assert (await rescuer.run_once()).timed_out == 0
    clock.advance(seconds=2)
    assert (await rescuer.run_once()).timed_out == 1
    detail = (await client.get(f"/v1/jobs/{job['id']}")).json()
    assert detail["status"] == "pending"
    assert detail["executions"][0]["status"] == "timeout"


async def test_last_attempt_timing_out_fails_the_job(client, runtime, clock):
    job = (
        await client.post("/v1/jobs", json={"handler": "h", "timeout": 5, "max_retries": 0})
    ).json()
    await client.post("/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 0})
    clock.advance(seconds=6)
    await LeaseRescuer(runtime.db, clock, runtime.notifier).run_once()
    assert (await client.get(f"/v1/jobs/{job['id']}")).json()["status"] == "failed"


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

    old = [(await client.post("/v1/jobs", json={"handler": "h"})).json() for _ in range(3)]
    for job in old:
        await client.post(f"/v1/jobs/{job['id']}/cancel")
    kept_running = (await client.post("/v1/jobs", json={"handler": "h"})).json()
    clock.advance(days=8)
    recent = (await client.post("/v1/jobs", json={"handler": "x"})).json()
    await client.post(f"/v1/jobs/{recent['id']}/cancel")
    pruner = Pruner(runtime.db, clock, runtime.notifier, retention=timedelta(days=7), batch_size=2)
    first = await pruner.run_once()
    assert (first.deleted, pruner.has_more(first)) == (2, True)
    assert (await pruner.run_once()).deleted == 1
    assert (await pruner.run_once()).deleted == 0
    remaining = {j["id"] for j in (await client.get("/v1/jobs")).json()["data"]}
    assert remaining == {kept_running["id"], recent["id"]}
