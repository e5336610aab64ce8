"""Replays of the attacker review's smaller findings (issue 11): input that used to answer
500 or 503, or was accepted though it could never work. Each now gets a clear 4xx and changes
nothing."""

from __future__ import annotations

from typing import Any

import pytest

from chronos.server.app import create_app
from tests.helpers import create_schedule

SCHEDULE = {"name": "s", "handler": "h", "cron": "0 * * * *"}


async def assert_refused(response: Any, status: int = 422, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("timezone", ["America", "Europe/", "x" * 300, "localtime", "../etc"])
async def test_timezones_that_are_not_zones_are_a_422_not_a_503(client, timezone):
    response = await client.post("/v1/schedules", json={**SCHEDULE, "timezone": timezone})
    await assert_refused(response, 422, "invalid_schedule")
    assert (await client.get("/v1/schedules")).json()["data"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scheduled_for", "0001-01-01T00:00:00Z"),
        ("scheduled_for", "9999-12-31T23:59:59Z"),
        ("scheduled_for", "0001-01-01T00:00:00+14:00"),
    ],
)
async def test_dates_at_the_edges_of_time_are_refused_for_jobs(client, field, value):
    await assert_refused(await client.post("/v1/jobs", json={"handler": "h", field: value}))
    assert (await client.get("/v1/jobs")).json()["data"] == []


@pytest.mark.parametrize(
    "window",
    [
        {"start_at": "0001-01-01T00:00:00Z"},
        {"end_at": "9999-12-31T23:59:59Z"},
        {"start_at": "9999-12-31T00:00:00-12:00"},
    ],
)
async def test_dates_at_the_edges_of_time_are_refused_for_schedules(client, window):
    await assert_refused(await client.post("/v1/schedules", json={**SCHEDULE, **window}))


async def test_upcoming_of_a_huge_interval_stops_at_the_end_of_time(client):
    schedule = await create_schedule(client, name="rare", handler="h", interval="36500d")
    response = await client.get(f"/v1/schedules/{schedule['id']}/upcoming?count=1000")
    assert response.status_code == 200
    times = response.json()["data"]
    assert 0 < len(times) < 1000
    assert times == sorted(times)


@pytest.mark.parametrize("odd", ["\u0665s", "0.0000001s", 0.5, "500ms"])
async def test_odd_timeouts_are_refused(client, odd):
    await assert_refused(await client.post("/v1/jobs", json={"handler": "h", "timeout": odd}))


async def test_a_one_second_timeout_is_the_shortest_accepted(client):
    response = await client.post("/v1/jobs", json={"handler": "h", "timeout": "1s"})
    assert response.status_code == 201
    assert response.json()["timeout"] == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/schedules", {**SCHEDULE, "name": "   "}),
        ("/v1/schedules", {**SCHEDULE, "handler": "\t"}),
        ("/v1/jobs", {"handler": " "}),
        ("/v1/jobs", {"handler": "h", "name": "  "}),
    ],
)
async def test_blank_names_and_handlers_are_refused(client, path, body):
    await assert_refused(await client.post(path, json=body), 422, "validation_error")


async def test_a_name_that_looks_like_an_id_is_refused_so_put_cannot_shadow_a_schedule(client):
    schedule = await create_schedule(client, **SCHEDULE)
    response = await client.put(f"/v1/schedules/{schedule['id']}", json={"handler": "x"})
    await assert_refused(response, 422, "validation_error")
    listing = (await client.get("/v1/schedules")).json()["data"]
    assert [(s["id"], s["handler"]) for s in listing] == [(schedule["id"], "h")]
    renamed = await client.patch(
        f"/v1/schedules/{schedule['id']}", json={"name": "job_" + "0" * 26}
    )
    await assert_refused(renamed, 422, "validation_error")


async def test_too_many_tag_filters_are_a_400_not_a_503(client):
    query = "&".join(f"tag.k{i}=v" for i in range(21))
    for path in ("/v1/jobs", "/v1/schedules"):
        await assert_refused(await client.get(f"{path}?{query}"), 400, "invalid_filter")
    allowed = "&".join(f"tag.k{i}=v" for i in range(20))
    assert (await client.get(f"/v1/jobs?{allowed}")).status_code == 200


async def test_a_500_tells_the_client_the_connection_closes(runtime, account, monkeypatch):
    import httpx

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(runtime.jobs, "find", broken)
    transport = httpx.ASGITransport(app=create_app(runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://chronos.test",
        headers={"Authorization": f"Bearer {account['key']}"},
    ) as http:
        response = await http.get("/v1/jobs")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.headers["connection"] == "close"
    assert "a bug" not in response.text


async def test_ready_answers_503_while_the_node_shuts_down(client, runtime):
    assert (await client.get("/ready")).status_code == 200
    runtime.notifier.shutting_down.set()
    response = await client.get("/ready")
    assert (response.status_code, response.json()["error"]["code"]) == (503, "not_ready")
    assert "shutting down" in response.json()["error"]["message"]
