"""Alert retention (``CHRONOS_ALERT_RETENTION``): the pruner deletes alerts resolved before the
horizon and the notifications that are done with; open alerts and notifications still to send
stay. And the overview lists firing alerts under "needs attention"."""

from __future__ import annotations

from datetime import timedelta

import httpx
import sqlalchemy as sa

from chronos.server.clock import FakeClock
from chronos.server.engine.maintenance.pruner import Pruner
from chronos.server.runtime import Runtime
from chronos.server.store.tables import alert_notifications
from tests.endpoint import Endpoint
from tests.helpers import claim_one, create_schedule, expect, report, run_scheduler
from tests.test_api_alerts import alerts, create_rule, evaluate, notify


async def _round(client: httpx.AsyncClient, runtime: Runtime, outcomes: dict[str, str]) -> None:
    """A minute on: every schedule fires; each one's job ends as ``outcomes`` says."""
    runtime.clock.advance(minutes=1)  # type: ignore[attr-defined]
    await run_scheduler(runtime)
    for name, status in outcomes.items():
        job = await claim_one(client, [name])
        await report(client, job["execution_id"], status)
    await evaluate(runtime)
    await notify(runtime)


async def _notifications(runtime: Runtime, alert_id: str) -> list[str]:
    async with runtime.db.read() as conn:
        rows = await conn.execute(
            sa.select(alert_notifications.c.status).where(
                alert_notifications.c.alert_id == alert_id
            )
        )
        return [row.status for row in rows]


async def test_resolved_alerts_and_done_notifications_past_the_retention_are_pruned(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock, endpoint: Endpoint
):
    endpoint.route("/hook", 200)
    for name in ("old", "stuck", "open", "waiting", "recent"):
        await create_schedule(client, name=name, handler=name, cron="* * * * *", max_retries=0)
    await create_rule(
        client,
        name="any failure",
        condition={"type": "consecutive_failures", "count": 1},
        cooldown=0,
        webhook={"url": endpoint.url("/hook")},
    )
    fail_all = {
        "old": "failed",
        "stuck": "failed",
        "open": "failed",
        "waiting": "failed",
        "recent": "completed",
    }
    await _round(client, runtime, fail_all)
    ok = {"old": "completed", "stuck": "completed"}
    await _round(client, runtime, {**fail_all, **ok})  # "old" and "stuck" resolve (day 0)
    by_name = {a["subject"]["name"]: a for a in await alerts(client)}
    assert {n: a["status"] for n, a in by_name.items()} == {
        "old": "resolved",
        "stuck": "resolved",
        "open": "firing",
        "waiting": "firing",
    }
    clock.advance(days=20)
    await _round(client, runtime, {**fail_all, **ok, "recent": "failed"})
    await _round(client, runtime, {**fail_all, **ok})  # "recent" resolves (day 20)
    # The "waiting" and "stuck" alerts' notifications are still to be sent (their endpoint
    # was down, say).
    waiting = next(a for a in await alerts(client) if a["subject"]["name"] == "waiting")
    stuck = by_name["stuck"]
    async with runtime.db.transaction() as conn:
        await conn.execute(
            sa.update(alert_notifications)
            .where(alert_notifications.c.alert_id.in_([waiting["id"], stuck["id"]]))
            .values(status="pending", next_attempt_at=clock.now() + timedelta(days=365))
        )

    clock.advance(days=11)  # day 31: "old" resolved 31 days ago, "recent" 11
    pruner = Pruner(
        runtime.db,
        clock,
        runtime.notifier,
        retention=timedelta(days=7),
        alert_retention=timedelta(days=30),
        batch_size=1,
    )
    rounds = [await pruner.run_once()]
    while pruner.has_more(rounds[-1]):
        rounds.append(await pruner.run_once())
    assert sum(r.alerts_deleted for r in rounds) == 1
    # "open"'s firing notification (sent on day 0) goes; "old"'s two go with their alert.
    assert sum(r.notifications_deleted for r in rounds) >= 1

    left = {a["subject"]["name"]: a for a in await alerts(client)}
    assert set(left) == {"stuck", "open", "waiting", "recent"}
    assert left["open"]["status"] == "firing" and left["recent"]["status"] == "resolved"
    expect(await client.get(f"/v1/alerts/{by_name['old']['id']}"), 404)
    assert await _notifications(runtime, by_name["old"]["id"]) == []
    assert await _notifications(runtime, left["open"]["id"]) == []
    assert await _notifications(runtime, waiting["id"]) == ["pending"]
    assert await _notifications(runtime, stuck["id"]) == ["pending", "pending"]
    assert await _notifications(runtime, left["recent"]["id"]) == ["sent", "sent"]
    assert (await pruner.run_once()).alerts_deleted == 0


async def test_firing_alerts_need_attention_on_the_overview(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, runtime: Runtime
):
    await create_schedule(client, name="etl", handler="etl", cron="* * * * *", max_retries=0)
    await create_rule(
        client, name="failing", condition={"type": "consecutive_failures", "count": 1}, cooldown=0
    )
    await _round(client, runtime, {"etl": "failed"})
    [firing] = await alerts(client, status="firing")
    overview = expect(await client.get("/v1/overview"), 200)
    [item] = [a for a in overview["attention"] if a["kind"] == "alert"]
    assert item["alert_id"] == firing["id"]
    assert item["message"] == "failing: etl: the last 1 runs failed"
    others = expect(await other_client.get("/v1/overview"), 200)["attention"]
    assert [a for a in others if a["kind"] == "alert"] == []

    await _round(client, runtime, {"etl": "completed"})  # resolved: no longer listed
    overview = expect(await client.get("/v1/overview"), 200)
    assert [a for a in overview["attention"] if a["kind"] == "alert"] == []
