"""/v1/monitors and /v1/ping on both databases, with a fake clock: a monitor goes late by the
time alone, a ping brings it back, /fail fails it, a /start with no finish goes late after
max_runtime, the tokenised URL needs no key and a wrong token tells nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chronos.server.clock import FakeClock
from chronos.server.runtime import Runtime
from chronos.server.store.tables import audit_events, monitor_pings, monitors
from tests.helpers import expect

HOURLY = {"name": "backup", "interval": "1h", "grace": "5m"}


@pytest.fixture
async def anonymous(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no API key (a crontab's curl)."""
    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://chronos.test"
    ) as http:
        yield http


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    return expect(await client.post("/v1/monitors", json=fields), 201)


async def get(client: httpx.AsyncClient, ref: str) -> dict[str, Any]:
    return expect(await client.get(f"/v1/monitors/{ref}"), 200)


async def test_late_by_time_alone_up_again_on_a_ping_failed_on_fail(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    monitor = await create(client, **HOURLY, tags={"team": "ops"})  # 12:00
    assert monitor["state"] == "new" and monitor["last_ping_at"] is None
    assert monitor["next_expected_at"] == "2026-03-01T13:00:00Z"
    assert monitor["late_after"] == "2026-03-01T13:05:00Z"
    assert monitor["grace"] == 300 and monitor["interval"] == 3600
    assert monitor["expectation"] == "every 1h after the last ping, up to 5m late"
    token = monitor["ping_token"]
    assert len(token) >= 32
    assert monitor["ping_urls"]["ok"] == f"http://chronos.test/v1/ping/{token}"

    clock.advance(minutes=30)
    ping = expect(await client.post("/v1/monitors/backup/ping"), 200)
    assert ping == {
        "ok": True,
        "monitor": monitor["id"],
        "state": "up",
        "next_expected_at": "2026-03-01T13:30:00Z",
    }
    clock.advance(minutes=65)  # 13:35 exactly: still within grace
    assert (await get(client, "backup"))["state"] == "up"
    clock.advance(seconds=1)  # nothing ran, yet the monitor is late
    late = await get(client, monitor["id"])
    assert late["state"] == "late"
    assert late["problem"]["kind"] == "late" and late["problem"]["since"] == "2026-03-01T13:35:00Z"
    assert "no ping since 2026-03-01T12:30:00Z" in late["problem"]["summary"]
    listed = expect(await client.get("/v1/monitors", params={"tag.team": "ops"}), 200)["data"]
    assert [m["state"] for m in listed] == ["late"]
    assert expect(await client.get("/v1/monitors", params={"tag.team": "x"}), 200)["data"] == []

    clock.advance(minutes=1)
    expect(await client.post("/v1/monitors/backup/ping"), 200)
    back = await get(client, "backup")
    assert back["state"] == "up" and back["problem"] is None
    assert back["next_expected_at"] == "2026-03-01T14:36:01Z"

    clock.advance(minutes=1)
    resp = await client.post(
        "/v1/monitors/backup/fail",
        params={"exit_code": 2},
        content=b"disk full\n",
        headers={"Content-Type": "text/plain"},
    )
    assert expect(resp, 200)["state"] == "failed"
    failed = await get(client, "backup")
    assert failed["problem"]["kind"] == "failed"
    assert failed["problem"]["since"] == "2026-03-01T13:37:01Z"
    assert [(p["kind"], p["exit_code"], p["body"]) for p in failed["pings"]] == [
        ("fail", 2, "disk full\n"),
        ("ok", None, None),
        ("ok", None, None),
    ]
    clock.advance(days=3)  # failed stays failed (not late) until a good ping
    assert (await get(client, "backup"))["state"] == "failed"
    expect(await client.post("/v1/monitors/backup/ping"), 200)
    assert (await get(client, "backup"))["state"] == "up"


async def test_a_start_with_no_finish_within_max_runtime_is_late(client, clock):
    await create(client, name="etl", cron="0 * * * *", grace="30m", max_runtime="10m")
    clock.advance(minutes=59)  # 12:59
    expect(await client.post("/v1/monitors/etl/ping"), 200)  # next expected 13:00
    clock.advance(minutes=1)
    expect(await client.post("/v1/monitors/etl/start"), 200)  # 13:00
    running = await get(client, "etl")
    assert running["state"] == "up" and running["last_start_at"] == "2026-03-01T13:00:00Z"
    assert running["late_after"] == "2026-03-01T13:10:00Z"  # before the grace's 13:30
    clock.advance(minutes=10, seconds=1)
    late = await get(client, "etl")
    assert late["state"] == "late" and late["problem"]["since"] == "2026-03-01T13:10:00Z"
    assert "did not finish within 10m" in late["problem"]["summary"]
    expect(await client.post("/v1/monitors/etl/ping"), 200)  # the run finished after all
    done = await get(client, "etl")
    assert done["state"] == "up" and done["next_expected_at"] == "2026-03-01T14:00:00Z"


async def test_the_tokenised_url_needs_no_key_and_a_wrong_token_reveals_nothing(
    client, anonymous, runtime, clock
):
    monitor = await create(client, **HOURLY)
    token = monitor["ping_token"]
    assert expect(await anonymous.get(f"/v1/ping/{token}"), 200) == {"ok": True}
    assert (await get(client, "backup"))["state"] == "up"
    resp = await anonymous.post(
        f"/v1/ping/{token}/fail?exit_code=1",
        content="line 1\nbroken \x00 bytes \xff".encode("latin-1"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert expect(resp, 200) == {"ok": True}
    failed = await get(client, "backup")
    assert failed["state"] == "failed"
    assert failed["pings"][0]["body"] == "line 1\nbroken \ufffd bytes \ufffd"
    assert failed["pings"][0]["exit_code"] == 1 and failed["pings"][0]["source_ip"]
    assert (await anonymous.head(f"/v1/ping/{token}")).status_code == 200
    expect(await anonymous.post(f"/v1/ping/{token}/start"), 200)
    assert (await get(client, "backup"))["state"] == "up"

    unknown = [
        await anonymous.get("/v1/ping/" + "x" * 32),
        await anonymous.post("/v1/ping/" + token[:-1] + ("B" if token[-1] == "A" else "A")),
        await anonymous.get(f"/v1/ping/{token}x/fail"),
        await anonymous.get("/v1/ping/" + "y" * 5000),
    ]
    assert {r.status_code for r in unknown} == {404}
    assert {r.text for r in unknown[:3]} == {unknown[0].text}
    assert "backup" not in unknown[0].text and "monitor" not in unknown[0].text

    rotated = expect(await client.post("/v1/monitors/backup/rotate-token"), 200)
    assert rotated["ping_token"] != token
    assert (await anonymous.get(f"/v1/ping/{token}")).status_code == 404
    expect(await anonymous.get(f"/v1/ping/{rotated['ping_token']}"), 200)

    # The audit log has every change, never the token.
    async with runtime.db.read() as conn:
        rows = (await conn.execute(sa.select(audit_events))).mappings().all()
    assert sorted(r["action"] for r in rows) == ["monitor.created", "monitor.token_rotated"]
    assert token not in repr(rows) and rotated["ping_token"] not in repr(rows)


async def test_a_paused_monitor_is_never_late_and_resumes_from_now(client, clock):
    await create(client, **HOURLY)
    paused = expect(await client.post("/v1/monitors/backup/pause"), 200)
    assert paused["state"] == "paused" and paused["enabled"] is False
    clock.advance(days=10)
    expect(await client.post("/v1/monitors/backup/fail"), 200)  # recorded, still paused
    still = await get(client, "backup")
    assert still["state"] == "paused" and still["problem"] is None
    assert still["pings"][0]["kind"] == "fail"
    resumed = expect(await client.patch("/v1/monitors/backup", json={"enabled": True}), 200)
    assert resumed["state"] == "up" and resumed["next_expected_at"] == "2026-03-11T13:00:00Z"


async def test_put_patch_delete_and_the_audit_trail(client, runtime, clock):
    created = expect(await client.put("/v1/monitors/sync", json={"interval": 600}), 201)
    assert created["state"] == "new"
    same = expect(await client.put("/v1/monitors/sync", json=created), 200)  # GET → PUT echo
    assert same["updated_at"] == created["updated_at"]
    clock.advance(minutes=1)
    changed = expect(
        await client.patch(
            "/v1/monitors/sync",
            json={"cron": "*/15 * * * *", "description": "tenant sync"},
            headers={"X-Chronos-Reason": "align with the crontab"},
        ),
        200,
    )
    assert changed["cron"] == "*/15 * * * *" and changed["interval"] is None
    assert changed["next_expected_at"] == "2026-03-01T12:15:00Z"
    assert (await client.delete(f"/v1/monitors/{created['id']}")).status_code == 204
    assert (await client.get("/v1/monitors/sync")).status_code == 404
    async with runtime.db.read() as conn:
        rows = (
            (await conn.execute(sa.select(audit_events).order_by(audit_events.c.id)))
            .mappings()
            .all()
        )
        assert (await conn.execute(sa.select(sa.func.count()).select_from(monitors))).scalar() == 0
    assert [r["action"] for r in rows] == ["monitor.created", "monitor.updated", "monitor.deleted"]
    assert rows[1]["reason"] == "align with the crontab"
    assert rows[1]["changes"]["cron"] == [None, "*/15 * * * *"]
    assert rows[1]["actor"].startswith("test (")


async def test_a_cron_expectation_follows_its_timezone_across_dst(client, clock):
    clock.set(clock.now().replace(month=3, day=28, hour=12))  # Berlin springs forward on 29th
    await create(client, name="nightly", cron="30 2 * * *", timezone="Europe/Berlin", grace=60)
    expect(await client.post("/v1/monitors/nightly/ping"), 200)
    # 02:30 does not exist in Berlin on 29 March: expected at the first instant after the gap.
    assert (await get(client, "nightly"))["next_expected_at"] == "2026-03-29T01:00:00Z"
    clock.set(clock.now().replace(day=29, hour=1, minute=5))
    expect(await client.post("/v1/monitors/nightly/ping"), 200)
    # Summer time from then on: 02:30 CEST is 00:30 UTC.
    assert (await get(client, "nightly"))["next_expected_at"] == "2026-03-30T00:30:00Z"


async def test_a_worker_key_may_ping_but_not_read_or_change(client, runtime, clock):
    await create(client, **HOURLY)
    key = expect(await client.post("/v1/api-keys", json={"name": "w", "scope": "worker"}), 201)
    headers = {"Authorization": f"Bearer {key['key']}"}
    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://chronos.test", headers=headers
    ) as worker:
        expect(await worker.post("/v1/monitors/backup/ping"), 200)
        expect(await worker.post("/v1/monitors/backup/start"), 200)
        assert (await worker.get("/v1/monitors/backup")).status_code == 403
        assert (await worker.post("/v1/monitors/backup/rotate-token")).status_code == 403
        assert (await worker.post("/v1/monitors", json=HOURLY)).status_code == 403


async def test_ping_history_keeps_the_latest_hundred(client, runtime, clock):
    monitor = await create(client, **HOURLY)
    for _ in range(103):
        clock.advance(seconds=1)
        await client.post("/v1/monitors/backup/ping")
    async with runtime.db.read() as conn:
        count = await conn.execute(
            sa.select(sa.func.count()).where(monitor_pings.c.monitor_id == monitor["id"])
        )
        assert count.scalar() == 100
    pings = expect(await client.get("/v1/monitors/backup/pings", params={"limit": 3}), 200)
    assert len(pings["data"]) == 3


BAD_BODIES = [
    ({"name": "x", "cron": "61 * * * *"}, 422, "invalid_schedule"),
    ({"name": "x", "cron": "0 2 * * *", "timezone": "Mars/Olympus"}, 422, "invalid_schedule"),
    ({"name": "x", "cron": "0 2 * * *", "interval": 60}, 422, "invalid_schedule"),
    ({"name": "x"}, 422, "invalid_schedule"),
    ({"name": "x", "interval": 0}, 422, "invalid_schedule"),
    ({"name": "x", "interval": "soon"}, 422, "validation_error"),
    ({"name": "x", "interval": 60, "grace": -1}, 422, "validation_error"),
    ({"name": "x", "interval": 60, "max_runtime": 0}, 422, "validation_error"),
    ({"name": "x", "interval": 60, "colour": "red"}, 422, "validation_error"),
    ({"name": 7, "interval": 60}, 422, "validation_error"),
    ({"name": "a/b", "interval": 60}, 422, "validation_error"),
    ({"name": "mon_0123456789abcdefghjkmnpqrs", "interval": 60}, 422, "validation_error"),
    ({"name": "x" * 201, "interval": 60}, 422, "validation_error"),
    ({"name": "x\x00y", "interval": 60}, 422, "validation_error"),
    ({"name": "x", "interval": 60, "tags": {"k": 1}}, 422, "validation_error"),
    ({"name": "x", "interval": 60, "description": "d" * 3000}, 422, "validation_error"),
    ({"name": "x", "interval": 60, "enabled": "yes"}, 422, "validation_error"),
]


async def test_bad_input_is_a_json_4xx_and_changes_nothing(client, other_client, anonymous):
    for body, status, code in BAD_BODIES:
        resp = await client.post("/v1/monitors", json=body)
        assert resp.status_code == status, (body, resp.text)
        assert resp.json()["error"]["code"] == code, (body, resp.text)
    assert expect(await client.get("/v1/monitors"), 200)["data"] == []

    mine = await create(client, **HOURLY)
    assert (await client.post("/v1/monitors", json=HOURLY)).json()["error"]["code"] == (
        "name_conflict"
    )
    for resp in [
        await client.patch("/v1/monitors/backup", json={"cron": "bad"}),
        await client.patch("/v1/monitors/backup", json=[1]),
        await client.put("/v1/monitors/backup", json={"name": "other", "interval": 60}),
        await client.post("/v1/monitors/backup/ping", params={"exit_code": "x"}),
        await client.post("/v1/monitors/backup/ping", params={"exit_code": 2**40}),
    ]:
        assert resp.status_code == 422, resp.text
    huge = await client.post(
        "/v1/monitors/backup/ping", content=b"x" * 20_000, headers={"Content-Type": "text/plain"}
    )
    assert expect(huge, 413)["error"]["code"] == "payload_too_large"
    huge = await anonymous.post(f"/v1/ping/{mine['ping_token']}", content=b"x" * 20_000)
    assert huge.status_code == 413
    assert (
        await client.post(
            "/v1/monitors", content=b"{", headers={"Content-Type": "application/json"}
        )
    ).status_code == 400
    assert (await client.get("/v1/monitors", params={"cursor": "!!"})).status_code == 400

    # Another account sees none of it, by name or id, and cannot ping or change it.
    for ref in ("backup", mine["id"]):
        for resp in [
            await other_client.get(f"/v1/monitors/{ref}"),
            await other_client.patch(f"/v1/monitors/{ref}", json={"grace": 1}),
            await other_client.delete(f"/v1/monitors/{ref}"),
            await other_client.post(f"/v1/monitors/{ref}/ping"),
            await other_client.post(f"/v1/monitors/{ref}/rotate-token"),
        ]:
            assert expect(resp, 404)["error"]["code"] == "not_found"
    assert expect(await other_client.get("/v1/monitors"), 200)["data"] == []
    after = await get(client, "backup")
    assert after["state"] == "new" and after["pings"] == [] and after["grace"] == 300
    assert after["ping_token"] == mine["ping_token"]
    assert (await anonymous.get("/v1/monitors")).status_code == 401
    assert (await anonymous.post("/v1/monitors/backup/ping")).status_code == 401


async def test_the_async_sdk_covers_monitors(client: httpx.AsyncClient, account, clock):
    from chronos import AsyncChronos
    from chronos.errors import NotFoundError

    http = httpx.AsyncClient(
        transport=client._transport,
        base_url="http://chronos.test",
        headers={"Authorization": f"Bearer {account['key']}"},
    )
    async with AsyncChronos(
        api_key=account["key"], base_url="http://chronos.test", http=http
    ) as sdk:
        made = await sdk.monitors.create(name="ci", interval="1d", grace="1h", tags={"t": "1"})
        assert made.state == "new" and made.ping_urls and made.grace == 3600
        answer = await sdk.monitors.ping("ci", "fail", exit_code=4, message={"log": "oops"})
        assert answer["state"] == "failed"
        got = await sdk.monitors.get("ci")
        assert got.pings and got.pings[0]["body"] == '{"log":"oops"}'
        assert got.last_ping_at == clock.now() and got.problem["kind"] == "failed"
        assert [m.name for m in (await sdk.monitors.list(tags={"t": "1"})).data] == ["ci"]
        assert (await sdk.monitors.update("ci", grace=60)).grace == 60
        assert (await sdk.monitors.pause("ci")).state == "paused"
        assert (await sdk.monitors.resume("ci")).state == "up"
        await sdk.monitors.delete("ci")
        with pytest.raises(NotFoundError):
            await sdk.monitors.get("ci")
        with pytest.raises(ValueError):
            await sdk.monitors.ping("ci", "bogus")


async def test_a_late_monitor_raises_one_alert_that_resolves_on_the_next_ping(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    from chronos.server.engine.alerts import AlertEvaluator

    async def evaluate() -> None:
        await AlertEvaluator(runtime.db, runtime.clock, interval=0).run_once()

    async def firing() -> list[dict[str, Any]]:
        return expect(await client.get("/v1/alerts", params={"status": "firing"}), 200)["data"]

    await create(client, **HOURLY)
    expect(await client.post("/v1/alert-rules", json={"name": "dms", "condition": "monitor"}), 201)
    expect(await client.post("/v1/monitors/backup/ping"), 200)
    clock.advance(hours=1, minutes=5)
    await evaluate()
    assert await firing() == []
    clock.advance(seconds=1)  # late now
    for _ in range(3):  # evaluated again and again: still one alert
        await evaluate()
        clock.advance(minutes=1)
    [alert] = await firing()
    assert alert["subject"]["type"] == "monitor" and alert["subject"]["name"] == "backup"
    assert "no ping since" in alert["summary"]
    expect(await client.post("/v1/monitors/backup/ping"), 200)
    await evaluate()
    assert await firing() == []
