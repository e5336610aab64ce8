"""The schedule page shows a slot a calendar excluded as ``excluded``, with its calendar."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.dashboard.conftest import signed_in
from tests.dashboard.test_schedule_page import region, shown, slots
from tests.helpers import create_schedule, expect, run_scheduler


async def test_an_excluded_slot_is_marked_excluded_with_the_calendar(
    client, runtime, clock, account
):
    body = {"name": "holidays", "dates": ["2026-03-02"]}
    expect(await client.post("/v1/calendars", json=body), 201)
    schedule = await create_schedule(
        client, name="daily", handler="report", cron="0 9 * * *", exclude_calendars=["holidays"]
    )
    clock.set(datetime(2026, 3, 3, 9, 0, 1, tzinfo=UTC))
    await run_scheduler(runtime)
    async with signed_in(runtime, account["key"]) as dash:  # signed in now, 2 days later
        ledger = region(
            await shown(dash, f"/schedules/{schedule['id']}?window=7d"), "schedule-ledger"
        )
    lines = slots(ledger)
    assert lines["2026-03-02T09:00:00Z"][0] == "excluded"
    assert "excluded by calendar &#39;holidays&#39;" in lines["2026-03-02T09:00:00Z"][1]
    assert lines["2026-03-03T09:00:00Z"][0] == "on_time"
    assert 'class="cell outcome-excluded"' in ledger
