"""In a real browser against a real ``chronos serve``: a monitor pinged through its URL goes up
on /monitors without a reload (the ``monitors`` live topic), and the editor's calendar
choice changes the preview and is saved."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.dashboard.conftest import screenshot
from tests.e2e.server import ChronosServer


def test_a_pinged_monitor_goes_up_without_a_reload(page: Any, server: ChronosServer):
    with server.client() as api:
        made = api.post("/v1/monitors", json={"name": "nightly-backup", "cron": "0 2 * * *"})
        assert made.status_code == 201, made.text
        token = made.json()["ping_token"]
        page.goto("/monitors")
        expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
        row = page.locator('tr[data-monitor="nightly-backup"]')
        expect(row).to_have_attribute("data-state", "new")
        page.evaluate("window.notReloaded = true")
        assert api.post(f"/v1/ping/{token}").status_code == 200  # the crontab's curl
    expect(row).to_have_attribute("data-state", "up")
    expect(row.locator(".badge")).to_have_text("up")
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "monitors")


def test_the_editor_skips_a_calendars_days_in_its_preview(page: Any, server: ChronosServer):
    with server.client() as api:
        body = {"name": "weekends", "rules": ["weekends"]}
        assert api.post("/v1/calendars", json=body).status_code == 201
    page.goto("/schedules/new")
    page.fill("#name", "weekday-report")
    page.fill("#cron", "0 9 * * *")
    page.fill("#handler", "report")
    items = page.locator("#preview-fires li")
    expect(items).to_have_count(10)
    page.click("#timing summary")  # closed on a new schedule
    page.select_option("#exclude_calendars", ["weekends"])
    expect(page.locator("#preview-excluded")).to_contain_text("weekends")
    expect(items).to_have_count(10)
    fires = items.evaluate_all("(els) => els.map((e) => e.dataset.fire)")
    days = {
        page.evaluate("(at) => new Date(at).getUTCDay()", fire)
        for fire in fires  # 0 Sunday .. 6 Saturday
    }
    assert days <= {1, 2, 3, 4, 5}, fires
    page.select_option("#dst_gap", "skip")
    page.click("#save")
    expect(page).to_have_url(re.compile(r"/schedules/sch_"))
    expect(page.locator('[data-config="calendars"]')).to_contain_text("skips the days of weekends")
    with server.client() as api:
        saved = api.get("/v1/schedules/weekday-report").json()
        upcoming = api.get("/v1/schedules/weekday-report/upcoming", params={"count": 10}).json()
    assert saved["exclude_calendars"] == ["weekends"]
    assert saved["dst_policy"] == {"gap": "skip", "overlap": "first"}
    assert upcoming["data"] == fires
