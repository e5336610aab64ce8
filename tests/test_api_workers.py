"""GET /v1/workers: pull workers seen by their claims, their jobs in flight, and push targets'
success rate and latency over the last hour."""

from __future__ import annotations

from typing import Any

import pytest

from chronos.server.domain.states import KeyScope
from chronos.server.services.workers import percentile, target_of
from chronos.server.store import accounts as account_store
from tests.helpers import (
    bearer,
    claim,
    claim_one,
    create_job,
    expect,
    report,
    run_dispatcher,
)


async def workers_of(client) -> dict[str, Any]:
    return expect(await client.get("/v1/workers"), 200)


async def test_no_workers_and_no_pushes(client):
    view = await workers_of(client)
    assert view["workers"] == [] and view["push_targets"] == []
    assert view["push_sampled"] == 0


async def test_a_claim_with_a_worker_id_records_the_worker(client, clock):
    await claim(client, ["send-email", "report"], worker_id="host-a:1")
    [worker] = (await workers_of(client))["workers"]
    assert worker["worker_id"] == "host-a:1"
    assert worker["handlers"] == ["report", "send-email"]
    assert worker["state"] == "polling"
    assert worker["first_seen_at"] == worker["last_seen_at"] == "2026-03-01T12:00:00Z"
    assert worker["in_flight"] == 0


async def test_a_claim_without_a_worker_id_records_nobody(client):
    await claim(client, ["h"], worker_id=None)
    assert (await workers_of(client))["workers"] == []


async def test_jobs_in_flight_are_counted_per_worker(client):
    for _ in range(3):
        await create_job(client, handler="h")
    await claim(client, ["h"], worker_id="busy", limit=2)
    one = await claim_one(client, ["h"], worker_id="idle")
    await report(client, one["execution_id"])
    await claim(client, ["h"], worker_id="never-got-one")
    found = {w["worker_id"]: w["in_flight"] for w in (await workers_of(client))["workers"]}
    assert found == {"busy": 2, "idle": 0, "never-got-one": 0}


async def test_a_quiet_worker_shows_as_gone_then_drops_off(client, runtime, clock):
    await claim(client, ["h"], worker_id="w1")
    clock.advance(seconds=61)
    [worker] = (await workers_of(client))["workers"]
    assert worker["state"] == "gone"
    clock.advance(minutes=9)
    assert (await workers_of(client))["workers"] == []


async def test_workers_are_most_recent_first_and_limited(client, runtime, clock):
    for name in ("a", "b", "c"):
        await claim(client, ["h"], worker_id=name)
        clock.advance(seconds=1)
    view = expect(await client.get("/v1/workers", params={"limit": 2}), 200)
    assert [w["worker_id"] for w in view["workers"]] == ["c", "b"]
    assert view["more_workers"] is True
    assert (await client.get("/v1/workers", params={"limit": 0})).status_code == 422


async def test_another_accounts_workers_are_invisible(client, other_client):
    await create_job(other_client, handler="h")
    await claim(other_client, ["h"], worker_id="theirs")
    view = await workers_of(client)
    assert view["workers"] == []
    assert [w["worker_id"] for w in (await workers_of(other_client))["workers"]] == ["theirs"]


async def test_push_targets_group_by_host_with_success_rate_and_latency(
    client, other_client, runtime, endpoint
):
    endpoint.route("/ok", 200)
    endpoint.route("/bad", 500)
    for path in ("/ok", "/ok", "/ok", "/bad"):
        await create_job(
            client,
            name="hook",
            max_retries=0,
            delivery={"type": "push", "http": {"url": endpoint.url(path) + "?token=x"}},
        )
    await create_job(
        other_client, name="theirs", delivery={"type": "push", "http": {"url": endpoint.url("/ok")}}
    )
    await run_dispatcher(runtime)

    view = await workers_of(client)
    [target] = view["push_targets"]
    assert target["target"] == f"http://127.0.0.1:{endpoint.port}"
    assert (target["count"], target["completed"], target["failed"]) == (4, 3, 1)
    assert target["success_rate"] == 0.75
    assert isinstance(target["p50_ms"], int) and target["p50_ms"] <= target["p95_ms"]
    assert view["push_sampled"] == 4 and view["push_capped"] is False
    assert view["workers"] == []  # the dispatcher is not a pull worker


async def test_a_worker_key_may_not_read_workers(client, runtime, account, clock):
    async with runtime.db.transaction() as conn:
        _, key = await account_store.api_key_create(
            conn, account["id"], "fleet", clock.now(), scope=KeyScope.WORKER
        )
    response = await client.get("/v1/workers", headers=bearer(key))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://API.example.com/hooks?x=1", "https://api.example.com:443"),
        ("http://example.com:8080/a", "http://example.com:8080"),
        ("http://user:secret@example.com/a", "http://example.com:80"),
        ("http://[::1]:9000/x", "http://[::1]:9000"),
        ("http://example.com:99999/", "(invalid URL)"),
        ("not a url", "(invalid URL)"),
    ],
)
def test_a_target_is_scheme_host_and_port(url, target):
    assert target_of(url) == target


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile([7], 0.95) == 7
    assert percentile([], 0.5) is None


async def test_a_worker_busy_with_a_long_job_stays_alive_by_its_heartbeats(client, clock):
    await create_job(client, handler="slow", timeout="10m")
    job = await claim_one(client, ["slow", "fast"], worker_id="host-b:7")
    clock.advance(seconds=90)  # no claim for 90 s: only heartbeats
    beat = await client.post(f"/v1/worker/executions/{job['execution_id']}/heartbeat")
    assert beat.status_code == 200
    [worker] = (await workers_of(client))["workers"]
    assert worker["state"] == "polling"
    assert worker["last_seen_at"] == "2026-03-01T12:01:30Z"
    assert worker["handlers"] == ["fast", "slow"]  # a heartbeat keeps the claimed handlers


async def test_a_polling_worker_is_written_at_most_every_few_seconds(client, clock, runtime):
    await claim(client, ["h"], worker_id="w-often")
    clock.advance(seconds=2)
    await claim(client, ["h"], worker_id="w-often")
    [worker] = (await workers_of(client))["workers"]
    assert worker["last_seen_at"] == "2026-03-01T12:00:00Z"  # within 5 s: not written again
    clock.advance(seconds=4)
    await claim(client, ["h"], worker_id="w-often")
    [worker] = (await workers_of(client))["workers"]
    assert worker["last_seen_at"] == "2026-03-01T12:00:06Z"
