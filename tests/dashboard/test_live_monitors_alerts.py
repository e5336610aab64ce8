"""The monitors and alerts pages refresh live: the services send ``monitors`` / ``alerts`` for
the account when a monitor changes or is pinged, and when an alert opens or resolves; the
pages' regions listen for them (and ``/events`` passes them on)."""

from __future__ import annotations

import httpx

from chronos.server.clock import FakeClock
from chronos.server.engine.alerts import AlertEvaluator
from chronos.server.notifier import TOPICS
from chronos.server.runtime import Runtime
from tests.dashboard.conftest import Dashboard
from tests.helpers import expect


def heard(runtime: Runtime) -> list[tuple[str, str]]:
    got: list[tuple[str, str]] = []
    runtime.notifier.on_change(lambda account, topic: got.append((account, topic)))
    return got


async def test_monitor_changes_and_pings_tell_the_monitors_pages(
    dash: Dashboard, client: httpx.AsyncClient, runtime: Runtime, account: dict
):
    assert {"monitors", "alerts"} <= set(TOPICS)
    got = heard(runtime)
    created = expect(
        await client.post("/v1/monitors", json={"name": "backup", "interval": "1h"}), 201
    )
    runtime.notifier.flush_changes()
    assert got == [(account["id"], "monitors")]
    got.clear()
    expect(await client.post(f"/v1/ping/{created['ping_token']}"), 200)  # the tokenised URL
    runtime.notifier.flush_changes()
    assert got == [(account["id"], "monitors")]
    got.clear()
    runtime.notifier.flush_changes()
    assert got == []  # nothing more without a change

    listing = (await dash.get("/monitors")).text
    assert 'id="monitors-list"' in listing and "live:monitors from:body" in listing
    detail = (await dash.get(f"/monitors/{created['id']}")).text
    for region in ("monitor-head", "monitor-facts", "monitor-pings"):
        assert f'id="{region}"' in detail
    assert "live:monitors from:body" in detail
    assert "live:alerts from:body" in (await dash.get("/alerts")).text


async def test_an_alert_opening_and_resolving_tells_the_alerts_and_monitors_pages(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock, account: dict
):
    monitor = expect(
        await client.post("/v1/monitors", json={"name": "etl", "interval": 600, "grace": 60}),
        201,
    )
    expect(await client.post("/v1/monitors/etl/ping"), 200)
    runtime.notifier.flush_changes()
    rule = {"name": "late monitors", "condition": "monitor", "grace": 0}
    got = heard(runtime)
    expect(await client.post("/v1/alert-rules", json=rule), 201)
    runtime.notifier.flush_changes()
    assert got == [(account["id"], "alerts")]  # the rule was created
    got.clear()

    def evaluator() -> AlertEvaluator:
        return AlertEvaluator(
            runtime.db, runtime.clock, interval=0, on_change=runtime.notifier.changed
        )

    await evaluator().run_once()
    runtime.notifier.flush_changes()
    assert got == []  # the monitor is up: no alert, nothing to refresh

    clock.advance(minutes=12)
    assert (await evaluator().run_once()).opened == 1
    runtime.notifier.flush_changes()
    assert sorted(got) == [(account["id"], "alerts"), (account["id"], "monitors")]
    got.clear()

    expect(await client.post(f"/v1/monitors/{monitor['id']}/ping"), 200)
    clock.advance(seconds=1)
    assert (await evaluator().run_once()).resolved == 1
    runtime.notifier.flush_changes()
    assert sorted(got) == [(account["id"], "alerts"), (account["id"], "monitors")]
