"""Push targets: what a push URL and its headers may be, how long a push may wait, which
addresses it may reach, and that no target, however malformed, can crash a delivery."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chronos.server.config import Settings
from chronos.server.domain.states import ExecutionStatus
from chronos.server.engine import http_client
from chronos.server.engine.dispatcher import Dispatcher
from chronos.server.engine.http_client import PushClient
from chronos.server.engine.push import (
    PushResult,
    build_request,
    check_push_target,
)
from chronos.server.engine.targets import refusal_reason
from chronos.server.errors import ValidationFailed
from chronos.server.normalize import check_push_timeout
from chronos.server.store.tables import jobs
from tests.helpers import get_job, list_jobs

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
async def dispatcher(runtime) -> AsyncIterator[Dispatcher]:
    service = Dispatcher(runtime.db, runtime.clock, runtime.notifier, concurrency=10)
    yield service
    await service.close()


def push(url: str, **http: Any) -> dict[str, Any]:
    return {"name": "push", "delivery": {"type": "push", "http": {"url": url, **http}}}


async def deliver(dispatcher: Dispatcher) -> list[asyncio.Task[None]]:
    """One dispatcher round, waited for; the delivery tasks it started (all finished)."""
    await dispatcher.run_once()
    tasks = list(dispatcher.in_flight.values())
    await dispatcher.wait_idle()
    return tasks


# --- URLs -----------------------------------------------------------------------------------

BAD_URLS = [
    "http://127.0.0.1:99999/x",  # port out of range: the request used to crash the delivery task
    "http://example.com:0/x",
    "http://example.com:-1/x",
    "http://example.com/a\tb",  # httpx refuses control characters anywhere in a URL
    "http://exa\tmple.com/",
    "http://example.com/a\r\nX-Injected: 1",
    "http://[::1/",  # used to be a 500 at creation
    "http://[zz]/",  # used to be a 500 at creation
    "http://256.1.1.1/",
    "http://xn--/",  # malformed international name (an IDNA error, not InvalidURL)
    "http://ex ample.com/",
    "http://a..b/",
    "http://" + "a" * 64 + ".example.com/",  # a DNS label is at most 63 characters
]


@pytest.mark.parametrize("url", BAD_URLS)
async def test_urls_the_sender_cannot_use_are_refused_at_creation(client, url):
    response = await client.post("/v1/jobs", json=push(url))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_url"
    assert error["details"] == {"field": "url"}
    assert await list_jobs(client) == []


@pytest.mark.parametrize("url", ["http://[zz]/", "http://[::1/", "http://x:99999/"])
async def test_schedules_refuse_them_too(client, url):
    response = await client.post(
        "/v1/schedules", json={"name": "s", "cron": "* * * * *", "webhook": {"url": url}}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_url"
    assert (await client.get("/v1/schedules")).json()["data"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://x",
        "https://example.com:8443/a/b?c=d&e=f#frag",
        "http://127.0.0.1:65535/",
        "http://[::1]:8080/hook",
        "http://bücher.example/pfad",
        "http://my_service.internal./x",
        "http://user:secret@example.com/x",
        "http://example.com/a b?q=c d",  # httpx percent-encodes spaces in path and query
    ],
)
async def test_sendable_urls_are_still_accepted(client, url):
    response = await client.post("/v1/jobs", json=push(url))
    assert response.status_code == 201, response.text
    assert response.json()["delivery"]["http"]["url"] == url


# --- headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Name": "café"}, "visible ASCII"),
        ({"X-Name": "a\x01b"}, "visible ASCII"),
        ({"X-Name": "a\x7fb"}, "visible ASCII"),
        ({"X-Name": "a\x1b[31m"}, "visible ASCII"),
        ({"X-Name": " leading"}, "visible ASCII"),
        ({"X-Name": "trailing\t"}, "visible ASCII"),
        ({"X-Name": "a\r\nX-Evil: 1"}, "line breaks"),
        ({"X-Name": "a" * 4097}, "4096 bytes"),
        ({f"X-H{i}": "a" * 4000 for i in range(5)}, "16384 bytes"),
    ],
)
async def test_bad_header_values_are_refused_at_creation(client, headers, message):
    response = await client.post("/v1/jobs", json=push("http://x", headers=headers))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert message in error["message"]
    assert await list_jobs(client) == []


async def test_header_values_within_the_rules_are_accepted_and_sent(client):
    headers = {
        "Authorization": "Bearer abc.DEF-123_~+/=",
        "X-Spaced": 'a b\tc !"#$%&()*,;<>?@[\\]^`{|}',
        "X-Empty": "",
        "X-Max": "v" * 4096,
    }
    response = await client.post("/v1/jobs", json=push("http://x", headers=headers))
    assert response.status_code == 201, response.text
    assert response.json()["delivery"]["http"]["headers"] == headers


async def test_check_push_target_agrees_with_the_request_builder():
    check_push_target("POST", "http://example.com/x", {"Authorization": "Bearer t"})
    with pytest.raises(ValueError, match="port"):
        check_push_target("POST", "http://example.com:70000/", {})


# --- the delivery task survives any stored target --------------------------------------------


async def _store_delivery(runtime, job_id: str, http: dict[str, Any]) -> None:
    """Overwrite a job's stored target, as a job created before today's validation may have."""
    async with runtime.db.transaction() as conn:
        row = (await conn.execute(sa.select(jobs.c.delivery).where(jobs.c.id == job_id))).one()
        delivery = {**row.delivery, "http": {**row.delivery["http"], **http}}
        await conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(delivery=delivery))


@pytest.mark.parametrize(
    "http",
    [
        {"url": "http://127.0.0.1:99999/x"},
        {"url": "http://[zz]/"},
        {"url": "http://example.com/a\tb"},
        {"url": "http://xn--/"},
        {"headers": {"X-Name": "café"}},
        {"headers": {"X-Name": "a\x01b"}},  # (PostgreSQL's JSON cannot even hold a NUL)
    ],
)
async def test_a_target_that_cannot_be_sent_fails_the_job_instead_of_the_task(
    client, runtime, dispatcher, http
):
    created = await client.post("/v1/jobs", json=push("http://127.0.0.1:9/x"))
    job_id = created.json()["id"]
    await _store_delivery(runtime, job_id, http)
    tasks = await deliver(dispatcher)
    assert len(tasks) == 1
    assert tasks[0].exception() is None  # no "Task exception was never retrieved"
    detail = await get_job(client, job_id)
    assert detail["status"] == "failed"  # for good: the same request would fail again
    assert detail["executions"][0]["status"] == "failed"
    assert detail["last_error"]["type"] == "invalid_request"
    assert detail["last_error"]["message"].startswith("the push request cannot be sent: ")


def _job() -> Any:
    return {
        "id": "job_1",
        "execution_id": "exe_1",
        "attempt": 1,
        "handler": None,
        "name": "n",
        "payload": None,
        "schedule_id": None,
        "scheduled_for": NOW,
    }


def _http(url: str, headers: dict[str, str] | None = None) -> Any:
    return {
        "url": url,
        "method": "POST",
        "headers": headers or {},
        "body": None,
        "success_codes": ["200-299"],
    }


async def test_build_request_returns_a_failed_result_instead_of_raising():
    ok = build_request(_job(), _http("http://example.com/x"), ["s"], NOW)
    assert isinstance(ok, httpx.Request)
    bad = build_request(_job(), _http("http://example.com/", {"X": "é"}), ["s"], NOW)
    assert isinstance(bad, PushResult)
    assert (bad.status, bad.retryable) == (ExecutionStatus.FAILED, False)
    assert bad.error is not None and bad.error["type"] == "invalid_request"
    client = PushClient(block_private=False, max_connections=1)
    try:
        result, duration_ms = await client.send(
            bad, timeout_seconds=1, success_codes=[(200, 299)], now=NOW
        )
    finally:
        await client.aclose()
    assert (result, duration_ms) == (bad, 0)


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("boom"),
        OverflowError("port must be 0-65535."),
        UnicodeError("encoding with 'idna' codec failed (label too long)"),
        httpx.InvalidURL("Invalid port"),
    ],
)
async def test_any_exception_while_sending_is_a_failed_result(exc, monkeypatch):
    async def exchange(*_: Any) -> PushResult:
        raise exc

    client = PushClient(block_private=False, max_connections=1)
    monkeypatch.setattr(client, "_exchange", exchange)
    request = httpx.Request("POST", "http://127.0.0.1:9/x")
    try:
        result, _ = await client.send(
            request, timeout_seconds=1, success_codes=[(200, 299)], now=NOW
        )
    finally:
        await client.aclose()
    assert (result.status, result.retryable) == (ExecutionStatus.FAILED, False)
    assert result.error is not None and str(exc) in result.error["message"]


async def test_a_failure_that_cannot_be_classified_is_still_a_failed_result(monkeypatch):
    async def exchange(*_: Any) -> PushResult:
        raise RuntimeError("boom")

    def unclassifiable(*_: Any) -> PushResult:
        raise ValueError("the classifier broke too")

    client = PushClient(block_private=False, max_connections=1)
    monkeypatch.setattr(client, "_exchange", exchange)
    monkeypatch.setattr(http_client, "describe_error", unclassifiable)
    try:
        result, _ = await client.send(
            httpx.Request("POST", "http://127.0.0.1:9/x"),
            timeout_seconds=1,
            success_codes=[(200, 299)],
            now=NOW,
        )
    finally:
        await client.aclose()
    assert (result.status, result.retryable) == (ExecutionStatus.FAILED, False)
    assert result.error is not None and "boom" in result.error["message"]


# --- timeout --------------------------------------------------------------------------------


def test_push_timeout_is_bounded_by_the_configured_limit():
    push_delivery: Any = {"type": "push", "http": _http("http://x")}
    check_push_timeout(900, push_delivery, 900)
    check_push_timeout(86_400, {"type": "pull"}, 900)  # a worker's job is not bounded here
    with pytest.raises(ValidationFailed) as raised:
        check_push_timeout(901, push_delivery, 900)
    assert raised.value.code == "validation_error"
    assert "15m (900s)" in raised.value.message
    assert "CHRONOS_PUSH_MAX_TIMEOUT" in raised.value.message
    assert raised.value.details == {"field": "timeout", "timeout": 901, "limit": 900}


def test_push_max_timeout_setting(monkeypatch):
    assert Settings().push_max_timeout_seconds == 3600
    monkeypatch.delenv("CHRONOS_PUSH_MAX_TIMEOUT", raising=False)
    assert Settings.from_env().push_max_timeout_seconds == 3600
    monkeypatch.setenv("CHRONOS_PUSH_MAX_TIMEOUT", "15m")
    assert Settings.from_env().push_max_timeout_seconds == 900


async def test_a_push_job_asking_more_than_the_limit_is_refused(client):
    response = await client.post("/v1/jobs", json={**push("http://x"), "timeout": "61m"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "1h (3600s)" in error["message"]
    assert await list_jobs(client) == []


async def test_a_batch_names_the_push_job_asking_too_much(client):
    jobs_in = [push("http://x"), {**push("http://x"), "timeout": 3601}]
    response = await client.post("/v1/jobs/batch", json={"jobs": jobs_in})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith("jobs[1]: ")
    assert await list_jobs(client) == []


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_a_push_schedule_asking_more_than_the_limit_is_refused(client, method):
    body = {"name": "s", "cron": "* * * * *", "webhook": {"url": "http://x"}, "timeout": "2h"}
    path = "/v1/schedules" if method == "POST" else "/v1/schedules/s"
    response = await client.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert "CHRONOS_PUSH_MAX_TIMEOUT" in response.json()["error"]["message"]
    assert (await client.get("/v1/schedules")).json()["data"] == []


async def test_the_limit_is_for_push_jobs_only_and_inclusive(client):
    pull = await client.post("/v1/jobs", json={"handler": "h", "timeout": "2h"})
    assert pull.status_code == 201, pull.text
    at_limit = await client.post("/v1/jobs", json={**push("http://x"), "timeout": "1h"})
    assert at_limit.status_code == 201, at_limit.text


# --- addresses ------------------------------------------------------------------------------

ALWAYS = "always"
PRIVATE = "private"
ALLOWED = None

ADDRESSES = [
    # IPv4 link-local and metadata: refused in every mode.
    ("169.254.169.254", ALWAYS),
    ("169.254.0.1", ALWAYS),
    ("100.100.100.200", ALWAYS),
    # ... and every IPv6 form that wraps them.
    ("::ffff:169.254.169.254", ALWAYS),  # IPv4-mapped
    ("::ffff:0:169.254.169.254", ALWAYS),  # IPv4-translated (SIIT)
    ("::169.254.169.254", ALWAYS),  # IPv4-compatible
    ("64:ff9b::169.254.169.254", ALWAYS),  # NAT64
    ("64:ff9b::a9fe:1", ALWAYS),
    ("64:ff9b:1::a9fe:a9fe", ALWAYS),  # local-use NAT64, /96 form
    ("2002:a9fe:a9fe::", ALWAYS),  # 6to4
    ("2002:a9fe:a9fe:1:2:3:4:5", ALWAYS),
    ("2002:6464:64c8::1", ALWAYS),  # 6to4 of 100.100.100.200
    ("::ffff:100.100.100.200", ALWAYS),
    ("2001:0:4136:e378:8000:63bf:5601:5601", ALWAYS),  # Teredo, client 169.254.169.254
    # IPv6 link-local and metadata.
    ("fe80::1", ALWAYS),
    ("fe80::1%eth0", ALWAYS),
    ("febf:ffff::1", ALWAYS),
    ("fd00:ec2::254", ALWAYS),
    # Private, loopback and other non-public space: refused with block_private only.
    ("127.0.0.1", PRIVATE),
    ("127.255.255.254", PRIVATE),
    ("10.1.2.3", PRIVATE),
    ("172.16.0.1", PRIVATE),
    ("172.31.255.255", PRIVATE),
    ("192.168.1.1", PRIVATE),
    ("100.64.0.1", PRIVATE),  # carrier-grade NAT
    ("0.0.0.0", PRIVATE),
    ("224.0.0.1", PRIVATE),
    ("240.0.0.1", PRIVATE),
    ("255.255.255.255", PRIVATE),
    ("::1", PRIVATE),
    ("::", PRIVATE),
    ("fc00::1", PRIVATE),
    ("fd12:3456::1", PRIVATE),
    ("fec0::1", PRIVATE),  # site-local
    ("feff::1", PRIVATE),
    ("ff02::1", PRIVATE),
    ("::ffff:127.0.0.1", PRIVATE),
    ("::ffff:10.0.0.1", PRIVATE),
    ("::ffff:0:127.0.0.1", PRIVATE),
    ("::127.0.0.1", PRIVATE),
    ("::192.168.0.1", PRIVATE),
    ("64:ff9b::127.0.0.1", PRIVATE),
    ("64:ff9b::10.0.0.1", PRIVATE),
    ("64:ff9b::100.64.0.1", PRIVATE),
    ("2002:7f00:1::", PRIVATE),
    ("2002:c0a8:101::1", PRIVATE),
    ("2002:a00:1:1::1", PRIVATE),
    ("2002:ac10:1::", PRIVATE),
    ("2002:6440:1::", PRIVATE),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", PRIVATE),  # Teredo, client 127.0.0.1
    # Public: allowed in every mode, including the forms that wrap a public IPv4.
    ("8.8.8.8", ALLOWED),
    ("1.1.1.1", ALLOWED),
    ("169.253.255.255", ALLOWED),
    ("169.255.0.1", ALLOWED),
    ("100.128.0.1", ALLOWED),
    ("172.32.0.1", ALLOWED),
    ("2606:4700:4700::1111", ALLOWED),
    ("2a00:1450:4001:80b::200e", ALLOWED),
    ("::ffff:8.8.8.8", ALLOWED),
    ("64:ff9b::8.8.8.8", ALLOWED),  # an IPv6-only network reaching a public IPv4 site
    ("2002:808:808::1", ALLOWED),
]


@pytest.mark.parametrize(("text", "expected"), ADDRESSES)
@pytest.mark.parametrize("block_private", [False, True])
def test_address_classifier(text, expected, block_private):
    reason = refusal_reason(ipaddress.ip_address(text), block_private=block_private)
    if expected == ALWAYS:
        assert reason is not None and "link-local or cloud metadata" in reason
    elif expected == PRIVATE and block_private:
        assert reason is not None and "CHRONOS_PUSH_BLOCK_PRIVATE" in reason
    else:
        assert reason is None


def test_a_wrapped_address_is_named_in_the_reason():
    reason = refusal_reason(ipaddress.ip_address("64:ff9b::a9fe:a9fe"), block_private=False)
    assert reason is not None and "169.254.169.254" in reason


@pytest.mark.parametrize(
    "url",
    ["http://[64:ff9b::a9fe:a9fe]/latest", "http://[2002:a9fe:a9fe::1]/x", "http://[::a9fe:a9fe]/"],
)
async def test_wrapped_metadata_addresses_are_refused_at_delivery(
    client, dispatcher, url, monkeypatch
):
    # Creation refuses these literals (test_attacks_issue14); delivery refuses them again.
    monkeypatch.setattr("chronos.server.normalize.literal_refusal", lambda host: None)
    # timeout=2 bounds the attempt should the guard let it through to the network
    created = await client.post("/v1/jobs", json={**push(url), "timeout": 2})
    assert created.status_code == 201, created.text
    await deliver(dispatcher)
    detail = await get_job(client, created.json()["id"])
    assert detail["status"] == "failed"
    assert detail["last_error"]["type"] == "target_refused"
    assert "169.254.169.254" in detail["last_error"]["message"]


async def test_block_private_refuses_a_6to4_wrapped_loopback(client, runtime):
    strict = Dispatcher(runtime.db, runtime.clock, runtime.notifier, block_private=True)
    try:
        created = await client.post(
            "/v1/jobs", json={**push("http://[2002:7f00:1::]:9/"), "timeout": 2}
        )
        await deliver(strict)
    finally:
        await strict.close()
    detail = await get_job(client, created.json()["id"])
    assert detail["status"] == "failed"
    assert detail["last_error"]["type"] == "target_refused"
    assert "CHRONOS_PUSH_BLOCK_PRIVATE" in detail["last_error"]["message"]
