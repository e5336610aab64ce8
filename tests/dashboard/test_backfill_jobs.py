"""Backfilled jobs on the dashboard: the jobs list filters by the ``backfill`` trigger, and a
job's page and the schedule's page show it."""

from __future__ import annotations

import re

import httpx

from tests.dashboard.conftest import Dashboard
from tests.helpers import create_schedule, expect

ROW = re.compile(r'<tr data-job="(job_[0-9a-z]+)"')


async def test_backfilled_jobs_show_their_trigger(dash: Dashboard, client: httpx.AsyncClient):
    schedule = await create_schedule(client, name="nightly", cron="0 * * * *", handler="h")
    body = {"from": "2026-03-01T09:00:00Z", "to": "2026-03-01T10:00:00Z"}
    expect(await client.post("/v1/schedules/nightly/backfill", json=body), 201)
    page = await dash.get("/jobs?trigger=backfill")
    assert page.status_code == 200
    rows = ROW.findall(page.text)
    assert len(rows) == 2
    assert '<option value="backfill" selected>' in page.text
    job = await dash.get(f"/jobs/{rows[0]}")
    assert "<dd>backfill</dd>" in job.text
    schedule_page = await dash.get(f"/schedules/{schedule['id']}")
    assert schedule_page.status_code == 200 and "backfill" in schedule_page.text
