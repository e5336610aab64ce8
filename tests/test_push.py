"""Push delivery against a real HTTP endpoint on loopback (started by the tests)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from chronos.server.engine.dispatcher import Dispatcher
from chronos.webhooks import InvalidSignature, verify
from tests.helpers import (
    create_job,
    create_schedule,
    get_job,
    list_jobs,
    run_admission,
    run_lease_rescuer,
    run_scheduler,
    wait_until,
)


@pytest.fixture
async def dispatcher(runtime) -> AsyncIterator[Dispatcher]:
    service = Dispatcher(runtime.db, runtime.clock, runtime.notifier, concurrency=10)
    yield service
    await service.close()


async def push_job(client, url: str, **fields: Any) -> dict[str, Any]:
    """Create a job pushed to ``url``; ``http={...}`` adds to its delivery's HTTP settings."""
    http = {"url": url, **fields.pop("http", {})}
    return await create_job(
        client, **{"name": "push", "delivery": {"type": "push", "http": http}, **fields}
    )


async def deliver(dispatcher: Dispatcher) -> None:
    await dispatcher.run_once()
    await dispatcher.wait_idle()


async def test_success_completes_and_records_the_response(client, endpoint, dispatcher):
    endpoint.route("/ok", 200)
    job = await push_job(client, endpoint.url("/ok"), payload={"event": "x"})
    assert job["status"] == "queued"
    await deliver(dispatcher)
    done = await get_job(client, job["id"])
    assert done["status"] == "completed"
    execution = done["executions"][0]
    assert (execution["status"], execution["http_status"]) == ("completed", 200)
    assert execution["response_excerpt"] == '{"ok": true}'
    assert execution["duration_ms"] is not None


async def test_request_carries_envelope_ids_and_a_valid_signature(
    client, endpoint, dispatcher, runtime
):
    endpoint.route("/ok", 200)
    job = await push_job(client, endpoint.url("/ok"), payload={"n": 1}, handler="notify")
    await deliver(dispatcher)
    request = endpoint.received[0]
    envelope = json.loads(request.body)
    execution_id = (await get_job(client, job["id"]))["executions"][0]["id"]
    assert envelope == {
        "job_id": job["id"],
        "execution_id": execution_id,
        "attempt": 1,
        "handler": "notify",
        "name": "push",
        "payload": {"n": 1},
        "schedule_id": None,
        "scheduled_for": job["scheduled_for"],
    }
    assert request.headers["x-chronos-job-id"] == job["id"]
    assert request.headers["x-chronos-execution-id"] == execution_id
    assert request.headers["x-chronos-attempt"] == "1"
    secret = (await client.get("/v1/signing-secrets")).json()["data"][0]["secret"]
    now = runtime.clock.now().timestamp()
    verify(request.body, request.headers, secret, now=now)
    with pytest.raises(InvalidSignature):
        verify(request.body, request.headers, "whsec_wrong", now=now)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify(request.body, request.headers, secret, now=now + 301)


async def test_custom_method_headers_and_body_are_sent_as_given(client, endpoint, dispatcher):
    endpoint.route("/put", 204)
    await push_job(
        client,
        endpoint.url("/put"),
        http={
            "method": "put",
            "headers": {"Authorization": "Bearer token123"},
            "body": '{"type": "full"}',
        },
    )
    await deliver(dispatcher)
    request = endpoint.received[0]
    assert request.method == "PUT"
    assert request.headers["authorization"] == "Bearer token123"
    assert request.body == b'{"type": "full"}'


async def test_rotation_sends_both_signatures_until_the_next_rotation(
    client, endpoint, dispatcher, runtime
):
    endpoint.route("/ok", 200)
    old = (await client.get("/v1/signing-secrets")).json()["data"][0]["secret"]
    rotated = (await client.post("/v1/signing-secrets/rotate")).json()["data"]
    assert [s["status"] for s in rotated] == ["current", "previous"]
    new = rotated[0]["secret"]
    assert rotated[1]["secret"] == old
    await push_job(client, endpoint.url("/ok"))
    await deliver(dispatcher)
    request = endpoint.received[0]
    assert request.headers["x-chronos-signature"].count("v1=") == 2
    now = runtime.clock.now().timestamp()
    verify(request.body, request.headers, new, now=now)
    verify(request.body, request.headers, old, now=now)
    again = (await client.post("/v1/signing-secrets/rotate")).json()["data"]
    assert old not in [s["secret"] for s in again]


