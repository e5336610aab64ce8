"""GET /v1/jobs by creation time (an id range: ids sort by creation time) and by trigger."""

from __future__ import annotations

import pytest

from chronos.server import ids
from chronos.server.clock import FakeClock
from tests.helpers import create_job, create_schedule, list_jobs, trigger_schedule


@pytest.fixture
def ids_follow_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    """Job ids carry the test clock's time (in production, the wall clock's: the same)."""

    def made_at_clock(prefix: str) -> str:
        return ids.new_id(prefix, at_ms=int(clock.now().timestamp() * 1000))

    monkeypatch.setattr("chronos.server.domain.jobs.new_id", made_at_clock)


async def test_created_from_and_to_select_a_half_open_range(client, clock, ids_follow_clock):
    early = await create_job(client, handler="h")  # 12:00:00 UTC
    clock.advance(minutes=30)
    middle = await create_job(client, handler="h")  # 12:30:00
    clock.advance(minutes=30)
    late = await create_job(client, handler="h")  # 13:00:00

    def ids_of(jobs):
        return [job["id"] for job in jobs]

    window = {"created_from": "2026-03-01T12:30:00Z", "created_to": "2026-03-01T13:00:00Z"}
    assert ids_of(await list_jobs(client, **window)) == [middle["id"]]
    since = await list_jobs(client, created_from="2026-03-01T12:30:00Z")
    assert ids_of(since) == [late["id"], middle["id"]]
    before = await list_jobs(client, created_to="2026-03-01T12:30:00Z")
    assert ids_of(before) == [early["id"]]
    # An offset is honoured; no offset means UTC.
    paris = await list_jobs(client, created_from="2026-03-01T14:00:00+01:00")
    assert ids_of(paris) == [late["id"]]
    naive = await list_jobs(client, created_from="2026-03-01T13:00")
    assert ids_of(naive) == [late["id"]]


async def test_time_range_pages_with_a_cursor(client, clock, ids_follow_clock):
    made = []
    for _ in range(5):
        made.append((await create_job(client, handler="h"))["id"])
        clock.advance(seconds=1)
    params = {"created_from": "2026-03-01T12:00:01Z", "created_to": "2026-03-01T12:00:04Z"}
    first = (await client.get("/v1/jobs", params={**params, "limit": 2})).json()
    assert [j["id"] for j in first["data"]] == [made[3], made[2]]
    rest = await client.get(
        "/v1/jobs", params={**params, "limit": 2, "cursor": first["next_cursor"]}
    )
    assert [j["id"] for j in rest.json()["data"]] == [made[1]]
    assert rest.json()["next_cursor"] is None


async def test_filter_by_trigger(client):
    one_off = await create_job(client, handler="h")
    schedule = await create_schedule(client, name="nightly", cron="0 2 * * *", handler="h")
    manual = await trigger_schedule(client, schedule["id"])
    assert [j["id"] for j in await list_jobs(client, trigger="manual")] == [manual["id"]]
    assert [j["id"] for j in await list_jobs(client, trigger="api")] == [one_off["id"]]
    assert await list_jobs(client, trigger="schedule") == []
    assert await list_jobs(client, trigger="manual", handler="other") == []


@pytest.mark.parametrize(
    "params",
    [
        {"created_from": "yesterday"},
        {"created_to": "2026-02-30T00:00:00Z"},
        {"created_from": "1969-12-31T23:59:59Z"},
        {"created_from": "2026-03-01T13:00:00Z", "created_to": "2026-03-01T12:00:00Z"},
    ],
)
async def test_unreadable_times_are_a_400(client, params):
    response = await client.get("/v1/jobs", params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_filter"
    assert next(iter(params)) in error["message"] or "before" in error["message"]


async def test_an_unknown_trigger_is_a_422(client):
    response = await client.get("/v1/jobs", params={"trigger": "cron"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
