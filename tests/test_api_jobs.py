"""One-off jobs and the worker protocol through the API."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.helpers import (
    at,
    bearer,
    claim,
    claim_one,
    create_api_key,
    create_job,
    create_schedule,
    get_job,
    list_jobs,
    long_poll,
    report,
    run_admission,
    trigger_schedule,
    wait_for_claimers,
)


async def test_job_without_delay_is_ready_at_once(client, clock):
    job = await create_job(
        client, name="Process upload", handler="process-upload", payload={"fileId": "file_abc123"}
    )
    assert job["id"].startswith("job_")
    assert (job["status"], job["trigger"], job["schedule_id"]) == ("ready", "api", None)
    assert at(job["run_at"]) == clock.now()


async def test_delayed_job_waits_then_admission_makes_it_ready(client, runtime, clock):
    job = await create_job(
        client,
        name="Charge invoice inv_789",
        handler="charge-invoice",
        delay={"value": 1, "unit": "hour"},
        idempotency_key="charge-inv_789",
        payload={"invoiceId": "inv_789"},
    )
    assert job["status"] == "pending"
    assert at(job["run_at"]) == clock.now() + timedelta(hours=1)
    clock.advance(minutes=59)
    assert (await run_admission(runtime)).admitted == 0
    clock.advance(minutes=1)
    assert (await run_admission(runtime)).admitted == 1
    assert (await get_job(client, job["id"]))["status"] == "ready"


async def test_scheduled_for_in_the_future_is_pending(client, clock):
    job = await create_job(client, handler="h", scheduled_for="2026-03-02T00:00:00Z")
    assert (job["status"], job["run_at"]) == ("pending", "2026-03-02T00:00:00Z")


async def test_duration_strings_and_overrides(client):
    job = await create_job(client, handler="h", delay="90s", timeout="2m", max_retries=5)
    assert (job["timeout"], job["max_retries"]) == (120, 5)


async def test_idempotency_key_is_scoped_to_the_account(client, other_client):
    await create_job(client, handler="h", idempotency_key="k1")
    again = await client.post("/v1/jobs", json={"handler": "h", "idempotency_key": "k1"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "idempotency_key_conflict"
    elsewhere = await other_client.post("/v1/jobs", json={"handler": "h", "idempotency_key": "k1"})
    assert elsewhere.status_code == 201


async def test_list_filters(client):
    await create_job(client, handler="a")
    await create_job(client, handler="b", tags={"team": "x"})
    await create_schedule(client, name="s", handler="a", cron="* * * * *")
    await trigger_schedule(client, "s")

    async def handlers(**params: str) -> list[str]:
        data = await list_jobs(client, **params)
        return sorted(j["handler"] + ("*" if j["schedule_id"] else "") for j in data)

    assert await handlers() == ["a", "a*", "b"]
    assert await handlers(schedule_id="null") == ["a", "b"]
    assert await handlers(handler="b") == ["b"]
    assert await handlers(status="ready") == ["a", "a*", "b"]
    assert await handlers(status="completed") == []
    assert await handlers(**{"tag.team": "x"}) == ["b"]


async def test_claim_respects_limit_handlers_and_accounts(client, other_client):
    for _ in range(5):
        await create_job(client, handler="h")
    await create_job(client, handler="other")
    await create_job(other_client, handler="h")
    first = await claim(client, limit=3)
    second = await claim(client, limit=3)
    assert (len(first), len(second)) == (3, 2)
    assert await claim(client, limit=3) == []
    assert len(await claim(other_client, limit=10)) == 1


async def test_claimed_job_carries_execution_and_lease(client, clock):
    job = await create_job(client, handler="h", payload={"x": 1}, timeout=45)
    claimed = await claim_one(client)
    assert claimed["id"] == job["id"]
    assert claimed["execution_id"].startswith("exe_")
    assert (claimed["attempt"], claimed["payload"]) == (1, {"x": 1})
    assert at(claimed["lease_expires_at"]) == clock.now() + timedelta(seconds=45)


async def test_completed_result_finishes_the_job_and_a_repeat_is_accepted(client, clock):
    job = await create_job(client, handler="h")
    claimed = await claim_one(client)
    clock.advance(seconds=2)
    path = f"/v1/worker/executions/{claimed['execution_id']}/result"
    for _ in range(2):
        response = await client.post(path, json={"status": "completed", "output": {"synced": 3}})
        assert response.status_code == 200
    detail = await get_job(client, job["id"])
    assert (detail["status"], detail["result"]) == ("completed", {"synced": 3})
    [execution] = detail["executions"]
    assert (execution["status"], execution["duration_ms"], execution["worker_id"]) == (
        "completed",
        2000,
        "w1",
    )
    assert (await client.get(f"/v1/executions/{execution['id']}")).json() == execution


async def test_failures_back_off_exponentially_then_fail(client, runtime, clock):
    job = await create_job(client, handler="h", max_retries=2)
    delays = []
    for _ in range(3):
        claimed = await claim_one(client)
        await report(client, claimed["execution_id"], status="failed", error={"message": "boom"})
        detail = await get_job(client, job["id"])
        if detail["status"] != "pending":
            break
        delays.append((at(detail["run_at"]) - clock.now()).total_seconds())
        clock.set(at(detail["run_at"]))
        await run_admission(runtime)
    assert detail["status"] == "failed"
    assert detail["last_error"] == {"message": "boom"}
    assert 1 <= delays[0] <= 1.1 and 2 <= delays[1] <= 2.2
    assert [e["attempt"] for e in detail["executions"]] == [1, 2, 3]


async def test_non_retryable_failure_is_final(client):
    job = await create_job(client, handler="h")
    claimed = await claim_one(client)
    await report(
        client, claimed["execution_id"], status="failed", retryable=False, error="bad input"
    )
    detail = await get_job(client, job["id"])
    assert (detail["status"], detail["last_error"]) == ("failed", {"message": "bad input"})


async def test_retry_replays_a_failed_job(client):
    job = await create_job(client, handler="h", max_retries=0)
    claimed = await claim_one(client)
    await report(client, claimed["execution_id"], status="failed")
    retried = (await client.post(f"/v1/jobs/{job['id']}/retry")).json()
    assert retried["status"] == "ready"
    again = await claim_one(client)
    assert again["attempt"] == 2


async def test_cancel_ready_and_running_jobs(client, clock):
    ready = await create_job(client, handler="h")
    assert (await client.post(f"/v1/jobs/{ready['id']}/cancel")).json()["status"] == "canceled"
    running = await create_job(client, handler="h")
    claimed = await claim_one(client)
    canceled = (await client.post(f"/v1/jobs/{running['id']}/cancel")).json()
    assert (canceled["status"], canceled["cancel_requested"]) == ("canceled", True)
    beat = await client.post(f"/v1/worker/executions/{claimed['execution_id']}/heartbeat")
    assert beat.json() == {"lease_expires_at": None, "cancel_requested": True}
    late = await client.post(
        f"/v1/worker/executions/{claimed['execution_id']}/result", json={"status": "completed"}
    )
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "execution_not_running"


async def test_heartbeat_extends_the_lease(client, clock):
    await create_job(client, handler="h", timeout=10)
    claimed = await claim_one(client)
    clock.advance(seconds=8)
    beat = (await client.post(f"/v1/worker/executions/{claimed['execution_id']}/heartbeat")).json()
    assert at(beat["lease_expires_at"]) == clock.now() + timedelta(seconds=10)
    assert beat["cancel_requested"] is False


async def test_batch_results_report_each_item(client):
    await create_job(client, handler="h")
    await create_job(client, handler="h")
    claimed = await claim(client, limit=2)
    response = await client.post(
        "/v1/worker/results",
        json={
            "results": [
                {"execution_id": claimed[0]["execution_id"], "status": "completed"},
                {
                    "execution_id": claimed[1]["execution_id"],
                    "status": "failed",
                    "retryable": False,
                },
                {"execution_id": "exe_unknown", "status": "completed"},
            ]
        },
    )
    data = response.json()["data"]
    assert [item.get("ok") for item in data] == [True, True, None]
    assert data[2]["error"]["code"] == "not_found"


async def test_batch_create_is_all_or_nothing(client):
    response = await client.post(
        "/v1/jobs/batch", json={"jobs": [{"handler": "h", "payload": {"n": n}} for n in range(3)]}
    )
    assert response.status_code == 201
    assert [j["payload"]["n"] for j in response.json()["data"]] == [0, 1, 2]


async def test_long_poll_returns_as_soon_as_a_job_is_created(client, runtime):
    waiting = long_poll(client, handlers=("late",), wait_seconds=10)
    await wait_for_claimers(runtime)
    assert runtime.notifier.claim_waiter_count == 1
    job = await create_job(client, handler="late")
    response = await asyncio.wait_for(waiting, 2)
    assert [j["id"] for j in response.json()["jobs"]] == [job["id"]]


async def test_api_keys_are_shown_once_and_can_be_revoked(client):
    created = await create_api_key(client, "ci")
    assert created["key"].startswith("chrns_")
    listing = (await client.get("/v1/api-keys")).json()["data"]
    assert created["id"] in [k["id"] for k in listing]
    assert all("key" not in k and "key_hash" not in k for k in listing)
    headers = bearer(created["key"])
    assert (await client.get("/v1/jobs", headers=headers)).status_code == 200
    assert (await client.delete(f"/v1/api-keys/{created['id']}")).status_code == 204
    assert (await client.get("/v1/jobs", headers=headers)).status_code == 401


async def test_operations_endpoints(client):
    for path in ["/health", "/ready", "/openapi.json", "/docs"]:
        response = await client.get(path, headers={"Authorization": ""})
        assert response.status_code == 200, path


async def test_metrics_count_created_and_claimed_jobs(client):
    def sample(text: str, name: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = (await client.get("/metrics")).text
    await create_job(client, handler="h")
    await claim(client)
    after = (await client.get("/metrics")).text
    created = 'chronos_jobs_created_total{trigger="api"}'
    assert sample(after, created) == sample(before, created) + 1
    claimed = "chronos_jobs_claimed_total"
    assert sample(after, claimed) == sample(before, claimed) + 1


# --- More rules of the jobs API -----------------------------------------------------------------


async def job_count(client) -> int:
    return len(await list_jobs(client, limit=500))


async def test_seed_002_process_upload_job_runs_as_soon_as_possible(client, clock):
    job = await create_job(
        client, name="Process upload", handler="process-upload", payload={"fileId": "file_abc123"}
    )
    assert (job["name"], job["handler"], job["payload"]) == (
        "Process upload",
        "process-upload",
        {"fileId": "file_abc123"},
    )
    assert job["scheduled_for"] == job["run_at"] == "2026-03-01T12:00:00Z"
    assert (job["timeout"], job["max_retries"], job["attempt"]) == (30, 3, 0)
    assert job["delivery"] == {"type": "pull"}
    assert (job["result"], job["last_error"], job["finished_at"]) == (None, None, None)
    claimed = await claim_one(client, handlers=("process-upload",))
    assert (claimed["id"], claimed["name"], claimed["payload"]) == (
        job["id"],
        "Process upload",
        {"fileId": "file_abc123"},
    )


async def test_seed_002_charge_invoice_is_created_once_per_idempotency_key(client, runtime, clock):
    body = {
        "name": "Charge invoice inv_789",
        "handler": "charge-invoice",
        "delay": {"value": 1, "unit": "hour"},
        "idempotency_key": "charge-inv_789",
        "payload": {"invoiceId": "inv_789"},
    }
    job = await create_job(client, **body)
    assert (job["status"], job["run_at"], job["idempotency_key"]) == (
        "pending",
        "2026-03-01T13:00:00Z",
        "charge-inv_789",
    )
    for _ in range(3):  # webhook retries, double clicks
        again = await client.post("/v1/jobs", json=body)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "idempotency_key_conflict"
    assert await job_count(client) == 1
    assert await claim(client, handlers=("charge-invoice",)) == []
    clock.advance(hours=1)
    await run_admission(runtime)
    claimed = await claim_one(client, handlers=("charge-invoice",))
    assert claimed["id"] == job["id"]


async def test_seed_002_critical_charge_overrides_timeout_and_retries(client):
    job = await create_job(
        client,
        name="Critical charge",
        handler="charge-invoice",
        delay={"value": 1, "unit": "hour"},
        timeout=60,
        max_retries=5,
        payload={"invoiceId": "inv_789"},
    )
    assert (job["status"], job["timeout"], job["max_retries"]) == ("pending", 60, 5)
    assert job["retry_policy"]["max_attempts"] == 6


async def test_seed_002_push_job_is_pending_with_its_delivery(client):
    job = await create_job(
        client,
        name="Send webhook notification",
        handler="notify",
        delay={"value": 5, "unit": "minute"},
        delivery={"type": "push", "http": {"url": "https://your-app.com/hooks/chronos"}},
        payload={"event": "subscription.created", "data": {"id": "sub_123"}},
    )
    assert (job["status"], job["run_at"]) == ("pending", "2026-03-01T12:05:00Z")
    assert job["delivery"]["type"] == "push"
    assert job["delivery"]["http"]["method"] == "POST"


async def test_idempotency_key_stays_taken_after_the_job_finished(client):
    job = await create_job(client, handler="h", idempotency_key="once")
    claimed = await claim_one(client)
    await report(client, claimed["execution_id"], status="completed")
    again = await client.post("/v1/jobs", json={"handler": "h", "idempotency_key": "once"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "idempotency_key_conflict")
    assert (await get_job(client, job["id"]))["status"] == "completed"
    assert await job_count(client) == 1


async def test_jobs_without_idempotency_key_are_never_conflicts(client):
    for _ in range(3):
        await create_job(client, handler="h", payload={"same": True})
    assert await job_count(client) == 3


async def test_scheduled_for_in_the_past_runs_now(client, clock):
    job = await create_job(client, handler="h", scheduled_for="2026-03-01T11:00:00Z")
    assert (job["status"], job["scheduled_for"], job["run_at"]) == (
        "ready",
        "2026-03-01T11:00:00Z",
        "2026-03-01T12:00:00Z",
    )


async def test_scheduled_for_with_an_offset_is_returned_in_utc(client, runtime, clock):
    job = await create_job(client, handler="h", scheduled_for="2026-03-01T14:30:00+02:00")
    assert (job["status"], job["run_at"], job["scheduled_for"]) == (
        "pending",
        "2026-03-01T12:30:00Z",
        "2026-03-01T12:30:00Z",
    )
    clock.advance(minutes=29, seconds=59)
    assert (await run_admission(runtime)).admitted == 0
    clock.advance(seconds=1)
    assert (await run_admission(runtime)).admitted == 1
    assert [j["id"] for j in await claim(client)] == [job["id"]]


async def test_delay_in_plural_units_and_zero_delay(client, clock):
    later = await create_job(client, handler="h", delay={"value": 2, "unit": "minutes"})
    assert (later["status"], later["run_at"]) == ("pending", "2026-03-01T12:02:00Z")
    now = await create_job(client, handler="h", delay=0)
    assert (now["status"], now["run_at"]) == ("ready", "2026-03-01T12:00:00Z")


async def test_list_by_schedule_id_shows_only_that_schedules_jobs(client):
    first = await create_schedule(client, name="a", handler="h", cron="* * * * *")
    await create_schedule(client, name="b", handler="h", cron="* * * * *")
    manual = await trigger_schedule(client, "a")
    await trigger_schedule(client, "b")
    await create_job(client, handler="h")
    listed = await list_jobs(client, schedule_id=first["id"])
    assert [j["id"] for j in listed] == [manual["id"]]
    one_off = await list_jobs(client, schedule_id="null")
    assert [(j["schedule_id"], j["trigger"]) for j in one_off] == [(None, "api")]


async def test_list_filters_combine_and_follow_status_changes(client):
    a1 = await create_job(client, handler="a")
    await create_job(client, handler="a")
    await create_job(client, handler="b")
    claimed = await claim_one(client, handlers=("b",))
    await report(client, claimed["execution_id"], status="completed")
    await client.post(f"/v1/jobs/{a1['id']}/cancel")

    async def count(**params: str) -> int:
        return len(await list_jobs(client, **params))

    assert await count(status="completed") == 1
    assert await count(status="completed", handler="a") == 0
    assert await count(status="canceled", handler="a") == 1
    assert await count(status="ready", handler="a") == 1
    assert await count(handler="nobody") == 0


async def test_list_jobs_pages_with_a_cursor(client):
    created = [(await create_job(client, handler="h"))["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = (
            await client.get(
                "/v1/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
            )
        ).json()
        seen += [j["id"] for j in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(created)
    assert len(seen) == 5


async def test_another_accounts_jobs_are_not_listed(client, other_client):
    await create_job(client, handler="h")
    assert (await other_client.get("/v1/jobs")).json() == {"data": [], "next_cursor": None}


async def test_get_job_lists_its_executions_in_attempt_order(client, runtime, clock):
    job = await create_job(client, handler="h", max_retries=2)
    for outcome in ("failed", "completed"):
        claimed = await claim_one(client)
        clock.advance(seconds=1)
        await report(client, claimed["execution_id"], status=outcome, output={"o": outcome})
        clock.advance(seconds=5)
        await run_admission(runtime)
    detail = await get_job(client, job["id"])
    assert (detail["status"], detail["attempt"], detail["result"]) == (
        "completed",
        2,
        {"o": "completed"},
    )
    assert [(e["attempt"], e["status"]) for e in detail["executions"]] == [
        (1, "failed"),
        (2, "completed"),
    ]
    assert all(
        e["job_id"] == job["id"] and e["id"].startswith("exe_") for e in detail["executions"]
    )
    assert all(e["duration_ms"] == 1000 for e in detail["executions"])
    listed = (await client.get(f"/v1/jobs/{job['id']}/executions")).json()
    assert listed == {"data": detail["executions"], "next_cursor": None}


async def test_cancel_pending_job_is_final_and_never_admitted(client, runtime, clock):
    job = await create_job(client, handler="h", delay="1m")
    canceled = await client.post(f"/v1/jobs/{job['id']}/cancel")
    assert canceled.status_code == 200
    body = canceled.json()
    assert (body["status"], body["cancel_requested"], body["finished_at"]) == (
        "canceled",
        False,
        "2026-03-01T12:00:00Z",
    )
    clock.advance(minutes=5)
    assert (await run_admission(runtime)).admitted == 0
    assert await claim(client) == []
    assert (await get_job(client, job["id"]))["status"] == "canceled"


async def test_canceled_ready_job_is_not_claimable(client):
    job = await create_job(client, handler="h")
    await client.post(f"/v1/jobs/{job['id']}/cancel")
    assert await claim(client) == []
    again = await client.post(f"/v1/jobs/{job['id']}/cancel")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_state")


async def test_cancel_running_job_cancels_its_execution_and_refuses_its_result(client, clock):
    job = await create_job(client, handler="h")
    claimed = await claim_one(client)
    clock.advance(seconds=3)
    canceled = (await client.post(f"/v1/jobs/{job['id']}/cancel")).json()
    assert (canceled["status"], canceled["cancel_requested"]) == ("canceled", True)
    [execution] = (await get_job(client, job["id"]))["executions"]
    assert (execution["status"], execution["finished_at"]) == ("canceled", "2026-03-01T12:00:03Z")
    beat = (await client.post(f"/v1/worker/executions/{claimed['execution_id']}/heartbeat")).json()
    assert beat["cancel_requested"] is True
    for status in ("completed", "failed"):
        late = await client.post(
            f"/v1/worker/executions/{claimed['execution_id']}/result", json={"status": status}
        )
        assert (late.status_code, late.json()["error"]["code"]) == (409, "execution_not_running")
    assert (await get_job(client, job["id"]))["status"] == "canceled"


async def test_retry_failed_job_runs_again_with_a_fresh_round_of_retries(client, runtime, clock):
    job = await create_job(client, handler="h", max_retries=1)

    async def run_until_final() -> list[int]:
        attempts = []
        while True:
            claimed = await claim_one(client)
            attempts.append(claimed["attempt"])
            await report(client, claimed["execution_id"], status="failed", error="boom")
            detail = await get_job(client, job["id"])
            if detail["status"] == "failed":
                return attempts
            clock.advance(seconds=10)
            await run_admission(runtime)

    assert await run_until_final() == [1, 2]
    clock.advance(minutes=1)
    retried = await client.post(f"/v1/jobs/{job['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["run_at"], retried.json()["finished_at"]) == (
        "ready",
        "2026-03-01T12:01:10Z",
        None,
    )
    assert await run_until_final() == [3, 4]


async def test_retry_canceled_job_makes_it_claimable_again(client):
    job = await create_job(client, handler="h")
    first = await claim_one(client)
    await client.post(f"/v1/jobs/{job['id']}/cancel")
    retried = (await client.post(f"/v1/jobs/{job['id']}/retry")).json()
    assert (retried["status"], retried["cancel_requested"]) == ("ready", False)
    second = await claim_one(client)
    assert (second["id"], second["attempt"]) == (job["id"], 2)
    assert second["execution_id"] != first["execution_id"]
    await report(client, second["execution_id"], status="completed")
    assert (await get_job(client, job["id"]))["status"] == "completed"


async def test_retry_wakes_a_waiting_worker(client, runtime):
    job = await create_job(client, handler="h", max_retries=0)
    claimed = await claim_one(client)
    await report(client, claimed["execution_id"], status="failed")
    waiting = long_poll(client, wait_seconds=5)
    await wait_for_claimers(runtime)
    assert runtime.notifier.claim_waiter_count == 1
    await client.post(f"/v1/jobs/{job['id']}/retry")
    response = await asyncio.wait_for(waiting, 2)
    assert [j["id"] for j in response.json()["jobs"]] == [job["id"]]


async def test_completed_job_cannot_be_canceled_or_retried(client):
    job = await create_job(client, handler="h")
    claimed = await claim_one(client)
    await report(client, claimed["execution_id"], status="completed")
    for action in ("cancel", "retry"):
        response = await client.post(f"/v1/jobs/{job['id']}/{action}")
        assert (response.status_code, response.json()["error"]["code"]) == (409, "invalid_state")


async def test_batch_of_three_jobs_is_created_and_claimable(client, clock):
    response = await client.post(
        "/v1/jobs/batch",
        json={
            "jobs": [
                {"handler": "h", "payload": {"n": 0}},
                {"handler": "h", "payload": {"n": 1}, "idempotency_key": "b1"},
                {"handler": "h", "payload": {"n": 2}, "delay": "1m"},
            ]
        },
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert len(data) == 3
    assert len({j["id"] for j in data}) == 3
    assert [j["status"] for j in data] == ["ready", "ready", "pending"]
    assert data[1]["idempotency_key"] == "b1"
    assert await job_count(client) == 3
    assert sorted(j["payload"]["n"] for j in await claim(client, limit=10)) == [0, 1]


async def test_batch_reusing_a_taken_idempotency_key_creates_nothing(client):
    await create_job(client, handler="h", idempotency_key="taken")
    response = await client.post(
        "/v1/jobs/batch",
        json={"jobs": [{"handler": "h"}, {"handler": "h", "idempotency_key": "taken"}]},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (
        409,
        "idempotency_key_conflict",
    )
    assert await job_count(client) == 1
