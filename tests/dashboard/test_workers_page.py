"""The workers page: pull workers seen by their claims, their jobs in flight, push targets."""

from __future__ import annotations

import re

import httpx

from chronos.server.clock import FakeClock
from chronos.server.runtime import Runtime
from tests.dashboard.conftest import Dashboard
from tests.endpoint import Endpoint
from tests.helpers import claim, create_job, run_dispatcher


def worker_rows(page: httpx.Response) -> dict[str, str]:
    """Each worker row's id → its whole row (HTML)."""
    assert page.status_code == 200, page.text
    return dict(re.findall(r'<tr data-worker="([^"]+)"[^>]*>(.*?)</tr>', page.text, re.S))


async def test_no_worker_yet_teaches_how_to_start_one(dash: Dashboard):
    page = await dash.get("/workers")
    assert page.status_code == 200
    assert "No worker has polled in the last 10 minutes" in page.text
    assert "chronos worker module:chronos" in page.text
    assert "CHRONOS_URL=http://chronos.test" in page.text  # the SDK snippet, for this server
    assert "No push request finished in the last hour" in page.text
    assert 'id="workers-view"' in page.text and "live:workers" in page.text


async def test_a_worker_appears_after_a_claim_with_its_jobs_in_flight(
    dash: Dashboard, client: httpx.AsyncClient
):
    for _ in range(2):
        await create_job(client, handler="send-email")
    await claim(client, ["send-email", "report"], worker_id="mail-1:4242", limit=2)
    await claim(client, ["report"], worker_id="reports-1:7")

    rows = worker_rows(await dash.get("/workers"))
    assert set(rows) == {"mail-1:4242", "reports-1:7"}
    assert 'data-in-flight="2"' in rows["mail-1:4242"]
    assert 'data-in-flight="0"' in rows["reports-1:7"]
    assert (
        "<code>send-email</code>" in rows["mail-1:4242"]
        and "<code>report</code>" in rows["mail-1:4242"]
    )
    assert "polling" in rows["mail-1:4242"]


async def test_a_worker_not_seen_for_a_minute_is_gone(
    dash: Dashboard, client: httpx.AsyncClient, clock: FakeClock
):
    await claim(client, ["h"], worker_id="w1")
    clock.advance(seconds=30)
    assert "worker-polling" in worker_rows(await dash.get("/workers"))["w1"]
    clock.advance(seconds=31)
    assert "worker-gone" in worker_rows(await dash.get("/workers"))["w1"]
    clock.advance(minutes=10)
    assert worker_rows(await dash.get("/workers")) == {}


async def test_another_accounts_workers_are_not_shown(
    dash: Dashboard, other_client: httpx.AsyncClient
):
    await claim(other_client, ["h"], worker_id="theirs")
    assert worker_rows(await dash.get("/workers")) == {}


async def test_push_targets_show_counts_success_rate_and_latency(
    dash: Dashboard, client: httpx.AsyncClient, runtime: Runtime, endpoint: Endpoint
):
    endpoint.route("/ok", 200)
    endpoint.route("/down", 503)
    for path in ("/ok", "/ok", "/ok", "/down"):
        await create_job(
            client,
            name="hook",
            max_retries=0,
            delivery={"type": "push", "http": {"url": endpoint.url(path)}},
        )
    await run_dispatcher(runtime)

    page = await dash.get("/workers")
    target = f"http://127.0.0.1:{endpoint.port}"
    row = re.search(rf'<tr data-target="{re.escape(target)}">(.*?)</tr>', page.text, re.S)
    assert row, page.text
    assert '<td class="num" data-count>4</td>' in row.group(1)
    assert "75%" in row.group(1)
    assert re.search(r"data-p50>\d+ ms<", row.group(1))
    assert "From 4 push requests" in page.text
