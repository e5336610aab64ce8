"""One-off jobs and the worker protocol through the API."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from chronos.server.engine.admission import AdmissionService


async def create(client, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def claim(client, handlers=("h",), limit: int = 1) -> list[dict[str, Any]]:
    response = await client.post(
        "/v1/worker/jobs/claim",
        json={"handlers": list(handlers), "wait_seconds": 0, "limit": limit, "worker_id": "w1"},
    )
    assert response.status_code == 200, response.text
    return response.json()["jobs"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_job_without_delay_is_ready_at_once(client, clock):
    job = await create(
        client, name="Process upload", handler="process-upload", payload={"fileId": "file_abc123"}
    )
    assert job["id"].startswith("job_")
    assert (job["status"], job["trigger"], job["schedule_id"]) == ("ready", "api", None)
    assert at(job["run_at"]) == clock.now()


async def test_delayed_job_waits_then_admission_makes_it_ready(client, runtime, clock):
    job = await create(
        client,
        name="Charge invoice inv_789",
        handler="charge-invoice",
        delay={"value": 1, "unit": "hour"},
        idempotency_key="charge-inv_789",
        payload={"invoiceId": "inv_789"},
    )
    assert job["status"] == "pending"
    assert at(job["run_at"]) == clock.now() + timedelta(hours=1)
    admission = AdmissionService(runtime.db, clock, runtime.notifier)
    clock.advance(minutes=59)
    assert (await admission.run_once()).admitted == 0
    clock.advance(minutes=1)
    assert (await admission.run_once()).admitted == 1
    assert (await client.get(f"/v1/jobs/{job['id']}")).json()["status"] == "ready"


async def test_scheduled_for_in_the_future_is_pending(client, clock):
    job = await create(client, handler="h", scheduled_for="2026-03-02T00:00:00Z")
    assert (job["status"], job["run_at"]) == ("pending", "2026-03-02T00:00:00Z")


async def test_duration_strings_and_overrides(client):
    job = await create(client, handler="h", delay="90s", timeout="2m", max_retries=5)
    assert (job["timeout"], job["max_retries"]) == (120, 5)


async def test_idempotency_key_is_scoped_to_the_account(client, other_client):
    await create(client, handler="h", idempotency_key="k1")
    again = await client.post("/v1/jobs", json={"handler": "h", "idempotency_key": "k1"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "idempotency_key_conflict"
    elsewhere = await other_client.post("/v1/jobs", json={"handler": "h", "idempotency_key": "k1"})
    assert elsewhere.status_code == 201


async def test_list_filters(client):
    await create(client, handler="a")
    await create(client, handler="b", tags={"team": "x"})
    await client.post("/v1/schedules", json={"name": "s", "handler": "a", "cron": "* * * * *"})
    await client.post("/v1/schedules/s/trigger")

    async def handlers(**params: str) -> list[str]:
        data = (await client.get("/v1/jobs", params=params)).json()["data"]
        return sorted(j["handler"] + ("*" if j["schedule_id"] else "") for j in data)

    assert await handlers() == ["a", "a*", "b"]
    assert await handlers(schedule_id="null") == ["a", "b"]
    assert await handlers(handler="b") == ["b"]
    assert await handlers(status="ready") == ["a", "a*", "b"]
    assert await handlers(status="completed") == []
    assert await handlers(**{"tag.team": "x"}) == ["b"]


async def test_claim_respects_limit_handlers_and_accounts(client, other_client):
    for _ in range(5):
        await create(client, handler="h")
    await create(client, handler="other")
    await other_client.post("/v1/jobs", json={"handler": "h"})
    first = await claim(client, limit=3)
    second = await claim(client, limit=3)
    assert (len(first), len(second)) == (3, 2)
    assert await claim(client, limit=3) == []
    assert len(await claim(other_client, limit=10)) == 1


async def test_claimed_job_carries_execution_and_lease(client, clock):
    job = await create(client, handler="h", payload={"x": 1}, timeout=45)
    [claimed] = await claim(client)
    assert claimed["id"] == job["id"]
    assert claimed["execution_id"].startswith("exe_")
    assert (claimed["attempt"], claimed["payload"]) == (1, {"x": 1})
    assert at(claimed["lease_expires_at"]) == clock.now() + timedelta(seconds=45)


async def test_completed_result_finishes_the_job_and_a_repeat_is_accepted(client, clock):
    job = await create(client, handler="h")
    [claimed] = await claim(client)
    clock.advance(seconds=2)
    path = f"/v1/worker/executions/{claimed['execution_id']}/result"
    for _ in range(2):
        response = await client.post(path, json={"status": "completed", "output": {"synced": 3}})
        assert response.status_code == 200
    detail = (await client.get(f"/v1/jobs/{job['id']}")).json()
    assert (detail["status"], detail["result"]) == ("completed", {"synced": 3})
    [execution] = detail["executions"]
    assert (execution["status"], execution["duration_ms"], execution["worker_id"]) == (
        "completed",
        2000,
        "w1",
    )
    assert (await client.get(f"/v1/executions/{execution['id']}")).json() == execution


async def test_failures_back_off_exponentially_then_fail(client, runtime, clock):
    job = await create(client, handler="h", max_retries=2)
    admission = AdmissionService(runtime.db, clock, runtime.notifier)
    delays = []
    for _ in range(3):
        [claimed] = await claim(client)
        await client.post(
            f"/v1/worker/executions/{claimed['execution_id']}/result",
            json={"status": "failed", "error": {"message": "boom"}},
        )
        detail = (await client.get(f"/v1/jobs/{job['id']}")).json()
        if detail["status"] != "pending":
            break
        delays.append((at(detail["run_at"]) - clock.now()).total_seconds())
        clock.set(at(detail["run_at"]))
        await admission.run_once()
    assert detail["status"] == "failed"
    assert detail["last_error"] == {"message": "boom"}
    assert 1 <= delays[0] <= 1.1 and 2 <= delays[1] <= 2.2
    assert [e["attempt"] for e in detail["executions"]] == [1, 2, 3]


async def test_non_retryable_failure_is_final(client):
    job = await create(client, handler="h")
    [claimed] = await claim(client)
    await client.post(
        f"/v1/worker/executions/{claimed['execution_id']}/result",
        json={"status": "failed", "retryable": False, "error": "bad input"},
    )
    detail = (await client.get(f"/v1/jobs/{job['id']}")).json()
    assert (detail["status"], detail["last_error"]) == ("failed", {"message": "bad input"})


async def test_retry_replays_a_failed_job(client):
    job = await create(client, handler="h", max_retries=0)
    [claimed] = await claim(client)
    await client.post(
        f"/v1/worker/executions/{claimed['execution_id']}/result", json={"status": "failed"}
    )
    retried = (await client.post(f"/v1/jobs/{job['id']}/retry")).json()
    assert retried["status"] == "ready"
    [again] = await claim(client)
    assert again["attempt"] == 2


async def test_cancel_ready_and_running_jobs(client, clock):
    ready = await create(client, handler="h")
    assert (await client.post(f"/v1/jobs/{ready['id']}/cancel")).json()["status"] == "canceled"
    running = await create(client, handler="h")
    [claimed] = await claim(client)
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
    await create(client, handler="h", timeout=10)
    [claimed] = await claim(client)
    clock.advance(seconds=8)
    beat = (await client.post(f"/v1/worker/executions/{claimed['execution_id']}/heartbeat")).json()
    assert at(beat["lease_expires_at"]) == clock.now() + timedelta(seconds=10)
    assert beat["cancel_requested"] is False


async def test_batch_results_report_each_item(client):
    await create(client, handler="h")
    await create(client, handler="h")
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
    waiting = asyncio.create_task(
        client.post("/v1/worker/jobs/claim", json={"handlers": ["late"], "wait_seconds": 10})
    )
    for _ in range(1000):
        if runtime.notifier.claim_waiter_count:
            break
        await asyncio.sleep(0.001)
    assert runtime.notifier.claim_waiter_count == 1
    job = await create(client, handler="late")
    response = await asyncio.wait_for(waiting, 2)
    assert [j["id"] for j in response.json()["jobs"]] == [job["id"]]


async def test_api_keys_are_shown_once_and_can_be_revoked(client):
    created = (await client.post("/v1/api-keys", json={"name": "ci"})).json()
    assert created["key"].startswith("chrns_")
    listing = (await client.get("/v1/api-keys")).json()["data"]
    assert created["id"] in [k["id"] for k in listing]
    assert all("key" not in k and "key_hash" not in k for k in listing)
    headers = {"Authorization": f"Bearer {created['key']}"}
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
    await create(client, handler="h")
    await claim(client)
    after = (await client.get("/metrics")).text
    created = 'chronos_jobs_created_total{trigger="api"}'
    assert sample(after, created) == sample(before, created) + 1
    claimed = "chronos_jobs_claimed_total"
    assert sample(after, claimed) == sample(before, claimed) + 1
