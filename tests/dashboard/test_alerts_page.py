"""The alerts page: open alerts, the history and the rules, for the signed-in account only."""

from __future__ import annotations

import httpx

from chronos.server.clock import FakeClock
from chronos.server.engine.alerts import AlertEvaluator
from chronos.server.runtime import Runtime
from tests.dashboard.conftest import Dashboard
from tests.helpers import create_schedule, expect, run_scheduler


async def test_open_alerts_history_and_rules(
    dash: Dashboard, client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    empty = await dash.get("/alerts")
    assert empty.status_code == 200
    assert "Nothing is firing." in empty.text and "No alert rule" in empty.text
    schedule = await create_schedule(
        client, name="nightly", handler="h", cron="* * * * *", misfire_policy="skip"
    )
    rule = {
        "name": "missed <b>",
        "condition": "missed",
        "grace": 0,
        "selector": {"names": ["nightly"]},
    }
    expect(await client.post("/v1/alert-rules", json=rule), 201)
    clock.advance(minutes=1, seconds=30)
    await run_scheduler(runtime)
    await AlertEvaluator(runtime.db, runtime.clock, interval=0).run_once()

    page = await dash.get("/alerts")
    assert page.status_code == 200
    assert page.text.count('<span class="badge alert-firing">firing</span>') == 2  # open + history
    assert f'<a href="/schedules/{schedule["id"]}">nightly</a>' in page.text
    assert "missed &lt;b&gt;" in page.text and "missed <b>" not in page.text  # escaped
    assert 'href="/alerts" aria-current="page"' in page.text
