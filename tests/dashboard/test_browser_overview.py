"""In a real browser: signing in, the live overview, and what a second account sees."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

from playwright.sync_api import expect

from tests.dashboard.conftest import log_in, screenshot
from tests.e2e.server import ChronosServer


def test_a_bad_key_is_refused(browser: Any, server: ChronosServer):
    context = browser.new_context(base_url=server.url)
    tab = context.new_page()
    tab.goto("/")
    expect(tab).to_have_url(re.compile(r"/login$"))
    tab.fill("#api_key", "chrns_not-a-real-key")
    tab.click("button[type=submit]")
    expect(tab.get_by_role("alert")).to_contain_text("not valid")
    tab.goto("/")
    expect(tab).to_have_url(re.compile(r"/login$"))
    context.close()


def test_a_schedule_made_through_the_api_appears_without_a_reload(page: Any, server: ChronosServer):
    expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
    expect(page.get_by_text("Nothing scheduled yet")).to_be_visible()
    with server.client() as api:
        body = {"name": "nightly-report", "cron": "0 2 * * *", "handler": "report"}
        assert api.post("/v1/schedules", json=body).status_code == 201
        api.post("/v1/schedules", json={**body, "name": "every-minute", "cron": "* * * * *"})
        for _ in range(3):
            api.post("/v1/jobs", json={"handler": "report"})
    # No navigation: the page's live region refreshes on the server's event.
    next_fires = page.locator("#next-title + table")
    expect(next_fires).to_contain_text("nightly-report")
    expect(page.locator('[data-count="ready"]')).to_have_text("3")
    expect(page.locator(".attention")).to_contain_text("no worker polling for report")
    # A worker takes two of them: one completes, one fails for good.
    with server.client() as api:
        claim = {"handlers": ["report"], "worker_id": "box-1", "limit": 2, "wait_seconds": 0}
        done, broken = api.post("/v1/worker/jobs/claim", json=claim).json()["jobs"]
        api.post(
            f"/v1/worker/executions/{done['execution_id']}/result",
            json={"status": "completed", "output": {"rows": 42}},
        )
        api.post(
            f"/v1/worker/executions/{broken['execution_id']}/result",
            json={"status": "failed", "error": {"message": "disk full"}, "retryable": False},
        )
    expect(page.locator('[data-count="completed"]')).to_have_text("1")
    expect(page.locator('[data-count="failed"]')).to_have_text("1")
    expect(page.locator('[data-count="ready"]')).to_have_text("1")
    screenshot(page, "overview")


def test_times_follow_the_viewers_choice(page: Any, server: ChronosServer):
    with server.client() as api:
        body = {"name": "utc-two", "cron": "0 2 * * *", "timezone": "UTC", "handler": "h"}
        assert api.post("/v1/schedules", json=body).status_code == 201
    page.reload()
    when = page.locator("#next-title + table time").first
    expect(when).to_contain_text("02:00")  # the browser runs in UTC here
    expect(when).to_have_attribute("title", re.compile("UTC"))
    page.click("#tz-switch")
    expect(page.locator("#tz-switch")).to_have_text("UTC")
    expect(when).to_contain_text("UTC")


def test_another_accounts_objects_are_invisible(browser: Any, server: ChronosServer):
    with server.client() as api:
        body = {"name": "secret-of-default", "cron": "0 2 * * *", "handler": "h"}
        assert api.post("/v1/schedules", json=body).status_code == 201
    made = subprocess.run(
        [sys.executable, "-m", "chronos", "accounts", "create", "globex"],
        env={"CHRONOS_DATABASE_URL": server.database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    other_key = re.search(r"chrns_[A-Za-z0-9_\-]+", made.stdout)
    assert other_key, made.stdout
    context = browser.new_context(base_url=server.url)
    tab = context.new_page()
    log_in(tab, other_key.group(0))
    expect(tab.locator(".account")).to_have_text("globex")
    expect(tab.get_by_text("Nothing scheduled yet")).to_be_visible()
    expect(tab.locator("body")).not_to_contain_text("secret-of-default")
    context.close()


def test_without_the_live_stream_the_page_polls(page: Any, server: ChronosServer):
    page.route("**/events", lambda route: route.abort())
    page.reload()
    expect(page.locator("#live-indicator")).to_have_attribute("data-state", "polling")
    with server.client() as api:
        assert api.post("/v1/jobs", json={"handler": "report"}).status_code == 201
    expect(page.locator('[data-count="ready"]')).to_have_text("1")


def test_dark_mode_follows_the_system_and_the_toggle(page: Any):
    def background() -> str:
        return page.evaluate("getComputedStyle(document.body).backgroundColor")

    light = background()
    page.emulate_media(color_scheme="dark")
    dark = background()
    assert dark != light
    screenshot(page, "overview-dark")
    page.click("#theme-switch")  # auto → light, kept across pages
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    assert background() == light
    page.goto("/")
    assert background() == light
