"""The monitors pages (HTML level, both databases): state badges as of now, the ping URLs as
curl lines, the ping history, and the create/pause/resume/rotate/delete forms with CSRF."""

from __future__ import annotations

import html
import re

import httpx
import sqlalchemy as sa

from chronos.server.clock import FakeClock
from chronos.server.runtime import Runtime
from chronos.server.store.tables import audit_events
from tests.dashboard.conftest import Dashboard
from tests.helpers import expect


def monitor_rows(page: httpx.Response) -> dict[str, str]:
    """Each monitor row's name → its state."""
    assert page.status_code == 200, page.text
    return dict(re.findall(r'<tr data-monitor="([^"]+)" data-state="([^"]+)"', page.text))


async def test_the_list_shows_states_as_of_now_and_links_beside_schedules(
    dash: Dashboard, client: httpx.AsyncClient, clock: FakeClock
):
    empty = await dash.get("/monitors")
    assert "No monitors yet" in empty.text and 'href="/monitors"' in empty.text
    assert 'href="/monitors"' in (await dash.get("/schedules")).text  # beside schedules
    expect(await client.post("/v1/monitors", json={"name": "backup", "interval": "1h"}), 201)
    expect(await client.post("/v1/monitors", json={"name": "report", "cron": "0 9 * * 1-5"}), 201)
    expect(await client.post("/v1/monitors/report/ping"), 200)
    assert monitor_rows(await dash.get("/monitors")) == {"backup": "new", "report": "up"}
    clock.advance(hours=1, minutes=6)
    page = await dash.get("/monitors")
    assert monitor_rows(page) == {"backup": "late", "report": "up"}
    assert "every 1h after the last ping, up to 5m late" in page.text
    overview = await dash.get("/")
    assert "backup: never pinged" in html.unescape(overview.text)


async def test_a_monitor_page_shows_curl_lines_pings_and_its_problem(
    dash: Dashboard, client: httpx.AsyncClient, clock: FakeClock
):
    created = expect(
        await client.post("/v1/monitors", json={"name": "etl", "interval": 600, "grace": 60}), 201
    )
    token = created["ping_token"]
    resp = await client.post(
        "/v1/monitors/etl/fail?exit_code=3",
        content=b"<script>alert(1)</script>",
        headers={"Content-Type": "text/plain"},
    )
    expect(resp, 200)
    page = await dash.get(f"/monitors/{created['id']}")
    assert page.status_code == 200
    text = page.text
    assert f"curl -fsS -m 10 --retry 3 http://chronos.test/v1/ping/{token}" in text
    assert f"http://chronos.test/v1/ping/{token}/fail" in text
    assert 'data-state="failed"' in text and "reported a failure" in text
    assert '<tr data-kind="fail">' in text and "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;" in text
    assert (await dash.get("/monitors/nope")).status_code == 404


async def test_create_pause_resume_rotate_delete_from_the_dashboard(
    dash: Dashboard, client: httpx.AsyncClient, runtime: Runtime
):
    form = {"name": "sync", "cron": "*/5 * * * *", "grace": "2m", "csrf": dash.csrf}
    refused = await dash.post("/monitors", data={**form, "csrf": "stale"})
    assert refused.status_code == 403
    bad = await dash.post("/monitors", data={**form, "cron": "not cron"})
    assert bad.status_code == 422 and "has 2 fields" in html.unescape(bad.text)
    assert 'value="not cron"' in bad.text  # what was typed is kept
    made = await dash.post("/monitors", data=form)
    assert made.status_code == 303
    monitor_id = made.headers["location"].rsplit("/", 1)[1]
    created = expect(await client.get("/v1/monitors/sync"), 200)
    assert created["id"] == monitor_id and created["grace"] == 120

    for action, check in [
        ("pause", lambda m: m["state"] == "paused"),
        ("resume", lambda m: m["state"] == "new"),
        ("rotate-token", lambda m: m["ping_token"] != created["ping_token"]),
    ]:
        resp = await dash.post(f"/monitors/{monitor_id}/{action}", data={"csrf": dash.csrf})
        assert resp.status_code == 303, resp.text
        assert check(expect(await client.get("/v1/monitors/sync"), 200)), action
    assert (
        await dash.post(f"/monitors/{monitor_id}/explode", data={"csrf": dash.csrf})
    ).status_code == 400

    page = await dash.get(f"/monitors/{monitor_id}")
    assert 'name="cron" maxlength="200" value="*/5 * * * *"' in page.text  # the form is filled
    edit = {"csrf": dash.csrf, "name": "sync", "interval": "15m", "grace": "60"}
    refused = await dash.post(f"/monitors/{monitor_id}/edit", data={**edit, "cron": "* * * * *"})
    assert refused.status_code == 422 and "exactly one of cron or interval" in refused.text
    resp = await dash.post(f"/monitors/{monitor_id}/edit", data=edit)
    assert resp.status_code == 303, resp.text
    edited = expect(await client.get("/v1/monitors/sync"), 200)
    assert (edited["cron"], edited["interval"], edited["grace"]) == (None, 900, 60)
    assert edited["max_runtime"] is None and edited["timezone"] == "UTC"

    resp = await dash.post(f"/monitors/{monitor_id}/delete", data={"csrf": dash.csrf})
    assert resp.status_code == 303 and resp.headers["location"] == "/monitors"
    assert (await client.get("/v1/monitors/sync")).status_code == 404

    async with runtime.db.read() as conn:
        rows = (
            (await conn.execute(sa.select(audit_events).order_by(audit_events.c.id)))
            .mappings()
            .all()
        )
    assert [r["action"] for r in rows] == [
        "monitor.created",
        "monitor.paused",
        "monitor.resumed",
        "monitor.token_rotated",
        "monitor.updated",
        "monitor.deleted",
    ]
    assert all(r["actor"].startswith("dashboard: ") for r in rows)