@pytest.mark.parametrize("status", [500, 502, 408, 429, 302])
async def test_retryable_answers_send_the_job_back_for_a_retry(
    client, endpoint, dispatcher, status
):
    endpoint.route("/x", status)
    job = await push_job(client, endpoint.url("/x"))
    await deliver(dispatcher)
    detail = await get_job(client, job["id"])
    assert detail["status"] == "pending"
    assert detail["executions"][0]["http_status"] == status
    assert len(endpoint.received) == 1  # a redirect is recorded, never followed


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
async def test_other_client_errors_fail_the_job_for_good(client, endpoint, dispatcher, status):
    endpoint.route("/x", status)
    job = await push_job(client, endpoint.url("/x"))
    await deliver(dispatcher)
    detail = await get_job(client, job["id"])
    assert detail["status"] == "failed"
    assert detail["last_error"]["message"] == f"the endpoint answered {status}"


async def test_success_codes_are_configurable(client, endpoint, dispatcher):
    endpoint.route("/accepted", 202)
    endpoint.route("/created", 201)
    ok = await push_job(client, endpoint.url("/created"), http={"success_codes": [201]})
    not_ok = await push_job(
        client, endpoint.url("/accepted"), http={"success_codes": ["200-201"]}, max_retries=0
    )
    await deliver(dispatcher)
    assert (await get_job(client, ok["id"]))["status"] == "completed"
    assert (await get_job(client, not_ok["id"]))["status"] == "failed"


async def test_retry_after_seconds_sets_the_next_attempt(client, endpoint, dispatcher, runtime):
    async def busy(_: Request) -> Response:
        return Response(status_code=429, headers={"Retry-After": "120"})

    endpoint.route("/busy", busy)
    job = await push_job(client, endpoint.url("/busy"))
    await deliver(dispatcher)
    detail = await get_job(client, job["id"])
    assert detail["status"] == "pending"
    expected = runtime.clock.now() + timedelta(seconds=120)
    assert detail["run_at"] == expected.isoformat().replace("+00:00", "Z")


async def test_failed_push_is_retried_with_backoff_and_then_succeeds(
    client, endpoint, dispatcher, runtime
):
    answers = iter([503, 200])

    async def flaky(_: Request) -> Response:
        return Response(status_code=next(answers))

    endpoint.route("/flaky", flaky)
    job = await push_job(client, endpoint.url("/flaky"))
    await deliver(dispatcher)
    assert (await get_job(client, job["id"]))["status"] == "pending"
    runtime.clock.advance(seconds=1.2)
    assert (await run_admission(runtime)).admitted == 1
    await deliver(dispatcher)
    detail = await get_job(client, job["id"])
    assert detail["status"] == "completed"
    assert [e["http_status"] for e in detail["executions"]] == [503, 200]


async def test_timeout_bounds_the_whole_request(client, endpoint, dispatcher):
    async def slow(request: Request) -> Response:
        for _ in range(500):
            if await request.is_disconnected():
                break
            await asyncio.sleep(0.01)
        return Response(status_code=200)

    endpoint.route("/slow", slow)
    job = await push_job(client, endpoint.url("/slow"), timeout=1)
    await deliver(dispatcher)
    detail = await get_job(client, job["id"])
    execution = detail["executions"][0]
    assert execution["status"] == "timeout"
    assert execution["error"]["message"] == "timed out after 1s"
    assert detail["status"] == "pending"


