"""The overview's "needs attention" lists firing alerts, each linking to /alerts."""

from __future__ import annotations

import httpx

from chronos.server.runtime import Runtime
from tests.dashboard.conftest import Dashboard
from tests.helpers import create_schedule
from tests.test_alert_retention import _round
from tests.test_api_alerts import alerts, create_rule


async def test_a_firing_alert_needs_attention_with_a_link_to_the_alerts_page(
    dash: Dashboard, client: httpx.AsyncClient, runtime: Runtime
):
    await create_schedule(client, name="etl", handler="etl", cron="* * * * *", max_retries=0)
    await create_rule(
        client, name="failing", condition={"type": "consecutive_failures", "count": 1}
    )
    await _round(client, runtime, {"etl": "failed"})
    [firing] = await alerts(client, status="firing")
    html = (await dash.get("/")).text
    assert f'<a href="/alerts" data-alert="{firing["id"]}">' in html
    assert "failing: etl: the last 1 runs failed" in html
