"""Alert rules and alerts through the API, on both databases: the real scheduler fires and
misses slots under the fake clock, the evaluator and the notifier run one round at a time, and
the notifications arrive, signed, at a real HTTP endpoint on loopback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response

from chronos.server.clock import FakeClock
from chronos.server.engine.alerts import (
    LEASE,
    AlertEvaluator,
    AlertNotifier,
    EvaluationRound,
    NotifyRound,
)
from chronos.server.runtime import Runtime
from chronos.server.store import alerts as alert_store
from chronos.server.store.tables import audit_events
from chronos.webhooks import InvalidSignature, verify
from tests.endpoint import Endpoint, Received
from tests.helpers import (
    claim,
    claim_one,
    create_job,
    create_schedule,
    expect,
    report,
    run_scheduler,
)

MINUTELY = {"handler": "h", "cron": "* * * * *", "concurrency": "allow", "max_retries": 0}


async def evaluate(runtime: Runtime) -> EvaluationRound:
    return await AlertEvaluator(runtime.db, runtime.clock, interval=0).run_once()


async def notify(runtime: Runtime) -> NotifyRound:
    notifier = AlertNotifier(runtime.db, runtime.clock)
    try:
        return await notifier.run_once()
    finally:
        await notifier.close()


async def create_rule(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    return expect(await client.post("/v1/alert-rules", json=fields), 201)


async def alerts(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    return expect(await client.get("/v1/alerts", params=params), 200)["data"]


async def secret_of(client: httpx.AsyncClient) -> str:
    return expect(await client.get("/v1/signing-secrets"), 200)["data"][0]["secret"]


def verified(received: Received, secret: str, clock: FakeClock) -> dict[str, Any]:
    """The body of a notification, after checking its signature as a receiver would."""
    verify(received.body, received.headers, secret, now=clock.now().timestamp())
    return json.loads(received.body)


async def test_a_missed_slot_pages_once_after_the_grace_and_resolves_when_firing_resumes(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock, endpoint: Endpoint
):
    endpoint.route("/hook", 200)
    schedule = await create_schedule(client, name="nightly", misfire_policy="skip", **MINUTELY)
    rule = await create_rule(
        client,
        name="missed slots",
        condition="missed",
        grace="2m",
        cooldown=0,
        webhook={"url": endpoint.url("/hook"), "headers": {"Authorization": "Bearer x"}},
    )
    assert rule["grace"] == 120 and rule["condition"] == {"type": "missed"}
    clock.advance(minutes=1)  # 12:01: fires on time
    await run_scheduler(runtime)
    assert (await evaluate(runtime)).opened == 0

    clock.advance(minutes=1, seconds=30)  # 12:02:30: back after missing the 12:02 slot
    await run_scheduler(runtime)
    await evaluate(runtime)
    [pending] = await alerts(client)
    assert pending["status"] == "pending" and pending["fired_at"] is None  # within the grace

    clock.advance(minutes=2)  # 12:04:30: down again since 12:03: held for the grace now
    await evaluate(runtime)
    await evaluate(runtime)  # a second look changes nothing
    [firing] = await alerts(client)
    assert firing["id"] == pending["id"] and firing["status"] == "firing"
    assert firing["subject"] == {"type": "schedule", "id": schedule["id"], "name": "nightly"}
    assert firing["since"] == "2026-03-01T12:02:00Z"
    # Seen while the scheduler is still down (as another node would): its fire is overdue.
    assert firing["summary"] == (
        "nightly: its fire due at 2026-03-01T12:03:00Z has not happened (is a scheduler running?)"
    )
    assert (await notify(runtime)).sent == 1
    assert (await notify(runtime)).attempted == 0  # sent once

    secret = await secret_of(client)
    [page] = endpoint.received
    body = verified(page, secret, clock)
    assert page.headers["authorization"] == "Bearer x"
    assert page.headers["x-chronos-event"] == "firing"
    assert body["event"] == "firing" and body["alert"]["id"] == firing["id"]
    assert body["alert"]["rule_id"] == rule["id"] and "nightly" in body["text"]
    with pytest.raises(InvalidSignature):
        verify(page.body, page.headers, "whsec_wrong", now=clock.now().timestamp())

    clock.advance(seconds=30)  # 12:05: the scheduler is back; 12:05 fires on time
    await run_scheduler(runtime)
    clock.advance(seconds=10)
    await evaluate(runtime)
    [resolved] = await alerts(client)
    assert resolved["status"] == "resolved" and resolved["resolved_at"] == "2026-03-01T12:05:00Z"
    assert (await notify(runtime)).sent == 1
    body = verified(endpoint.received[1], secret, clock)
    assert body["event"] == "resolved" and body["alert"]["status"] == "resolved"

    detail = expect(await client.get(f"/v1/alerts/{firing['id']}"), 200)
    assert [(n["event"], n["status"], n["http_status"]) for n in detail["notifications"]] == [
        ("firing", "sent", 200),
        ("resolved", "sent", 200),
    ]
    assert await alerts(client, status="firing") == []
    assert len(await alerts(client, rule_id=rule["id"], subject="nightly")) == 1


async def test_a_restart_within_the_grace_does_not_page(client, runtime, clock, endpoint):
    endpoint.route("/hook", 200)
    await create_schedule(client, name="often", handler="h", interval="10s", concurrency="allow")
    await create_rule(
        client, name="missed", condition="missed", webhook={"url": endpoint.url("/hook")}
    )
    clock.advance(seconds=35)  # down from the start: :10 and :20 missed, :30 fires late
    assert (await run_scheduler(runtime)).missed == 2
    await evaluate(runtime)
    [pending] = await alerts(client)  # holding since 12:00:10, less than the 60 s grace
    assert pending["status"] == "pending" and pending["details"]["missed_slots"] == 2
    clock.advance(seconds=5)  # 12:00:40 fires on time: firing has resumed
    await run_scheduler(runtime)
    await evaluate(runtime)
    [quiet] = await alerts(client)
    assert quiet["status"] == "resolved" and quiet["fired_at"] is None
    await notify(runtime)
    assert endpoint.received == []

    clock.advance(seconds=45)  # 12:01:25: the same once more, but nobody looked meanwhile
    await run_scheduler(runtime)
    clock.advance(seconds=5)
    await run_scheduler(runtime)
    await evaluate(runtime)
    assert [a["id"] for a in await alerts(client)] == [quiet["id"]]  # no trace, no page
    await notify(runtime)
    assert endpoint.received == []


async def test_a_flapping_schedule_pages_once(client, runtime, clock, endpoint):
    endpoint.route("/hook", 200)
    await create_schedule(client, name="flaky", misfire_policy="skip", **MINUTELY)
    await create_rule(
        client,
        name="missed",
        condition={"type": "missed"},
        grace=0,
        cooldown="10m",
        webhook={"url": endpoint.url("/hook")},
    )
    for _ in range(3):  # miss a slot, then fire on time: three times
        clock.advance(minutes=1, seconds=30)
        await run_scheduler(runtime)  # the slot half a minute ago is missed
        await evaluate(runtime)
        clock.advance(seconds=30)
        await run_scheduler(runtime)  # on time
        await evaluate(runtime)
        await notify(runtime)
    [alert] = await alerts(client)
    assert alert["status"] == "resolved" and alert["reopened"] == 2
    assert [r.headers["x-chronos-event"] for r in endpoint.received] == ["firing"]
    clock.advance(minutes=10)  # fine for the whole cooldown: now it says so, once
    assert (await notify(runtime)).sent == 1
    assert [r.headers["x-chronos-event"] for r in endpoint.received] == ["firing", "resolved"]


async def test_consecutive_failures_and_success_rate(client, runtime, clock):
    await create_schedule(client, name="etl", tags={"team": "data"}, **MINUTELY)
    await create_schedule(client, name="other", handler="o", cron="* * * * *", max_retries=0)
    failing = await create_rule(
        client,
        name="3 failures",
        condition={"type": "consecutive_failures", "count": 3},
        selector={"tags": {"team": "data"}},
    )
    rate = await create_rule(
        client,
        name="rate",
        condition={"type": "success_rate", "below": 0.9, "window": "1h", "min_runs": 3},
        selector={"names": ["etl"]},
    )
    for status in ("completed", "failed", "failed", "failed"):
        clock.advance(minutes=1)
        await run_scheduler(runtime)
        job = await claim_one(client, ["h"])
        await report(client, job["execution_id"], status)
        for other in await claim(client, ["o"]):
            await report(client, other["execution_id"], "failed")  # not selected
    clock.advance(minutes=1)  # (and past the success-rate rule's minute)
    await evaluate(runtime)
    firing = await alerts(client, status="firing")
    assert {(a["rule_name"], a["subject"]["name"]) for a in firing} == {
        ("3 failures", "etl"),
        ("rate", "etl"),
    }
    by_rule = {a["rule_id"]: a for a in firing}
    assert by_rule[failing["id"]]["summary"] == "etl: the last 3 runs failed"
    assert by_rule[rate["id"]]["details"]["success_rate"] == 0.25

    await run_scheduler(runtime)
    job = await claim_one(client, ["h"])
    await report(client, job["execution_id"], "completed")
    clock.advance(minutes=1)
    await evaluate(runtime)
    assert [a["rule_name"] for a in await alerts(client, status="firing")] == ["rate"]


async def test_a_late_fire_and_jobs_no_worker_polls_for(client, runtime, clock):
    await create_schedule(client, name="slow", **MINUTELY)
    await create_rule(client, name="late", condition={"type": "late", "seconds": 20})
    await create_rule(client, name="nobody", condition={"type": "no_worker", "seconds": "5m"})
    clock.advance(minutes=1, seconds=45)  # 12:01 fires 45 s late
    await run_scheduler(runtime)
    await create_job(client, handler="lonely")
    await evaluate(runtime)
    [late] = await alerts(client, status="firing")
    assert late["rule_name"] == "late" and "45s late" in late["summary"]

    clock.advance(seconds=15)  # 12:02 on time
    await run_scheduler(runtime)
    clock.advance(minutes=5)
    await claim(client, ["h"], worker_id="w-h", limit=10)  # h has a worker; lonely has none
    await evaluate(runtime)
    [waiting] = await alerts(client, status="firing")
    assert waiting["subject"] == {"type": "handler", "id": "lonely", "name": "lonely"}
    assert waiting["rule_name"] == "nobody"

    await claim(client, ["lonely"], worker_id="w-lonely")
    clock.advance(seconds=10)
    await evaluate(runtime)
    assert await alerts(client, status="firing") == []
    assert {a["status"] for a in await alerts(client)} == {"resolved"}


async def test_slack_format_and_retry_after_the_endpoint_fails(client, runtime, clock, endpoint):
    answers = iter([500, 200])

    async def flaky(_: Request) -> Response:
        return Response(status_code=next(answers))

    endpoint.route("/slack", flaky)
    await create_schedule(client, name="nightly", misfire_policy="skip", **MINUTELY)
    rule = await create_rule(
        client,
        name="to slack",
        condition="missed",
        grace=0,
        webhook={"url": endpoint.url("/slack"), "format": "slack"},
    )
    clock.advance(minutes=1, seconds=30)
    await run_scheduler(runtime)
    await evaluate(runtime)
    assert (await notify(runtime)).retried == 1
    [alert] = await alerts(client)
    [first] = expect(await client.get(f"/v1/alerts/{alert['id']}"), 200)["notifications"]
    assert (first["status"], first["attempts"], first["http_status"]) == ("pending", 1, 500)
    assert first["last_error"] == "the endpoint answered 500"
    assert (await notify(runtime)).attempted == 0  # not before its backoff
    clock.advance(seconds=10)
    assert (await notify(runtime)).sent == 1
    bodies = [json.loads(r.body) for r in endpoint.received]
    assert bodies[0] == bodies[1] and list(bodies[1]) == ["text"]
    assert bodies[1]["text"].startswith(":rotating_light: [FIRING] to slack: nightly")
    verify(
        endpoint.received[1].body,
        endpoint.received[1].headers,
        await secret_of(client),
        now=clock.now().timestamp(),
    )

    # Deleting the rule resolves its alert silently; the history stays; the change is audited.
    expect(await client.patch(f"/v1/alert-rules/{rule['id']}", json={"grace": "1m"}), 200)
    assert (await client.delete("/v1/alert-rules/to slack")).status_code == 204
    [kept] = await alerts(client)
    assert kept["status"] == "resolved"
    async with runtime.db.read() as conn:
        rows = await conn.execute(
            sa.select(audit_events.c.action, audit_events.c.changes)
            .where(audit_events.c.resource_id == rule["id"])
            .order_by(audit_events.c.id)
        )
        actions = [(row.action, row.changes) for row in rows]
    assert [a for a, _ in actions] == [
        "alert_rule.created",
        "alert_rule.updated",
        "alert_rule.deleted",
    ]
    assert actions[1][1] == {"grace": [0.0, 60.0]}


async def test_a_notification_to_an_address_the_node_blocks_fails_without_a_retry(
    client, runtime, clock, endpoint
):
    # Checked where the connection is made, on the address the name resolves to (the same
    # guard as push requests): with block_private, localhost is refused, and nothing arrives.
    endpoint.route("/hook", 200)
    await create_schedule(client, name="nightly", misfire_policy="skip", **MINUTELY)
    url = endpoint.url("/hook").replace("127.0.0.1", "localhost")
    await create_rule(client, name="r", condition="missed", grace=0, webhook={"url": url})
    clock.advance(minutes=1, seconds=30)
    await run_scheduler(runtime)
    await evaluate(runtime)
    notifier = AlertNotifier(runtime.db, runtime.clock, block_private=True)
    try:
        assert (await notifier.run_once()).failed == 1
    finally:
        await notifier.close()
    [alert] = await alerts(client)
    [sent] = expect(await client.get(f"/v1/alerts/{alert['id']}"), 200)["notifications"]
    assert sent["status"] == "failed" and "refused to call localhost" in sent["last_error"]
    assert endpoint.received == []


BAD_RULES = [
    ({"name": "x", "condition": "exploded"}, "validation_error"),
    ({"name": "x", "condition": "late"}, "validation_error"),  # needs seconds
    ({"name": "x", "condition": {"type": "missed", "count": 3}}, "validation_error"),
    ({"name": "x", "condition": "missed", "webhook": {"url": "ftp://x/y"}}, "invalid_url"),
    ({"name": "x", "condition": "missed", "webhook": {"url": "not a url"}}, "invalid_url"),
    (
        {"name": "x", "condition": "missed", "webhook": {"url": "http://169.254.169.254/"}},
        "invalid_url",
    ),
    (
        {"name": "x", "condition": "missed", "webhook": {"url": "http://[fe80::1]/"}},
        "invalid_url",
    ),
    (
        {
            "name": "x",
            "condition": "missed",
            "webhook": {"url": "http://a/", "headers": {"X-Chronos-Event": "x"}},
        },
        "validation_error",
    ),
    ({"name": "x", "condition": "missed", "surprise": 1}, "validation_error"),
    ({"name": 5, "condition": "missed"}, "validation_error"),
    ({"name": "x" * 201, "condition": "missed"}, "validation_error"),
    ({"name": "x", "condition": "missed", "grace": "2d"}, "validation_error"),
    (
        {"name": "x", "condition": "no_worker", "selector": {"tags": {"a": "b"}}},
        "validation_error",
    ),
    ({"name": "x", "condition": {"type": "success_rate", "below": 2}}, "validation_error"),
]


async def test_bad_rules_are_refused(client):
    for body, code in BAD_RULES:
        response = await client.post("/v1/alert-rules", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == code, (body, response.text)
    assert expect(await client.get("/v1/alert-rules"), 200)["data"] == []


async def test_rules_of_another_account_are_not_found(client, other_client):
    rule = await create_rule(client, name="mine", condition="missed")
    assert (
        await client.post("/v1/alert-rules", json={"name": "mine", "condition": "missed"})
    ).status_code == 409
    assert (
        await client.post("/v1/alert-rules", json={"name": "x\u0000", "condition": "missed"})
    ).status_code == 422
    for method, path, body in [
        ("GET", f"/v1/alert-rules/{rule['id']}", None),
        ("GET", "/v1/alert-rules/mine", None),
        ("PATCH", f"/v1/alert-rules/{rule['id']}", {"enabled": False}),
        ("DELETE", f"/v1/alert-rules/{rule['id']}", None),
        ("GET", "/v1/alerts/alr_01jx0000000000000000000000", None),
    ]:
        response = await other_client.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "not_found"
    assert expect(await other_client.get("/v1/alert-rules"), 200)["data"] == []
    assert expect(await client.get(f"/v1/alert-rules/{rule['id']}"), 200)["enabled"] is True
    bad = await client.patch(f"/v1/alert-rules/{rule['id']}", json={"condition": "late"})
    assert bad.status_code == 422
    assert (await client.get("/v1/alerts", params={"status": "nope"})).status_code == 422
    assert (await client.get("/v1/alerts", params={"cursor": "???"})).status_code == 400


async def test_a_late_or_failed_heartbeat_monitor_raises_an_alert(client, runtime, clock):
    monitor = expect(
        await client.post(
            "/v1/monitors",
            json={"name": "backup", "interval": "5m", "grace": "1m", "tags": {"team": "ops"}},
        ),
        201,
    )
    expect(await client.post("/v1/monitors", json={"name": "other", "interval": "5m"}), 201)
    await create_rule(
        client, name="heartbeats", condition="monitor", selector={"tags": {"team": "ops"}}
    )
    expect(await client.post("/v1/monitors/backup/ping"), 200)
    expect(await client.post("/v1/monitors/other/ping"), 200)
    clock.advance(minutes=5, seconds=30)  # due at 12:05, within its grace
    await evaluate(runtime)
    assert await alerts(client) == []
    clock.advance(minutes=1)  # 12:06:30: late; "other" is too, but not selected
    await evaluate(runtime)
    [late] = await alerts(client, status="firing")
    assert late["subject"] == {"type": "monitor", "id": monitor["id"], "name": "backup"}
    assert late["details"] == {"kind": "late"}

    expect(await client.post("/v1/monitors/backup/ping"), 200)
    await evaluate(runtime)
    assert await alerts(client, status="firing") == []
    expect(await client.post("/v1/monitors/backup/fail"), 200)
    await evaluate(runtime)
    [failed] = await alerts(client, status="firing")
    assert failed["id"] == late["id"] and failed["reopened"] == 1  # within the cooldown


async def test_the_async_sdk_covers_rules_and_alerts(client, runtime, clock):
    from chronos import AsyncChronos

    sdk = AsyncChronos(api_key="unused", base_url="http://chronos.test", http=client)
    rule = await sdk.alert_rules.create(
        name="failing", condition={"type": "consecutive_failures", "count": 1}, reason="on call"
    )
    assert rule.condition == {"type": "consecutive_failures", "count": 1} and rule.grace == 0
    assert (await sdk.alert_rules.get("failing")).id == rule.id
    assert (await sdk.alert_rules.update(rule.id, enabled=False)).enabled is False
    assert [r.name for r in (await sdk.alert_rules.list()).data] == ["failing"]
    await sdk.alert_rules.update(rule.id, enabled=True)
    await create_schedule(client, name="etl", **MINUTELY)
    clock.advance(minutes=1)
    await run_scheduler(runtime)
    job = await claim_one(client, ["h"])
    await report(client, job["execution_id"], "failed")
    await evaluate(runtime)
    [alert] = (await sdk.alerts.list(status="firing", since="2026-03-01T12:00:00Z")).data
    assert alert.subject["name"] == "etl" and alert.fired_at is not None
    detail = await sdk.alerts.get(alert.id)
    assert detail.notifications == [] and detail.summary == "etl: the last 1 runs failed"
    await sdk.alert_rules.delete("failing")
    assert (await sdk.alerts.get(alert.id)).status == "resolved"


async def test_two_nodes_evaluating_at_once_open_one_alert_and_a_crash_mid_send_resends(
    client, runtime, clock, endpoint
):
    endpoint.route("/hook", 200)
    await create_schedule(client, name="nightly", misfire_policy="skip", **MINUTELY)
    await create_rule(
        client, name="missed", condition="missed", grace=0, webhook={"url": endpoint.url("/hook")}
    )
    clock.advance(minutes=1, seconds=30)
    await run_scheduler(runtime)
    rounds = await asyncio.gather(*(evaluate(runtime) for _ in range(3)))
    assert sum(r.opened for r in rounds) == 1 and sum(r.notifications for r in rounds) == 1
    assert len(await alerts(client)) == 1

    # A node takes the notification and dies before sending it: it is sent after the lease.
    async with runtime.db.transaction() as conn:
        taken = await alert_store.notification_claim_due(
            conn, clock.now(), lease_until=clock.now() + LEASE, limit=10
        )
    assert len(taken) == 1
    assert (await notify(runtime)).attempted == 0  # hidden while its lease runs
    clock.advance(seconds=LEASE.total_seconds())
    assert (await notify(runtime)).sent == 1
    [alert] = await alerts(client)
    [sent] = expect(await client.get(f"/v1/alerts/{alert['id']}"), 200)["notifications"]
    assert (sent["status"], sent["attempts"]) == ("sent", 2)
    assert len(endpoint.received) == 1