async def test_connection_refused_is_retried_with_a_plain_message(client, dispatcher):
    job = await push_job(client, "http://127.0.0.1:9/nothing-listens")
    await deliver(dispatcher)
    detail = await get_job(client, job["id"])
    assert detail["executions"][0]["error"]["message"] == "connection refused to 127.0.0.1:9"
    assert detail["status"] == "pending"


async def test_unresolvable_host_is_retried(client, dispatcher):
    job = await push_job(client, "http://no-such-host.invalid/hook")
    await deliver(dispatcher)
    detail = await get_job(client, job["id"])
    assert "could not resolve host no-such-host.invalid" in detail["last_error"]["message"]
    assert detail["status"] == "pending"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/x",
        "http://[::ffff:169.254.169.254]/x",
    ],
)
async def test_link_local_and_metadata_targets_are_always_refused(
    client, dispatcher, url, monkeypatch
):
    # Creation refuses these literals now (test_attacks_issue14); a job stored before that,
    # or a DNS name that resolves there, still meets the delivery-time guard.
    monkeypatch.setattr("chronos.server.normalize.literal_refusal", lambda host: None)
    job = await push_job(client, url)
    await deliver(dispatcher)
    detail = await get_job(client, job["id"])
    assert detail["status"] == "failed"
    assert detail["last_error"]["type"] == "target_refused"


async def test_block_private_refuses_loopback(client, endpoint, runtime):
    endpoint.route("/ok", 200)
    strict = Dispatcher(runtime.db, runtime.clock, runtime.notifier, block_private=True)
    try:
        job = await push_job(client, endpoint.url("/ok"))
        await deliver(strict)
    finally:
        await strict.close()
    detail = await get_job(client, job["id"])
    assert detail["status"] == "failed"
    assert "CHRONOS_PUSH_BLOCK_PRIVATE" in detail["last_error"]["message"]
    assert endpoint.received == []


async def test_response_excerpt_keeps_the_first_4_kib(client, endpoint, dispatcher):
    async def big(_: Request) -> Response:
        return Response(b"a" * 10_000, status_code=200)

    endpoint.route("/big", big)
    job = await push_job(client, endpoint.url("/big"))
    await deliver(dispatcher)
    excerpt = (await get_job(client, job["id"]))["executions"][0]["response_excerpt"]
    assert excerpt == "a" * 4096


async def test_a_slow_endpoint_does_not_stall_other_deliveries(client, endpoint, dispatcher):
    release = asyncio.Event()

    async def stuck(_: Request) -> Response:
        await asyncio.wait_for(release.wait(), 10)
        return Response(status_code=200)

    endpoint.route("/stuck", stuck)
    endpoint.route("/ok", 200)
    slow_job = await push_job(client, endpoint.url("/stuck"), timeout=10)
    await dispatcher.run_once()
    fast = [await push_job(client, endpoint.url("/ok")) for _ in range(5)]
    await dispatcher.run_once()
    fast_tasks = [dispatcher.in_flight[j["id"]] for j in fast if j["id"] in dispatcher.in_flight]
    await asyncio.wait_for(asyncio.gather(*fast_tasks), 5)
    for job in fast:
        assert (await get_job(client, job["id"]))["status"] == "completed"
    assert (await get_job(client, slow_job["id"]))["status"] == "running"
    release.set()
    await dispatcher.wait_idle()
    assert (await get_job(client, slow_job["id"]))["status"] == "completed"


async def test_cancel_aborts_a_running_push_request(client, endpoint, dispatcher):
    async def hang(request: Request) -> Response:
        for _ in range(1000):
            if await request.is_disconnected():
                endpoint.disconnected.append("/hang")
                return Response(status_code=499)
            await asyncio.sleep(0.01)
        return Response(status_code=200)

    endpoint.route("/hang", hang)
    job = await push_job(client, endpoint.url("/hang"), timeout=20)
    await dispatcher.run_once()
    task = dispatcher.in_flight[job["id"]]
    await wait_until(lambda: bool(endpoint.received), "the push request never reached the endpoint")
    canceled = await client.post(f"/v1/jobs/{job['id']}/cancel")
    assert canceled.json()["status"] == "canceled"
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)
    assert task.cancelled()
    await wait_until(lambda: bool(endpoint.disconnected), "the endpoint never saw the request end")
    assert endpoint.disconnected == ["/hang"]
    detail = await get_job(client, job["id"])
    assert detail["status"] == "canceled"
    assert detail["executions"][0]["status"] == "canceled"


