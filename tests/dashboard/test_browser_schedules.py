"""The schedules list in a real browser against a real ``chronos serve``: live updates, row
and bulk actions, the search field, and the README's screenshot."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import screenshot
from tests.e2e.server import ChronosServer


def create(api: httpx.Client, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "handler": "report", **fields}
    if "interval" not in body:
        body.setdefault("cron", "0 2 * * *")
    response = api.post("/v1/schedules", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def state(api: httpx.Client, name: str) -> str:
    response = api.get(f"/v1/schedules/{name}")
    assert response.status_code == 200, response.text
    return str(response.json()["state"])


def row(page: Page, name: str) -> Any:
    return page.locator(f'tr[data-name="{name}"]')


def badge(page: Page, name: str) -> Any:
    return row(page, name).locator("td[data-state] .badge")


def test_a_schedule_created_through_the_api_appears_without_a_reload(
    page: Page, server: ChronosServer
):
    page.goto("/schedules")
    expect(page.get_by_role("heading", name="No schedules yet")).to_be_visible()
    expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
    page.evaluate("window.notReloaded = true")
    with server.client() as api:
        create(api, "nightly", timezone="Europe/Paris", tags={"team": "ops"})
    expect(row(page, "nightly")).to_be_visible()
    expect(row(page, "nightly").locator("td.spec")).to_have_text(
        "every day at 02:00 (Europe/Paris)"
    )
    expect(page.locator("#schedule-filters")).to_be_visible()  # hidden only while empty
    with server.client() as api:
        assert api.post("/v1/schedules/nightly/trigger").status_code == 201
        cell = row(page, "nightly").locator(".strip .cell")
        expect(cell).to_have_class(re.compile(r"status-ready"))
        claim = api.post("/v1/worker/jobs/claim", json={"handlers": ["report"], "wait_seconds": 0})
        [job] = claim.json()["jobs"]
        api.post(
            f"/v1/worker/executions/{job['execution_id']}/result", json={"status": "completed"}
        )
    expect(cell).to_have_class(re.compile(r"status-completed"))
    expect(row(page, "nightly").locator("[data-success]")).to_have_text("100%")
    assert page.evaluate("window.notReloaded") is True


def test_row_buttons_pause_resume_and_disable_with_a_confirmation(
    page: Page, server: ChronosServer
):
    with server.client() as api:
        create(api, "nightly")
        create(api, "hourly", interval={"value": 1, "unit": "hour"})
        page.goto("/schedules")
        row(page, "nightly").get_by_role("button", name="Pause: nightly").click()
        expect(badge(page, "nightly")).to_have_text("paused")
        expect(page.locator("#flash")).to_have_text("Paused nightly.")
        assert state(api, "nightly") == "paused"
        assert state(api, "hourly") == "enabled"

        row(page, "nightly").get_by_role("button", name="Resume: nightly").click()
        expect(badge(page, "nightly")).to_have_text("enabled")

        dialogs: list[str] = []

        def accept(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.accept()

        page.once("dialog", accept)
        row(page, "hourly").get_by_role("button", name="Disable: hourly").click()
        expect(badge(page, "hourly")).to_have_text("disabled")
        assert dialogs == ["Disable hourly? It will not fire until enabled again."]
        assert state(api, "hourly") == "disabled"


def test_bulk_pause_of_two_checked_rows(page: Page, server: ChronosServer):
    with server.client() as api:
        for name in ["alpha", "beta", "gamma"]:
            create(api, name)
        page.goto("/schedules")
        every = page.get_by_role("checkbox", name="Check every row")
        every.check()
        expect(page.locator("input[name=ids]:checked")).to_have_count(3)
        every.uncheck()
        expect(page.locator("input[name=ids]:checked")).to_have_count(0)
        row(page, "alpha").get_by_role("checkbox").check()
        row(page, "gamma").get_by_role("checkbox").check()
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#bulk-form").get_by_role("button", name="Pause").click()
        expect(page.locator("#flash")).to_have_text("Paused 2.")
        expect(badge(page, "alpha")).to_have_text("paused")
        expect(badge(page, "gamma")).to_have_text("paused")
        expect(badge(page, "beta")).to_have_text("enabled")
        expect(page.locator("input[name=ids]:checked")).to_have_count(0)
        assert [state(api, n) for n in ["alpha", "beta", "gamma"]] == [
            "paused",
            "enabled",
            "paused",
        ]


def test_typing_a_search_filters_the_table_and_the_url(page: Page, server: ChronosServer):
    with server.client() as api:
        for name in ["nightly-report", "Nightly backup", "hourly sync"]:
            create(api, name)
    page.goto("/schedules")
    expect(page.locator("tbody tr")).to_have_count(3)
    page.fill("#schedule-search", "NIGHT")
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"/schedules\?search=NIGHT$"))
    page.select_option("select[name=state]", "paused")
    expect(page.get_by_role("heading", name="No schedule matches")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/schedules\?search=NIGHT&state=paused$"))
    page.get_by_role("link", name="Clear the filters").first.click()
    expect(page.locator("tbody tr")).to_have_count(3)


def test_screenshot_of_schedules_with_run_history(page: Page, server: ChronosServer):
    """A few schedules with their last runs (run now, then a worker reports each result)."""
    plans = {
        "nightly-report": ("report", {"cron": "0 2 * * *", "timezone": "America/New_York"}),
        "hourly-tenant-sync": ("sync-tenant", {"interval": {"value": 1, "unit": "hour"}}),
        "invoice-reminders": ("email", {"cron": "30 8 * * 1-5", "timezone": "Europe/Paris"}),
        "cache-warmup": ("warm-cache", {"interval": {"value": 15, "unit": "minute"}}),
        "quarterly-audit": ("audit", {"cron": "0 9 1 */3 *"}),
    }
    tags = {"nightly-report": {"team": "finance"}, "invoice-reminders": {"team": "billing"}}
    # Which runs fail: none, a few, most.
    failing = {"nightly-report": (), "hourly-tenant-sync": (4, 11), "invoice-reminders": (8,)}
    failing["cache-warmup"] = (1, 2, 3, 5, 6, 9)
    runs = {"nightly-report": 24, "hourly-tenant-sync": 30, "invoice-reminders": 12}
    runs["cache-warmup"] = 10
    with server.client() as api:
        for name, (handler, timing) in plans.items():
            create(api, name, handler=handler, tags=tags.get(name, {}), max_retries=0, **timing)
            for n in range(runs.get(name, 0)):
                assert api.post(f"/v1/schedules/{name}/trigger").status_code == 201
                claim = api.post(
                    "/v1/worker/jobs/claim",
                    json={"handlers": [handler], "wait_seconds": 0, "worker_id": "w1"},
                )
                [job] = claim.json()["jobs"]
                result = (
                    {"status": "failed", "error": {"message": "upstream timed out"}}
                    if n in failing.get(name, ())
                    else {"status": "completed", "output": {"ok": True}}
                )
                reported = api.post(
                    f"/v1/worker/executions/{job['execution_id']}/result", json=result
                )
                assert reported.status_code == 200, reported.text
        api.post("/v1/schedules/cache-warmup/trigger")  # one still waiting for a worker
        api.post("/v1/schedules/invoice-reminders/pause", json={"note": "holiday freeze"})
        api.post("/v1/schedules/quarterly-audit/disable")
    page.goto("/schedules")
    expect(row(page, "hourly-tenant-sync").locator(".strip .cell")).to_have_count(30)
    expect(row(page, "cache-warmup").locator("[data-success]")).to_have_text("40%")
    expect(badge(page, "invoice-reminders")).to_have_text("paused")
    screenshot(page, "schedules")
