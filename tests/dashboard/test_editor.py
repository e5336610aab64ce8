"""The schedule editor: its preview is the API's, saving goes through the same services."""

from __future__ import annotations

import html
import re

import httpx

from chronos.server.clock import FakeClock
from tests.dashboard.conftest import Dashboard
from tests.helpers import expect

CRON = {
    "kind": "cron",
    "name": "nightly",
    "cron": "30 2 * * *",
    "timezone": "America/New_York",
    "target": "pull",
    "handler": "report",
    "timeout": "30s",
    "max_retries": "3",
    "concurrency": "forbid",
    "misfire_policy": "run_once",
    "enabled": "on",
}


def fires(html: str) -> list[str]:
    return re.findall(r'data-fire="([^"]+)"', html)


async def test_the_preview_lists_what_the_api_previews(dash: Dashboard, client: httpx.AsyncClient):
    response = await dash.act("/schedules/preview", CRON)
    assert response.status_code == 200
    api = expect(
        await client.post(
            "/v1/schedules/preview",
            json={
                "name": "nightly",
                "cron": "30 2 * * *",
                "timezone": "America/New_York",
                "handler": "report",
            },
        ),
        200,
    )
    assert fires(response.text) == api["data"]
    assert len(api["data"]) == 10
    assert api["description"] in response.text


async def test_the_preview_warns_about_dst(dash: Dashboard, clock: FakeClock):
    # 2026-03-01: New York skips 02:00-03:00 on 2026-03-08 and repeats 01:00-02:00 on 11-01.
    response = await dash.act("/schedules/preview", CRON)
    assert 'data-code="dst_gap"' in response.text
    assert "does not exist on 2026-03-08" in response.text
    overlap = await dash.act("/schedules/preview", {**CRON, "cron": "30 1 * * *"})
    assert 'data-code="dst_overlap"' in overlap.text
    once = await dash.act(
        "/schedules/preview",
        {**CRON, "kind": "once", "run_at": "2026-03-08T02:30", "timezone": "America/New_York"},
    )
    assert "does not exist on 2026-03-08" in once.text


async def test_a_bad_body_gets_the_apis_message(dash: Dashboard, client: httpx.AsyncClient):
    bad = {**CRON, "cron": "61 * * * *"}
    response = await dash.act("/schedules/preview", bad)
    api = await client.post(
        "/v1/schedules/preview", json={"name": "nightly", "cron": "61 * * * *", "handler": "h"}
    )
    assert api.status_code == 422
    assert api.json()["error"]["message"] in html.unescape(response.text)
    for fields, words in [
        ({**CRON, "timezone": "Mars/Olympus"}, "timezone"),
        ({**CRON, "payload": "{not json"}, "payload: not valid JSON"),
        ({**CRON, "tags": "no-equals-sign"}, "key=value"),
        ({**CRON, "max_retries": "-1"}, "max_retries"),
        ({**CRON, "kind": "sometimes"}, "kind must be one of"),
    ]:
        response = await dash.act("/schedules/preview", fields)
        assert response.status_code == 200
        assert 'id="preview-error"' in response.text, fields
        assert words in response.text, fields


async def test_creating_a_schedule_and_then_editing_it(dash: Dashboard, client: httpx.AsyncClient):
    created = await dash.act("/schedules/new", {**CRON, "tags": "team=data\nenv=prod"})
    location = created.headers["HX-Redirect"]
    schedule = expect(await client.get("/v1/schedules/nightly"), 200)
    assert location == f"/schedules/{schedule['id']}"
    assert (schedule["cron"], schedule["timezone"], schedule["tags"]) == (
        "30 2 * * *",
        "America/New_York",
        {"team": "data", "env": "prod"},
    )
    form = (await dash.get(f"/schedules/{schedule['id']}/edit")).text
    assert 'value="30 2 * * *"' in form and "team=data" in form
    edited = await dash.act(
        f"/schedules/{schedule['id']}/edit",
        {**CRON, "kind": "interval", "interval": "15m", "tags": "team=data"},
    )
    assert edited.status_code == 200, edited.text
    after = expect(await client.get("/v1/schedules/nightly"), 200)
    assert (after["cron"], after["interval"], after["version"]) == (
        None,
        {"value": 15, "unit": "minute"},
        2,
    )
    events = expect(await client.get(f"/v1/schedules/{schedule['id']}/events"), 200)["data"]
    assert [e["kind"] for e in events] == ["updated", "created"]
    assert events[0]["actor"].startswith("dashboard: ")


async def test_a_refused_save_keeps_what_was_typed(dash: Dashboard, client: httpx.AsyncClient):
    await dash.act("/schedules/new", CRON)
    again = await dash.act("/schedules/new", {**CRON, "cron": "0 9 * * 1-5"})
    assert again.status_code == 409
    assert "already exists" in again.text
    assert 'value="0 9 * * 1-5"' in again.text
    assert len(expect(await client.get("/v1/schedules"), 200)["data"]) == 1


async def test_a_one_off_job_from_the_editor(dash: Dashboard, client: httpx.AsyncClient):
    response = await dash.act(
        "/schedules/new",
        {**CRON, "kind": "once", "run_at": "2026-03-02T09:00", "timezone": "Europe/Paris"},
    )
    job_id = response.headers["HX-Redirect"].removeprefix("/jobs/")
    job = expect(await client.get(f"/v1/jobs/{job_id}"), 200)
    assert job["scheduled_for"] == "2026-03-02T08:00:00Z"
    assert job["handler"] == "report"


async def test_editing_needs_the_csrf_token_and_an_own_schedule(
    dash: Dashboard, client: httpx.AsyncClient, other_client: httpx.AsyncClient
):
    theirs = expect(
        await other_client.post(
            "/v1/schedules", json={"name": "theirs", "cron": "* * * * *", "handler": "h"}
        ),
        201,
    )
    assert (await dash.get(f"/schedules/{theirs['id']}/edit")).status_code == 404
    assert (await dash.act(f"/schedules/{theirs['id']}/edit", CRON)).status_code == 404
    no_token = await dash.post("/schedules/new", data=CRON)
    assert no_token.status_code == 403
    assert expect(await client.get("/v1/schedules"), 200)["data"] == []