async def test_push_schedule_via_seed_004_model(client, endpoint, dispatcher, runtime):
    endpoint.route("/backup", 200)
    model = {
        "id": "550e8400-e29b-41d4-a716-446655440000",
        "name": "daily-backup",
        "description": "Backup database to S3",
        "schedule": "0 2 * * *",
        "timezone": "America/New_York",
        "webhook": {
            "url": endpoint.url("/backup"),
            "method": "POST",
            "headers": {"Authorization": "Bearer token123"},
            "body": '{"type": "full"}',
        },
        "retry_policy": {"max_attempts": 3, "initial_interval": "1s", "multiplier": 2.0},
        "timeout": "30m",
        "concurrency": "forbid",
        "tags": {"team": "platform", "priority": "critical"},
        "enabled": True,
        "created_at": "2026-01-29T10:00:00Z",
        "updated_at": "2026-01-29T10:00:00Z",
        "next_run": "2026-01-30T07:00:00Z",
    }
    schedule = await create_schedule(client, **model)
    assert schedule["delivery"]["type"] == "push"
    assert schedule["max_retries"] == 2
    assert schedule["timeout"] == 1800
    assert schedule["next_run_at"] == "2026-03-02T07:00:00Z"
    runtime.clock.set(runtime.clock.now() + timedelta(hours=19, seconds=1))
    await run_scheduler(runtime)
    await deliver(dispatcher)
    assert endpoint.received[0].body == b'{"type": "full"}'
    assert endpoint.received[0].headers["authorization"] == "Bearer token123"


async def test_dead_node_push_is_retried_when_its_lease_expires(client, runtime):
    job = await push_job(client, "http://127.0.0.1:9/x", timeout=5)
    # A dispatcher claims the job, then its node "dies" before any request is made.
    from chronos.server.store import claims

    async with runtime.db.transaction() as conn:
        claimed = await claims.job_claim_queued(
            conn, limit=10, node_id="dead", now=runtime.clock.now(), lease_margin=10
        )
    assert [j["id"] for j in claimed] == [job["id"]]
    runtime.clock.advance(seconds=16)
    await run_lease_rescuer(runtime)
    detail = await get_job(client, job["id"])
    assert detail["status"] == "pending"
    assert detail["executions"][0]["status"] == "timeout"


@pytest.mark.parametrize(
    ("delivery", "code"),
    [
        ({"type": "push", "http": {"url": "ftp://example.com/x"}}, "invalid_url"),
        ({"type": "push", "http": {"url": "not a url"}}, "invalid_url"),
        ({"type": "push", "http": {"url": "http://x", "method": "TRACE"}}, "validation_error"),
        ({"type": "push", "http": {"url": "http://x", "headers": {"a": 1}}}, "validation_error"),
        (
            {"type": "push", "http": {"url": "http://x", "headers": {"X-Chronos-Job-Id": "1"}}},
            "validation_error",
        ),
        (
            {"type": "push", "http": {"url": "http://x", "success_codes": ["abc"]}},
            "validation_error",
        ),
        ({"type": "push", "http": {"url": "http://x", "colour": "red"}}, "validation_error"),
        ({"type": "push"}, "validation_error"),
    ],
)
async def test_bad_push_configuration_is_rejected(client, delivery, code):
    response = await client.post("/v1/jobs", json={"delivery": delivery})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert await list_jobs(client) == []


async def test_oversized_push_body_is_rejected(client):
    response = await client.post(
        "/v1/jobs",
        json={"delivery": {"type": "push", "http": {"url": "http://x", "body": "a" * 70_000}}},
    )
    assert response.status_code == 413
    assert await list_jobs(client) == []


