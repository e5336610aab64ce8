"""In a real browser: the editor previews as you type, and the saved schedule fires as shown."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.dashboard.conftest import screenshot
from tests.e2e.server import ChronosServer


def test_the_preview_matches_what_the_schedule_then_does(page: Any, server: ChronosServer):
    page.goto("/schedules/new")
    page.fill("#name", "berlin-morning")
    page.fill("#cron", "30 2 * * 1-5")
    page.fill("#timezone", "Europe/Berlin")
    page.fill("#handler", "report")
    description = page.locator("#preview-description")
    expect(description).to_contain_text("Europe/Berlin")
    items = page.locator("#preview-fires li")
    expect(items).to_have_count(10)
    expect(items.first).to_contain_text("02:30:00")
    shown = items.evaluate_all("(els) => els.map((e) => e.dataset.fire)")
    screenshot(page, "editor")

    page.click("#save")
    expect(page).to_have_url(re.compile(r"/schedules/sch_"))
    schedule_id = page.url.rsplit("/", 1)[1]
    with server.client() as api:
        upcoming = api.get(f"/v1/schedules/{schedule_id}/upcoming", params={"count": 10}).json()
    assert upcoming["data"] == shown


def test_typing_a_bad_expression_says_why_and_a_good_one_recovers(page: Any):
    page.goto("/schedules/new")
    page.fill("#name", "typo")
    page.fill("#handler", "h")
    page.fill("#cron", "61 * * * *")
    expect(page.locator("#preview-error")).to_contain_text("invalid cron expression")
    page.fill("#cron", "*/15 * * * *")
    expect(page.locator("#preview-description")).to_contain_text("every 15 minutes")
    expect(page.locator("#preview-fires li")).to_have_count(10)


def test_a_time_skipped_by_dst_is_flagged_before_saving(page: Any):
    page.goto("/schedules/new")
    page.fill("#name", "gap")
    page.fill("#handler", "h")
    page.fill("#timezone", "America/New_York")
    page.fill("#cron", "30 2 * * *")
    expect(page.locator('#preview-warnings [data-code="dst_gap"]')).to_contain_text(
        "does not exist"
    )
