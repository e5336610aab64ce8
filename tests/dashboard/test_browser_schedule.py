"""In a real browser, a schedule's page: pause with a note, roll back a version and see the
diff, and a slot missed while the server was stopped, shown as missed with its reason."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from playwright.sync_api import expect

from tests.dashboard.conftest import screenshot
from tests.e2e.server import ChronosServer

DOWNTIME = "Chronos was not running (or was behind) at the slot and the misfire policy"


def create(server: ChronosServer, **body: Any) -> dict[str, Any]:
    with server.client() as api:
        response = api.post("/v1/schedules", json=body)
        assert response.status_code == 201, response.text
        return response.json()


def still_the_same_page(page: Any) -> None:
    """Mark the document: the mark survives only if nothing reloads the page."""
    page.evaluate("window.__sameDocument = true")


def assert_not_reloaded(page: Any) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def test_pause_with_a_note_shows_the_state_and_note_without_a_reload(
    page: Any, server: ChronosServer
):
    schedule = create(server, name="nightly-report", cron="0 2 * * *", handler="report")
    page.goto(f"/schedules/{schedule['id']}")
    expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
    header = page.locator("#schedule-header")
    expect(header.locator("[data-state]")).to_have_attribute("data-state", "enabled")
    still_the_same_page(page)

    header.get_by_text("Pause…").click()
    page.get_by_label("Note for the others").fill("Database migration, back by 18:00")
    header.get_by_role("button", name="Pause nightly-report").click()

    expect(page.locator("#flash")).to_contain_text("Paused nightly-report")
    expect(header.locator("[data-state]")).to_have_attribute("data-state", "paused")
    expect(header.locator("[data-paused]")).to_contain_text("Paused by dashboard:")
    expect(header.locator("[data-note]")).to_have_text("Database migration, back by 18:00")
    expect(page.locator("#schedule-history tr[data-event=paused]")).to_contain_text(
        "Database migration"
    )
    with server.client() as api:
        paused = api.get(f"/v1/schedules/{schedule['id']}").json()
    assert paused["state"] == "paused"
    assert paused["paused"]["note"] == "Database migration, back by 18:00"

    header.get_by_role("button", name="Resume").click()
    expect(header.locator("[data-state]")).to_have_attribute("data-state", "enabled")
    expect(header.locator("[data-paused]")).to_have_count(0)
    assert_not_reloaded(page)


def test_roll_back_a_version_and_see_the_diff(page: Any, server: ChronosServer):
    schedule = create(server, name="sync", cron="0 2 * * *", handler="sync")
    with server.client() as api:
        changed = api.patch(f"/v1/schedules/{schedule['id']}", json={"cron": "*/15 * * * *"})
        assert changed.status_code == 200, changed.text
    page.goto(f"/schedules/{schedule['id']}")
    header = page.locator("#schedule-header")
    expect(header.locator("[data-words]")).to_have_text("every 15 minutes (UTC)")
    still_the_same_page(page)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Roll back to 1").click()

    expect(page.locator("#flash")).to_contain_text("Rolled sync back to version 1 (now version 3)")
    expect(page.locator("[data-diff-title]")).to_have_text("Version 2 → version 3")
    diff = page.locator("[data-diff]")
    expect(diff.locator(".diff-del")).to_contain_text('"cron": "*/15 * * * *"')
    expect(diff.locator(".diff-add")).to_contain_text('"cron": "0 2 * * *"')
    expect(header.locator("[data-words]")).to_have_text("every day at 02:00 (UTC)")
    expect(page.locator("#schedule-versions tr[data-version='3']")).to_contain_text("current")
    expect(page.locator("#schedule-config")).to_contain_text("0 2 * * *")
    assert_not_reloaded(page)

    # Any two versions: pick them and compare.
    page.locator("select[name=a]").select_option("1")
    page.locator("select[name=b]").select_option("2")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("[data-diff-title]")).to_have_text("Version 1 → version 2")
    expect(page.locator("[data-diff] .diff-add")).to_contain_text("*/15 * * * *")


def test_a_slot_missed_while_the_server_was_stopped_shows_as_missed_with_its_reason(
    page: Any, server: ChronosServer
):
    schedule = create(server, name="heartbeat", interval="2s", handler="beat", concurrency="allow")
    page.goto(f"/schedules/{schedule['id']}")
    ledger = page.locator("#schedule-ledger")
    expect(ledger.locator("tr[data-outcome=on_time]").first).to_be_visible()
    # Run two of its jobs, so the runs have durations to chart.
    with server.client() as api:
        for _ in range(2):
            claimed = api.post(
                "/v1/worker/jobs/claim",
                json={"handlers": ["beat"], "wait_seconds": 5, "worker_id": "box-1"},
            ).json()["jobs"]
            for job in claimed:
                api.post(
                    f"/v1/worker/executions/{job['execution_id']}/result",
                    json={"status": "completed"},
                )
        next_run_at = api.get(f"/v1/schedules/{schedule['id']}").json()["next_run_at"]
    expect(page.locator("#schedule-runs [data-duration]").first).not_to_have_text("—")

    server.stop()
    # Down across the next two slots (the browser's clock is the server's: same machine).
    due = datetime.fromisoformat(next_run_at.replace("Z", "+00:00")).timestamp() * 1000
    # The downtime itself is the scenario: the server stays down on the real clock.
    page.wait_for_timeout(max(0.0, due + 4500 - time.time() * 1000))
    server.start()

    missed = ledger.locator("tr[data-outcome=missed]").first
    expect(missed).to_contain_text(DOWNTIME, timeout=20_000)
    expect(missed).to_contain_text("'run_once' did not fire it")
    expect(page.locator("#schedule-history tr[data-event=missed]").first).to_be_visible()
    expect(ledger.locator("[data-count=missed]")).to_be_visible()
    screenshot(page, "schedule")