async def test_schedule_with_non_http_url_is_rejected(client):
    response = await client.post(
        "/v1/schedules",
        json={"name": "bad", "cron": "* * * * *", "webhook": {"url": "file:///etc/passwd"}},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_url"
    assert (await client.get("/v1/schedules")).json()["data"] == []


async def test_tls_failure_is_retried_with_a_plain_message(client, endpoint, dispatcher):
    endpoint.route("/plain", 200)
    job = await push_job(client, endpoint.url("/plain").replace("http://", "https://"))
    await deliver(dispatcher)
    detail = await get_job(client, job["id"])
    assert detail["status"] == "pending"
    assert detail["last_error"]["type"] == "tls"
    assert detail["last_error"]["message"].startswith(f"TLS error with 127.0.0.1:{endpoint.port}")


async def test_push_concurrency_bounds_requests_in_flight(client, endpoint, runtime):
    release = asyncio.Event()

    async def held(_: Request) -> Response:
        await asyncio.wait_for(release.wait(), 10)
        return Response(status_code=200)

    endpoint.route("/held", held)
    narrow = Dispatcher(runtime.db, runtime.clock, runtime.notifier, concurrency=2)
    try:
        jobs = [await push_job(client, endpoint.url("/held")) for _ in range(5)]
        for _ in range(3):
            await narrow.run_once()
        assert len(narrow.in_flight) == 2
        statuses = [(await get_job(client, j["id"]))["status"] for j in jobs]
        assert sorted(statuses) == ["queued", "queued", "queued", "running", "running"]
        release.set()
        for _ in range(5):
            await narrow.wait_idle()
            await narrow.run_once()
        await narrow.wait_idle()
        assert [(await get_job(client, j["id"]))["status"] for j in jobs] == ["completed"] * 5
    finally:
        await narrow.close()


async def test_replace_policy_aborts_the_running_push_request(
    client, endpoint, dispatcher, runtime
):
    async def hang(request: Request) -> Response:
        for _ in range(1000):
            if await request.is_disconnected():
                endpoint.disconnected.append("/replace")
                break
            await asyncio.sleep(0.01)
        return Response(status_code=200)

    endpoint.route("/replace", hang)
    await create_schedule(
        client,
        name="replacing",
        interval={"value": 1, "unit": "second"},
        concurrency="replace",
        timeout=20,
        webhook={"url": endpoint.url("/replace")},
    )
    runtime.clock.advance(seconds=1)
    await run_scheduler(runtime)
    await dispatcher.run_once()
    [first] = list(dispatcher.in_flight.values())
    await wait_until(lambda: bool(endpoint.received), "the push request never reached the endpoint")
    runtime.clock.advance(seconds=1)
    await run_scheduler(runtime)
    await asyncio.wait_for(asyncio.gather(first, return_exceptions=True), 5)
    assert first.cancelled()
    jobs = await list_jobs(client)
    assert [j["status"] for j in jobs] == ["queued", "canceled"]


def test_retry_after_accepts_seconds_and_http_dates():
    from datetime import UTC, datetime

    from chronos.server.engine.push import parse_retry_after

    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Sun, 01 Mar 2026 12:01:30 GMT", now) == 90
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_client_webhooks_verify_accepts_any_of_several_signatures():
    import time

    from chronos import Chronos
    from chronos.webhooks import signature_header

    chronos = Chronos(api_key="chrns_x", base_url="http://127.0.0.1:9")
    body, now = b'{"job_id": "job_1"}', int(time.time())
    headers = {"X-Chronos-Signature": signature_header(["whsec_new", "whsec_old"], now, body)}
    chronos.webhooks.verify(body, headers, "whsec_old")
    chronos.webhooks.verify(body.decode(), headers, "whsec_new")
    with pytest.raises(chronos.webhooks.InvalidSignature):
        chronos.webhooks.verify(body, headers, "whsec_other")
    with pytest.raises(chronos.webhooks.InvalidSignature):
        chronos.webhooks.verify(body, {"X-Chronos-Signature": "t=abc"}, "whsec_new")
    chronos.close()
