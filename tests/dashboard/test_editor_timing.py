"""The editor's issue-14 fields (DST policy, jitter, spread, calendars): the preview is the API's
preview for the same body, the account's calendars included; an edit is a PATCH that leaves
the fields it did not change as stored."""

from __future__ import annotations

import html
import re

import httpx

from tests.dashboard.conftest import Dashboard
from tests.dashboard.test_editor import CRON, fires
from tests.helpers import create_schedule, expect

# The clock starts on 2026-03-01 (a Sunday); New York skips 02:00-03:00 on 2026-03-08.
DAILY = {**CRON, "cron": "0 9 * * *", "timezone": "UTC"}


async def test_the_preview_leaves_out_the_days_of_the_accounts_calendars(
    dash: Dashboard, client: httpx.AsyncClient
):
    body = {"name": "holidays", "dates": ["2026-03-02", "2026-03-04"]}
    expect(await client.post("/v1/calendars", json=body), 201)
    weekdays = {"name": "weekdays", "rules": ["weekdays"]}
    expect(await client.post("/v1/calendars", json=weekdays), 201)
    editor = (await dash.get("/schedules/new")).text
    assert '<option value="holidays"' in editor and '<option value="weekdays"' in editor

    plain = fires((await dash.act("/schedules/preview", DAILY)).text)
    assert plain[:3] == [f"2026-03-0{d}T09:00:00Z" for d in (2, 3, 4)]
    form = {**DAILY, "exclude_calendars": ["", "holidays"], "only_calendar": "weekdays"}
    response = await dash.act("/schedules/preview", form)
    assert response.status_code == 200
    api = expect(
        await client.post(
            "/v1/schedules/preview",
            json={
                "name": "nightly",
                "handler": "report",
                "cron": "0 9 * * *",
                "exclude_calendars": ["holidays"],
                "only_calendar": "weekdays",
            },
        ),
        200,
    )
    shown = fires(response.text)
    assert shown == api["data"]
    assert shown[:3] == ["2026-03-03T09:00:00Z", "2026-03-05T09:00:00Z", "2026-03-06T09:00:00Z"]
    assert 'id="preview-excluded"' in response.text and 'id="preview-only"' in response.text

    # A calendar the account does not have: the API's 422, in the preview.
    unknown = await dash.act("/schedules/preview", {**DAILY, "only_calendar": "nope"})
    assert "no calendar &#39;nope&#39;" in unknown.text and 'data-fire="' not in unknown.text


async def test_the_preview_shows_what_the_dst_policy_spread_and_jitter_do(dash: Dashboard):
    shift = await dash.act("/schedules/preview", CRON)  # 30 2 * * * in New York
    assert 'data-fire="2026-03-08T07:00:00Z" data-dst="shifted"' in shift.text
    skip = await dash.act("/schedules/preview", {**CRON, "dst_gap": "skip"})
    assert "2026-03-08T07:00:00Z" not in fires(skip.text)
    assert 'id="preview-dst-skipped"' in skip.text and "2026-03-08 02:30" in skip.text

    spread = await dash.act(
        "/schedules/preview", {**DAILY, "cron": "@hourly", "spread": "30m", "jitter": "10s"}
    )
    assert 'id="preview-spread"' in spread.text
    minutes = {f[14:16] for f in fires(spread.text)}
    assert len(minutes) == 1 and minutes != {"00"}  # every slot moved by the same offset
    assert 'id="preview-jitter"' in spread.text

    too_much = await dash.act("/schedules/preview", {**DAILY, "jitter": "2d"})
    assert "jitter must be at most 1 day" in html.unescape(too_much.text)


async def test_creating_with_the_timing_fields(dash: Dashboard, client: httpx.AsyncClient):
    expect(await client.post("/v1/calendars", json={"name": "holidays", "dates": []}), 201)
    form = {
        **CRON,
        "dst_gap": "skip",
        "dst_overlap": "both",
        "jitter": "30s",
        "spread": "5m",
        "exclude_calendars": ["", "holidays"],
    }
    created = await dash.act("/schedules/new", form)
    assert created.status_code == 200 and "HX-Redirect" in created.headers, created.text
    schedule = expect(await client.get("/v1/schedules/nightly"), 200)
    assert schedule["dst_policy"] == {"gap": "skip", "overlap": "both"}
    assert (schedule["jitter"], schedule["spread"]) == (30, 300)
    assert (schedule["exclude_calendars"], schedule["only_calendar"]) == (["holidays"], None)


async def saved(dash: Dashboard, path: str, form: dict[str, object]) -> None:
    response = await dash.act(path, form)
    assert response.status_code == 200 and "HX-Redirect" in response.headers, response.text


def _selected(page: str, select: str) -> list[str]:
    found = re.search(rf'<select name="{select}"[^>]*>(.*?)</select>', page, re.S)
    assert found, select
    return re.findall(r'<option value="([^"]*)" selected>', found.group(1))


async def test_an_edit_changes_only_the_timing_fields_it_changes(
    dash: Dashboard, client: httpx.AsyncClient
):
    for name in ("holidays", "closures"):
        expect(await client.post("/v1/calendars", json={"name": name, "dates": []}), 201)
    schedule = await create_schedule(
        client,
        name="nightly",
        handler="report",
        cron="30 2 * * *",
        timezone="America/New_York",
        dst_policy={"gap": "skip"},
        jitter=45,
        exclude_calendars=["holidays", "closures"],
    )
    path = f"/schedules/{schedule['id']}/edit"
    page = (await dash.get(path)).text
    assert _selected(page, "dst_gap") == ["skip"] and _selected(page, "dst_overlap") == ["first"]
    assert _selected(page, "exclude_calendars") == ["closures", "holidays"]
    assert 'name="jitter" id="jitter" value="45s"' in page

    # The form as shown, with only the description changed: only the description changes.
    shown = {
        **CRON,
        "description": "the nightly report",
        "dst_gap": "skip",
        "dst_overlap": "first",
        "jitter": "45s",
        "spread": "0s",
        "exclude_calendars": ["", "closures", "holidays"],  # the options' order, not the API's
        "only_calendar": "",
    }
    await saved(dash, path, shown)
    audit = expect(await client.get(f"/v1/audit?resource_id={schedule['id']}"), 200)["data"]
    assert audit[0]["action"] == "schedule.updated"
    assert set(audit[0]["changes"]) - {"version"} == {"description"}
    # A form without the timing fields (an older page) leaves them alone too.
    await saved(dash, path, {**CRON, "description": "again"})
    after = expect(await client.get("/v1/schedules/nightly"), 200)
    assert after["dst_policy"] == {"gap": "skip", "overlap": "first"}
    assert (after["jitter"], after["exclude_calendars"]) == (45, ["holidays", "closures"])

    # Changing them: deselecting every calendar clears the list.
    changed = {**shown, "dst_overlap": "last", "exclude_calendars": [""], "jitter": "1m"}
    await saved(dash, path, changed)
    after = expect(await client.get("/v1/schedules/nightly"), 200)
    assert after["dst_policy"] == {"gap": "skip", "overlap": "last"}
    assert (after["jitter"], after["exclude_calendars"]) == (60, [])
    audit = expect(await client.get(f"/v1/audit?resource_id={schedule['id']}"), 200)["data"]
    changed_fields = {key.split(".")[0] for key in audit[0]["changes"]}
    assert {"dst_policy", "jitter", "exclude_calendars"} <= changed_fields
    assert "spread" not in changed_fields
