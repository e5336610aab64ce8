"""The pull worker protocol: claim (and long-poll), results, heartbeats, leases, retries."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.helpers import (
    at,
    claim,
    claim_one,
    create_job,
    create_schedule,
    get_job,
    get_schedule,
    list_jobs,
    long_poll,
    report,
    run_admission,
    run_lease_rescuer,
    run_scheduler,
    wait_for_claimers,
)

# --- claim --------------------------------------------------------------------------------------


async def test_claim_returns_execution_attempt_payload_and_lease(client, clock):
    job = await create_job(
        client, handler="h", name="n", payload={"tenant": 7}, tags={"team": "core"}
    )
    claimed = await claim_one(client)
    assert claimed["id"] == job["id"]
    assert claimed["execution_id"].startswith("exe_")
    assert (claimed["attempt"], claimed["payload"], claimed["name"]) == (1, {"tenant": 7}, "n")
    assert (claimed["handler"], claimed["trigger"], claimed["tags"]) == (
        "h",
        "api",
        {"team": "core"},
    )
    assert claimed["timeout"] == 30
    assert at(claimed["lease_expires_at"]) == clock.now() + timedelta(seconds=30)
    detail = await get_job(client, job["id"])
    assert (detail["status"], detail["attempt"]) == ("running", 1)
    [execution] = detail["executions"]
    assert execution["id"] == claimed["execution_id"]
    assert (execution["status"], execution["worker_id"], execution["started_at"]) == (
        "running",
        "w1",
        "2026-03-01T12:00:00Z",
    )
    assert execution["lease_expires_at"] == claimed["lease_expires_at"]


async def test_a_claimed_job_is_not_claimed_again(client):
    await create_job(client, handler="h")
    assert len(await claim(client)) == 1
    assert await claim(client, worker_id="w2") == []


async def test_claim_limit_is_respected(client):
    for n in range(5):
        await create_job(client, handler="h", payload={"n": n})
    first = await claim(client, limit=3)
    second = await claim(client, limit=3)
    assert (len(first), len(second)) == (3, 2)
    payloads = sorted(j["payload"]["n"] for j in first + second)
    assert payloads == [0, 1, 2, 3, 4]
    assert len({j["execution_id"] for j in first + second}) == 5


async def test_claim_hands_out_the_longest_due_jobs_first(client, runtime, clock):
    late = await create_job(client, handler="h", delay="1m")
    clock.advance(seconds=30)
    # due now, run_at = now
    early = await create_job(client, handler="h", scheduled_for="2026-03-01T11:00:00Z")
    clock.advance(seconds=31)
    await run_admission(runtime)
    now = await create_job(client, handler="h")  # run_at 12:01:01, a second after the delayed one
    order = [j["id"] for j in await claim(client, limit=3)]
    assert order == [early["id"], late["id"], now["id"]]


async def test_claim_takes_only_the_listed_handlers(client):
    a = await create_job(client, handler="a")
    b = await create_job(client, handler="b")
    await create_job(client, handler="c")
    claimed = await claim(client, handlers=("a", "b"), limit=10)
    assert sorted(j["id"] for j in claimed) == sorted([a["id"], b["id"]])
    assert [j["handler"] for j in await claim(client, handlers=("c",))] == ["c"]


async def test_a_full_claim_over_several_handlers_wakes_the_claims_waiting_for_them(
    client, runtime, account
):
    # On PostgreSQL such a claim briefly holds rows it does not take (store/claims.py), so a
    # claim that looked meanwhile may have found nothing: the waiting claims of those handlers
    # look again, on this node and (through the broadcast) on the others.
    for handler in ("a", "b", "a"):
        await create_job(client, handler=handler)
    notifier = runtime.notifier
    sent: list[tuple[str, str, str]] = []  # what would go to the other nodes
    notifier.broadcast = sent.append
    with (
        notifier.waiting_for_jobs(account["id"], ["b"]) as b_waiter,
        notifier.waiting_for_jobs(account["id"], ["c"]) as c_waiter,
    ):
        assert len(await claim(client, handlers=("a", "b"), limit=5)) == 3  # not full
        assert not b_waiter.is_set()
        await create_job(client, handler="a")
        b_waiter.clear()
        sent.clear()
        assert len(await claim(client, handlers=("b", "a"), limit=1)) == 1  # full
        assert not c_waiter.is_set()
        # On SQLite (one writer, no row locks) no claim holds rows it did not take.
        woken = not runtime.db.is_sqlite
        assert b_waiter.is_set() is woken
    wakeups = {m for m in sent if m[0] == "ready"}
    expected = {("ready", account["id"], "a"), ("ready", account["id"], "b")}
    assert wakeups == (expected if woken else set())


async def test_claim_takes_only_the_callers_jobs(client, other_client):
    mine = await create_job(client, handler="h")
    await create_job(other_client, handler="h")
    assert [j["id"] for j in await claim(client, limit=10)] == [mine["id"]]
    theirs = await claim(other_client, limit=10)
    assert len(theirs) == 1 and theirs[0]["id"] != mine["id"]


async def test_claim_ignores_pending_jobs_until_admitted(client, runtime, clock):
    job = await create_job(client, handler="h", delay="10s")
    assert await claim(client) == []
    clock.advance(seconds=10)
    assert await claim(client) == []  # due, but not yet admitted
    await run_admission(runtime)
    assert [j["id"] for j in await claim(client)] == [job["id"]]


async def test_claim_with_no_wait_and_nothing_ready_returns_at_once(client, runtime):
    response = await asyncio.wait_for(
        client.post("/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 0}), 2
    )
    assert (response.status_code, response.json()) == (200, {"jobs": []})
    assert runtime.notifier.claim_waiter_count == 0


async def test_claim_defaults_to_one_job(client):
    for _ in range(3):
        await create_job(client, handler="h")
    response = await client.post("/v1/worker/jobs/claim", json={"handlers": ["h"]})
    assert len(response.json()["jobs"]) == 1


# --- long-poll ----------------------------------------------------------------------------------


async def test_long_poll_returns_as_soon_as_a_job_is_created(client, runtime):
    waiting = long_poll(client)
    await wait_for_claimers(runtime)
    assert not waiting.done()
    job = await create_job(client, handler="h", payload={"fresh": True})
    response = await asyncio.wait_for(waiting, 2)
    [claimed] = response.json()["jobs"]
    assert (claimed["id"], claimed["payload"], claimed["attempt"]) == (
        job["id"],
        {"fresh": True},
        1,
    )
    assert runtime.notifier.claim_waiter_count == 0


async def test_long_poll_is_not_woken_by_other_handlers_or_accounts(client, other_client, runtime):
    waiting = long_poll(client, handlers=("wanted",))
    await wait_for_claimers(runtime)
    await create_job(client, handler="unwanted")
    await create_job(other_client, handler="wanted")
    for _ in range(50):
        await asyncio.sleep(0)
    assert not waiting.done()
    job = await create_job(client, handler="wanted")
    response = await asyncio.wait_for(waiting, 2)
    assert [j["id"] for j in response.json()["jobs"]] == [job["id"]]


async def test_long_poll_is_woken_by_admission_of_a_delayed_job(client, runtime, clock):
    job = await create_job(client, handler="h", delay="1m")
    waiting = long_poll(client)
    await wait_for_claimers(runtime)
    clock.advance(minutes=1)
    await run_admission(runtime)
    response = await asyncio.wait_for(waiting, 2)
    assert [j["id"] for j in response.json()["jobs"]] == [job["id"]]


async def test_long_poll_is_woken_by_a_schedule_firing(client, runtime, clock):
    await create_schedule(client, name="tick", handler="h", interval={"value": 1, "unit": "second"})
    waiting = long_poll(client)
    await wait_for_claimers(runtime)
    clock.advance(seconds=1)
    await run_scheduler(runtime)
    response = await asyncio.wait_for(waiting, 2)
    [claimed] = response.json()["jobs"]
    assert (claimed["trigger"], claimed["scheduled_for"]) == ("schedule", "2026-03-01T12:00:01Z")


async def test_two_long_polls_share_two_jobs(client, runtime):
    first, second = long_poll(client), long_poll(client)
    await wait_for_claimers(runtime, 2)
    response = await client.post("/v1/jobs/batch", json={"jobs": [{"handler": "h"}] * 2})
    ids = sorted(j["id"] for j in response.json()["data"])
    answers = await asyncio.wait_for(asyncio.gather(first, second), 2)
    claimed = sorted(j["id"] for a in answers for j in a.json()["jobs"])
    assert claimed == ids


# --- results ------------------------------------------------------------------------------------


async def test_completed_result_completes_the_job_with_its_output(client, clock):
    job = await create_job(client, handler="h")
    claimed = await claim_one(client)
    clock.advance(seconds=1.5)
    response = await client.post(
        f"/v1/worker/executions/{claimed['execution_id']}/result",
        json={"status": "completed", "output": {"n": 3}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True
    detail = await get_job(client, job["id"])
    assert (detail["status"], detail["result"], detail["last_error"]) == (
        "completed",
        {"n": 3},
        None,
    )
    assert detail["finished_at"] == "2026-03-01T12:00:01.500000Z"
    [execution] = detail["executions"]
    assert (execution["status"], execution["output"], execution["duration_ms"]) == (
        "completed",
        {"n": 3},
        1500,
    )
    assert (execution["finished_at"], execution["lease_expires_at"]) == (
        "2026-03-01T12:00:01.500000Z",
        None,
    )


async def test_the_same_result_twice_is_accepted_and_applied_once(client, clock):
    job = await create_job(client, handler="h")
    claimed = await claim_one(client)
    path = f"/v1/worker/executions/{claimed['execution_id']}/result"
    first = await client.post(path, json={"status": "failed", "error": {"message": "x"}})
    clock.advance(seconds=1)
    second = await client.post(path, json={"status": "failed", "error": {"message": "x"}})
    assert (first.status_code, second.status_code) == (200, 200)
    detail = await get_job(client, job["id"])
    assert (detail["status"], detail["attempt"]) == ("pending", 1)
    assert len(detail["executions"]) == 1
    assert detail["executions"][0]["finished_at"] == "2026-03-01T12:00:00Z"


async def test_a_different_result_after_the_first_is_refused(client):
    job = await create_job(client, handler="h")
    claimed = await claim_one(client)
    await report(client, claimed["execution_id"], status="completed", output=1)
    late = await client.post(
        f"/v1/worker/executions/{claimed['execution_id']}/result", json={"status": "failed"}
    )
    assert (late.status_code, late.json()["error"]["code"]) == (409, "execution_not_running")
    assert (await get_job(client, job["id"]))["status"] == "completed"


async def test_retryable_failure_backs_off_and_retries_with_the_next_attempt(
    client, runtime, clock
):
    job = await create_job(client, handler="h", max_retries=3)
    first = await claim_one(client)
    await report(client, first["execution_id"], status="failed", error={"message": "flaky"})
    pending = await get_job(client, job["id"])
    assert (pending["status"], pending["last_error"]) == ("pending", {"message": "flaky"})
    delay = (at(pending["run_at"]) - clock.now()).total_seconds()
    assert 1.0 <= delay <= 1.1  # initial interval 1 s, jitter up to +10 %
    assert pending["finished_at"] is None
    assert (await run_admission(runtime)).admitted == 0
    clock.set(at(pending["run_at"]))
    assert (await run_admission(runtime)).admitted == 1
    second = await claim_one(client)
    assert (second["id"], second["attempt"]) == (job["id"], 2)
    assert second["execution_id"] != first["execution_id"]
    await report(client, second["execution_id"], status="failed")
    again = await get_job(client, job["id"])
    delay = (at(again["run_at"]) - clock.now()).total_seconds()
    assert 2.0 <= delay <= 2.2  # multiplier 2
    assert [e["status"] for e in again["executions"]] == ["failed", "failed"]


async def test_max_retries_one_allows_exactly_two_attempts(client, runtime, clock):
    job = await create_job(client, handler="h", max_retries=1)
    first = await claim_one(client)
    await report(client, first["execution_id"], status="failed", error="one")
    clock.advance(seconds=5)
    await run_admission(runtime)
    second = await claim_one(client)
    assert second["attempt"] == 2
    await report(client, second["execution_id"], status="failed", error="two")
    detail = await get_job(client, job["id"])
    assert (detail["status"], detail["last_error"]) == ("failed", {"message": "two"})
    assert detail["finished_at"] == "2026-03-01T12:00:05Z"
    clock.advance(hours=1)
    assert (await run_admission(runtime)).admitted == 0
    assert await claim(client) == []


async def test_max_retries_zero_fails_at_the_first_failure(client):
    job = await create_job(client, handler="h", max_retries=0)
    claimed = await claim_one(client)
    await report(client, claimed["execution_id"], status="failed")
    assert (await get_job(client, job["id"]))["status"] == "failed"


async def test_non_retryable_failure_fails_at_once(client):
    job = await create_job(client, handler="h", max_retries=5)
    claimed = await claim_one(client)
    response = await client.post(
        f"/v1/worker/executions/{claimed['execution_id']}/result",
        json={
            "status": "failed",
            "retryable": False,
            "error": {"message": "invoice not found", "code": 404},
        },
    )
    assert response.status_code == 200
    detail = await get_job(client, job["id"])
    assert (detail["status"], detail["last_error"]) == (
        "failed",
        {"message": "invoice not found", "code": 404},
    )
    assert detail["executions"][0]["error"] == {"message": "invoice not found", "code": 404}


async def test_retry_policy_sets_the_backoff(client, clock):
    job = await create_job(
        client,
        handler="h",
        retry_policy={"max_attempts": 3, "initial_interval": "10s", "multiplier": 3},
    )
    assert job["max_retries"] == 2
    claimed = await claim_one(client)
    await report(client, claimed["execution_id"], status="failed")
    delay = (at((await get_job(client, job["id"]))["run_at"]) - clock.now()).total_seconds()
    assert 10.0 <= delay <= 11.0


async def test_completed_result_of_a_scheduled_job_sets_the_schedules_last_status(
    client, runtime, clock
):
    await create_schedule(client, name="tick", handler="h", interval={"value": 1, "unit": "minute"})
    clock.advance(minutes=1)
    await run_scheduler(runtime)
    claimed = await claim_one(client)
    await report(client, claimed["execution_id"], status="completed")
    schedule = await get_schedule(client, "tick")
    assert (schedule["last_status"], schedule["success_rate"]) == ("completed", 1.0)


# --- heartbeats and leases ----------------------------------------------------------------------


async def test_heartbeat_extends_the_lease_from_now(client, runtime, clock):
    job = await create_job(client, handler="h", timeout=20)
    claimed = await claim_one(client)
    for _ in range(3):
        clock.advance(seconds=15)
        beat = await client.post(f"/v1/worker/executions/{claimed['execution_id']}/heartbeat")
        assert beat.status_code == 200, beat.text
        assert beat.json() == {
            "lease_expires_at": (clock.now() + timedelta(seconds=20))
            .isoformat()
            .replace("+00:00", "Z"),
            "cancel_requested": False,
        }
        assert (await run_lease_rescuer(runtime)).timed_out == 0
    detail = await get_job(client, job["id"])
    assert detail["status"] == "running"
    assert detail["executions"][0]["lease_expires_at"] == "2026-03-01T12:01:05Z"


async def test_expired_lease_times_out_the_execution_and_retries_the_job(client, runtime, clock):
    job = await create_job(client, handler="h", timeout=10)
    first = await claim_one(client)
    clock.advance(seconds=10)
    assert (await run_lease_rescuer(runtime)).timed_out == 0  # the lease runs to its last instant
    clock.advance(seconds=0.001)
    assert (await run_lease_rescuer(runtime)).timed_out == 1
    assert (await run_lease_rescuer(runtime)).timed_out == 0
    detail = await get_job(client, job["id"])
    assert detail["status"] == "pending"
    assert detail["last_error"]["type"] == "timeout"
    [execution] = detail["executions"]
    assert (execution["status"], execution["error"]["type"]) == ("timeout", "timeout")
    assert execution["duration_ms"] == 10001
    late = await client.post(
        f"/v1/worker/executions/{first['execution_id']}/result", json={"status": "completed"}
    )
    assert (late.status_code, late.json()["error"]["code"]) == (409, "execution_not_running")
    clock.set(at(detail["run_at"]))
    await run_admission(runtime)
    second = await claim_one(client)
    assert (second["id"], second["attempt"]) == (job["id"], 2)
    await report(client, second["execution_id"], status="completed", output="ok")
    done = await get_job(client, job["id"])
    assert (done["status"], done["result"]) == ("completed", "ok")
    assert [e["status"] for e in done["executions"]] == ["timeout", "completed"]


async def test_heartbeat_after_completion_is_refused(client):
    await create_job(client, handler="h")
    claimed = await claim_one(client)
    await report(client, claimed["execution_id"], status="completed")
    beat = await client.post(f"/v1/worker/executions/{claimed['execution_id']}/heartbeat")
    assert (beat.status_code, beat.json()["error"]["code"]) == (409, "execution_not_running")


async def test_get_execution_by_id(client, clock):
    job = await create_job(client, handler="h")
    claimed = await claim_one(client)
    execution = (await client.get(f"/v1/executions/{claimed['execution_id']}")).json()
    assert (execution["job_id"], execution["attempt"], execution["status"]) == (
        job["id"],
        1,
        "running",
    )
    assert execution["finished_at"] is None and execution["duration_ms"] is None


# --- batch results ------------------------------------------------------------------------------


async def test_batch_results_apply_each_valid_item_and_report_the_others(client, other_client):
    jobs = [await create_job(client, handler="h") for _ in range(3)]
    claimed = await claim(client, limit=3)
    await create_job(other_client, handler="h")
    foreign = await claim_one(other_client)
    by_job = {j["id"]: j["execution_id"] for j in claimed}
    ids = [by_job[j["id"]] for j in jobs]
    await report(client, ids[2], status="completed")
    response = await client.post(
        "/v1/worker/results",
        json={
            "results": [
                {"execution_id": ids[0], "status": "completed", "output": {"i": 0}},
                {"execution_id": "exe_unknown", "status": "completed"},
                {"execution_id": ids[1], "status": "failed", "error": "e", "retryable": False},
                {"execution_id": foreign["execution_id"], "status": "completed"},
                {"execution_id": ids[2], "status": "failed"},
                {"execution_id": ids[2], "status": "completed"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [item["execution_id"] for item in data] == [
        ids[0],
        "exe_unknown",
        ids[1],
        foreign["execution_id"],
        ids[2],
        ids[2],
    ]
    assert data[0] == {"execution_id": ids[0], "ok": True}
    assert data[1]["error"]["code"] == "not_found"
    assert data[2] == {"execution_id": ids[1], "ok": True}
    assert data[3]["error"]["code"] == "not_found"
    assert data[4]["error"]["code"] == "execution_not_running"
    assert data[5]["error"]["code"] == "duplicate_execution"
    statuses = [(await get_job(client, j["id"]))["status"] for j in jobs]
    assert statuses == ["completed", "failed", "completed"]
    assert (await get_job(client, jobs[0]["id"]))["result"] == {"i": 0}
    foreign_job = await get_job(other_client, foreign["id"])
    assert foreign_job["status"] == "running"


async def test_batch_of_plain_successes_answers_each_report(client, other_client, clock):
    """Only plain successes (the at-once path on both backends): the running one completes,
    a repeat is accepted, an execution that ended otherwise is 409, an unknown or another
    account's execution is 404 — and a duration left out is measured by the server."""
    jobs = [await create_job(client, handler="h") for _ in range(3)]
    good, repeat, failed = await claim(client, limit=3)
    await create_job(other_client, handler="h")
    foreign = await claim_one(other_client)
    await report(client, repeat["execution_id"], status="completed")
    await report(client, failed["execution_id"], status="failed", retryable=False)
    clock.advance(1.5)
    response = await client.post(
        "/v1/worker/results",
        json={
            "results": [
                {"execution_id": "exe_unknown", "status": "completed"},
                {"execution_id": failed["execution_id"], "status": "completed"},
                {"execution_id": good["execution_id"], "status": "completed", "output": [1]},
                {"execution_id": repeat["execution_id"], "status": "completed"},
                {"execution_id": foreign["execution_id"], "status": "completed"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [item.get("ok") or item["error"]["code"] for item in data] == [
        "not_found",
        "execution_not_running",
        True,
        True,
        "not_found",
    ]
    by_id = {job["id"]: await get_job(client, job["id"]) for job in jobs}
    assert [by_id[j["id"]]["status"] for j in (good, repeat, failed)] == [
        "completed",
        "completed",
        "failed",
    ]
    assert by_id[good["id"]]["result"] == [1]
    execution = (await client.get(f"/v1/executions/{good['execution_id']}")).json()
    assert (execution["status"], execution["duration_ms"]) == ("completed", 1500)
    assert (await get_job(other_client, foreign["id"]))["status"] == "running"


async def test_batch_results_repeat_is_accepted(client):
    job = await create_job(client, handler="h")
    claimed = await claim_one(client)
    body = {"results": [{"execution_id": claimed["execution_id"], "status": "completed"}]}
    for _ in range(2):
        response = await client.post("/v1/worker/results", json=body)
        assert response.json()["data"] == [{"execution_id": claimed["execution_id"], "ok": True}]
    assert (await get_job(client, job["id"]))["status"] == "completed"


async def test_batch_results_drain_a_batch_claim(client):
    await client.post("/v1/jobs/batch", json={"jobs": [{"handler": "h"}] * 100})
    claimed = await claim(client, limit=100)
    assert len(claimed) == 100
    response = await client.post(
        "/v1/worker/results",
        json={
            "results": [{"execution_id": j["execution_id"], "status": "completed"} for j in claimed]
        },
    )
    assert all(item.get("ok") for item in response.json()["data"])
    assert len(await list_jobs(client, status="completed", limit=500)) == 100


async def test_no_duration_can_make_a_claim_or_a_result_fail(client, clock):
    """A timeout or backoff beyond any date would break every claim or result of its handler."""
    for body in (
        {"timeout": 10**12},
        {"timeout": 1e300},
        {"retry_policy": {"initial_interval": 10**12, "max_interval": 10**13}},
        {"delay": 10**12},
        {"delay": {"value": 10**9, "unit": "week"}},
    ):
        response = await client.post("/v1/jobs", json={"handler": "h", **body})
        assert (response.status_code, response.json()["error"]["code"]) == (
            422,
            "validation_error",
        ), body
    job = await create_job(
        client,
        handler="h",
        timeout="36500d",
        retry_policy={"initial_interval": "36500d", "max_interval": "36500d"},
    )
    claimed = await claim_one(client)
    assert at(claimed["lease_expires_at"]) == clock.now() + timedelta(days=36500)
    failed = await client.post(
        f"/v1/worker/executions/{claimed['execution_id']}/result", json={"status": "failed"}
    )
    assert failed.status_code == 200, failed.text
    assert (await get_job(client, job["id"]))["status"] == "pending"
