"""The schedule page's issue-14 parts: its DST policy, jitter, spread and calendars in the
configuration; its backfills (listed, started and canceled from the page, with CSRF); its
audit trail, with push secrets hidden as elsewhere on the page."""

from __future__ import annotations

import html
import re

import httpx

from tests.dashboard.conftest import Dashboard
from tests.dashboard.test_schedule_page import region, shown
from tests.helpers import create_schedule, expect


async def test_the_configuration_shows_the_timing_fields(
    dash: Dashboard, client: httpx.AsyncClient
):
    for name in ("holidays", "business-days"):
        expect(await client.post("/v1/calendars", json={"name": name, "rules": ["weekdays"]}), 201)
    schedule = await create_schedule(
        client,
        name="nightly",
        handler="report",
        cron="30 2 * * *",
        timezone="America/New_York",
        dst_policy={"gap": "skip", "overlap": "both"},
        jitter="2m",
        spread=30,
        exclude_calendars=["holidays"],
        only_calendar="business-days",
    )
    config = html.unescape(
        region(await shown(dash, f"/schedules/{schedule['id']}"), "schedule-config")
    )
    text = re.sub(r"<[^>]+>", "", config)
    assert "gap skip · overlap both" in text
    assert "up to 2m 00s per fire" in text and "up to 30.0 s" in text
    assert "skips the days of holidays; runs only on the days of business-days" in text
    assert '<a href="/calendars/business-days">' in config

    plain = await create_schedule(client, name="plain", handler="h", interval="1h")
    config = region(await shown(dash, f"/schedules/{plain['id']}"), "schedule-config")
    assert 'data-config="dst_policy"' not in config  # an interval has no DST policy
    for field in ("jitter", "spread", "calendars"):
        assert re.search(rf'data-config="{field}"><span class="muted">none</span>', config)


async def test_start_list_and_cancel_a_backfill_from_the_page(
    dash: Dashboard, client: httpx.AsyncClient
):
    schedule = await create_schedule(client, name="hourly", handler="h", cron="0 * * * *")
    page = await shown(dash, f"/schedules/{schedule['id']}")
    assert "No backfill yet." in region(page, "schedule-backfills")
    assert 'name="from"' in page and 'value="2026-02-28T00:00"' in page  # the last full day
    path = f"/schedules/{schedule['id']}/actions/backfill"
    form = {"from": "2026-03-01T06:00", "to": "2026-03-01T09:00", "overlap": "skip"}

    refused = await dash.post(path, data=form)  # no CSRF token
    assert refused.status_code == 403
    future = await dash.act(path, {**form, "to": "2026-03-02T09:00"})
    assert future.status_code == 422 and "must not be in the future" in future.text
    for bad in ({**form, "from": "yesterday"}, {**form, "overlap": "twice"}, {**form, "to": ""}):
        assert (await dash.act(path, bad)).status_code == 422
    assert expect(await client.get("/v1/schedules/hourly/backfills"), 200)["data"] == []

    started = await dash.act(path, {**form, "reason": "the warehouse was down"})
    assert started.status_code == 200, started.text
    assert re.search(r"Backfill bfl_\w+: 4 jobs created; 0 slots already had a job", started.text)
    [backfill] = expect(await client.get("/v1/schedules/hourly/backfills"), 200)["data"]
    assert (backfill["from"], backfill["to"], backfill["created"]) == (
        "2026-03-01T06:00:00Z",
        "2026-03-01T09:00:00Z",
        4,
    )
    assert backfill["reason"] == "the warehouse was down"
    again = await dash.act(path, form)  # exactly once: nothing new
    assert "0 jobs created; 4 slots already had a job" in again.text

    backfills = region(await shown(dash, f"/schedules/{schedule['id']}"), "schedule-backfills")
    assert f'data-backfill="{backfill["id"]}" data-status="running"' in backfills
    assert "the warehouse was down" in backfills and "ready 4" in backfills

    cancel = f"/schedules/{schedule['id']}/actions/backfills/{backfill['id']}/cancel"
    assert (await dash.post(cancel)).status_code == 403
    done = await dash.act(cancel)
    assert f"Canceled backfill {backfill['id']}: 4 jobs canceled" in done.text
    after = expect(await client.get(f"/v1/backfills/{backfill['id']}"), 200)
    assert after["status"] == "canceled" and after["jobs"].get("canceled") == 4
    other = await create_schedule(client, name="other", handler="h", cron="0 * * * *")
    wrong = f"/schedules/{other['id']}/actions/backfills/{backfill['id']}/cancel"
    assert (await dash.act(wrong)).status_code == 400


async def test_another_accounts_schedule_and_backfills_are_not_found(
    dash: Dashboard, client: httpx.AsyncClient, other_client: httpx.AsyncClient
):
    theirs = await create_schedule(other_client, name="hourly", handler="h", cron="0 * * * *")
    body = {"from": "2026-03-01T06:00:00Z", "to": "2026-03-01T07:00:00Z"}
    backfill = expect(await other_client.post("/v1/schedules/hourly/backfill", json=body), 201)
    form = {"from": "2026-03-01T06:00", "to": "2026-03-01T07:00"}
    started = await dash.act(f"/schedules/{theirs['id']}/actions/backfill", form)
    assert started.status_code == 404
    mine = await create_schedule(client, name="mine", handler="h", cron="0 * * * *")
    cancel = f"/schedules/{mine['id']}/actions/backfills/{backfill['id']}/cancel"
    assert (await dash.act(cancel)).status_code == 404
    after = expect(await other_client.get(f"/v1/backfills/{backfill['id']}"), 200)
    assert after["status"] == "running"


async def test_the_audit_trail_shows_changes_and_hides_secrets(
    dash: Dashboard, client: httpx.AsyncClient
):
    schedule = await create_schedule(
        client,
        name="hook",
        cron="*/5 * * * *",
        delivery={
            "type": "push",
            "http": {
                "url": "https://bot:pa55word@example.com/hook",
                "headers": {"Authorization": "Bearer s3cr3t-token"},
                "body": "top-secret-body",
            },
        },
    )
    response = await client.patch(
        "/v1/schedules/hook",
        json={
            "jitter": 10,
            "delivery": {
                "type": "push",
                "http": {
                    "url": "https://bot:n3w-pass@example.com/hook",
                    "headers": {"Authorization": "Bearer n3w-token"},
                    "body": "n3w-body",
                },
            },
        },
        headers={"X-Chronos-Reason": "spread the load <b>"},
    )
    expect(response, 200)
    page = await shown(dash, f"/schedules/{schedule['id']}")
    audit = region(page, "schedule-audit")
    assert audit.index('data-audit="schedule.updated"') < audit.index(
        'data-audit="schedule.created"'
    )
    assert 'data-field="jitter"' in audit and "spread the load &lt;b&gt;" in audit
    for secret in ("s3cr3t", "n3w-token", "pa55word", "n3w-pass", "top-secret-body", "n3w-body"):
        assert secret not in page, secret
