"""The overview page and ``GET /v1/overview``: counts, windows, attention, waiting jobs."""

from __future__ import annotations

import re

import httpx

from chronos.server.clock import FakeClock
from chronos.server.runtime import Runtime
from tests.dashboard.conftest import Dashboard
from tests.helpers import (
    claim_one,
    create_job,
    create_schedule,
    expect,
    report,
    run_scheduler,
)


def tile(html: str, status: str) -> int:
    found = re.search(rf'data-count="{status}">(\d+)<', html)
    assert found, status
    return int(found.group(1))


async def test_a_new_account_is_taught_how_to_start(dash: Dashboard):
    html = (await dash.get("/")).text
    assert "Nothing scheduled yet" in html
    assert "curl -X POST http://chronos.test/v1/schedules" in html
    assert "@chronos.worker.handle" in html


async def test_counts_follow_the_jobs(dash: Dashboard, client: httpx.AsyncClient):
    for _ in range(3):
        await create_job(client, handler="h")
    done = await claim_one(client, ["h"])
    await report(client, done["execution_id"])
    failed = await claim_one(client, ["h"])
    await report(client, failed["execution_id"], "failed", retryable=False)
    html = (await dash.get("/")).text
    assert (tile(html, "ready"), tile(html, "completed"), tile(html, "failed")) == (1, 1, 1)
    api = expect(await client.get("/v1/overview"), 200)
    assert api["jobs_by_status"] == {"ready": 1, "completed": 1, "failed": 1}
    assert api["windows"]["1h"]["completed"] == 1
    assert api["windows"]["1h"]["failed"] == 1
    assert api["windows"]["24h"]["success_rate"] == 0.5


async def test_jobs_with_no_worker_polling_need_attention(
    dash: Dashboard, client: httpx.AsyncClient, clock: FakeClock
):
    await create_job(client, handler="served")
    await create_job(client, handler="orphan")
    # A worker polls for "served" (and claims nothing it does not ask for).
    await claim_one(client, ["served"], worker_id="w-served")
    await create_job(client, handler="served")
    api = expect(await client.get("/v1/overview"), 200)
    waiting = {w["handler"]: w["has_worker"] for w in api["waiting"]}
    assert waiting == {"served": True, "orphan": False}
    kinds = [(a["kind"], a["handler"]) for a in api["attention"]]
    assert ("no_worker", "orphan") in kinds
    assert ("no_worker", "served") not in kinds
    assert "no worker polling for orphan" in (await dash.get("/")).text
    # A worker not seen for a minute no longer counts.
    clock.advance(seconds=61)
    api = expect(await client.get("/v1/overview"), 200)
    assert {w["handler"]: w["has_worker"] for w in api["waiting"]}["served"] is False


async def test_failing_and_missed_schedules_need_attention(
    dash: Dashboard, client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    failing = await create_schedule(client, name="flaky", interval="1m", handler="h", max_retries=0)
    late = await create_schedule(client, name="hourly", cron="0 * * * *", handler="other")
    clock.advance(minutes=1)
    await run_scheduler(runtime)
    job = await claim_one(client, ["h"])
    await report(client, job["execution_id"], "failed", retryable=False)
    # Nobody runs the scheduler for three hours: "hourly" misses slots (run_once fires the last).
    clock.advance(hours=3)
    await run_scheduler(runtime)
    api = expect(await client.get("/v1/overview"), 200)
    about = {(a["kind"], a["schedule_id"]) for a in api["attention"]}
    assert ("failing", failing["id"]) in about
    assert ("missed", late["id"]) in about
    assert api["windows"]["24h"]["missed"] >= 2
    html = (await dash.get("/")).text
    assert "its last run failed" in html
    assert f'href="/schedules/{late["id"]}"' in html


async def test_the_next_fires_are_listed_soonest_first(dash: Dashboard, client: httpx.AsyncClient):
    await create_schedule(client, name="later", cron="0 3 * * *", handler="h")
    await create_schedule(client, name="sooner", cron="*/5 * * * *", handler="h")
    await create_schedule(client, name="off", cron="* * * * *", handler="h", enabled=False)
    api = expect(await client.get("/v1/overview"), 200)
    assert [f["name"] for f in api["next_fires"]] == ["sooner", "later"]
    html = (await dash.get("/")).text
    assert html.index(">sooner<") < html.index(">later<")
    assert ">off<" not in html


async def test_the_overview_api_needs_a_key(runtime: Runtime):
    from tests.dashboard.test_auth import anonymous

    async with anonymous(runtime) as stranger:
        response = await stranger.get("/v1/overview")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
