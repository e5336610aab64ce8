"""The seed 003 and seed 004 compatibility routes (docs/compatibility.md): same service, same
rules, same error body, same authentication as /v1."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chronos.server.app import create_app
from chronos.server.runtime import Runtime

WEATHER = {
    "name": "Daily Weather Report",
    "schedule": "0 8 * * *",
    "type": "WEBHOOK",
    "payload": {
        "url": "https://api.openweathermap.org/data/2.5/weather",
        "method": "GET",
        "params": {"q": "London", "appid": "your-api-key"},
    },
}


async def test_seed_003_job_is_a_push_schedule_with_params_in_the_query(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/api/jobs", json=WEATHER)
    assert created.status_code == 201, created.text
    job = created.json()
    schedule = (await client.get(f"/v1/schedules/{job['id']}")).json()
    assert schedule["cron"] == "0 8 * * *"
    assert schedule["delivery"]["http"]["url"] == (
        "https://api.openweathermap.org/data/2.5/weather?q=London&appid=your-api-key"
    )
    assert schedule["delivery"]["http"]["method"] == "GET"
    assert job["payload"]["params"] == WEATHER["payload"]["params"]
    assert job["executions"] == []

    body = {"type": "WEBHOOK", "payload": {"url": "https://x.test/a", "body": {"action": "go"}}}
    changed = await client.put(f"/api/jobs/{job['id']}", json=body)
    assert changed.status_code == 200, changed.text
    http = (await client.get(f"/v1/schedules/{job['id']}")).json()["delivery"]["http"]
    assert http["body"] == '{"action":"go"}'
    assert http["headers"] == {"Content-Type": "application/json"}
    assert changed.json()["payload"]["body"] == {"action": "go"}

    run = await client.post(f"/api/jobs/{job['id']}/run")
    assert run.status_code == 201 and run.json()["trigger"] == "manual"
    listing = (await client.get("/api/jobs")).json()["data"]
    assert [e["id"] for e in listing[0]["executions"]] == [run.json()["id"]]

    assert (await client.delete(f"/api/jobs/{job['id']}")).status_code == 204
    missing = await client.get(f"/api/jobs/{job['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_seed_003_errors_are_the_v1_error_body(client: httpx.AsyncClient) -> None:
    email = {**WEATHER, "type": "EMAIL"}
    refused = await client.post("/api/jobs", json=email)
    assert refused.status_code == 422 and "WEBHOOK" in refused.json()["error"]["message"]
    bad_cron = await client.post("/api/jobs", json={**WEATHER, "schedule": "99 * * * *"})
    v1 = await client.post(
        "/v1/schedules",
        json={"name": "x", "cron": "99 * * * *", "webhook": {"url": "https://x.test"}},
    )
    assert bad_cron.status_code == v1.status_code
    assert bad_cron.json()["error"]["code"] == v1.json()["error"]["code"]


async def test_seed_004_model_round_trips_with_versions_and_rollback(
    client: httpx.AsyncClient,
) -> None:
    model = {
        "name": "daily-backup",
        "schedule": "0 2 * * *",
        "timezone": "America/New_York",
        "webhook": {"url": "https://api.example.com/backup", "method": "POST", "body": "{}"},
        "retry_policy": {"max_attempts": 3, "initial_interval": "1s", "multiplier": 2.0},
        "timeout": "30m",
        "concurrency": "forbid",
        "tags": {"team": "platform"},
        "enabled": True,
    }
    created = await client.post("/api/v1/jobs", json=model)
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["timeout"] == "30m" and job["next_run"] == "2026-03-02T07:00:00Z"
    again = await client.put("/api/v1/jobs/daily-backup", json={**job, "tags": {"team": "x"}})
    assert again.status_code == 200 and again.json()["version"] == 2
    assert (await client.get("/api/v1/jobs?tag.team=x")).json()["data"][0]["version"] == 2
    assert (await client.get("/api/v1/jobs?tag.team=platform")).json()["data"] == []
    assert (await client.get("/api/v1/jobs/daily-backup/versions/1")).json()["job"]["tags"] == {
        "team": "platform"
    }
    back = await client.post("/api/v1/jobs/daily-backup/rollback/1")
    assert back.json()["tags"] == {"team": "platform"} and back.json()["version"] == 3
    await client.post("/v1/schedules/daily-backup/pause")
    assert (await client.get("/api/v1/jobs/daily-backup")).json()["state"] == "paused"
    assert (await client.delete("/api/v1/jobs/daily-backup")).status_code == 204
    missing = await client.get("/api/v1/jobs/daily-backup/versions")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/jobs"),
        ("POST", "/api/jobs"),
        ("GET", "/api/v1/jobs"),
        ("POST", "/api/v1/jobs"),
    ],
)
async def test_compat_routes_need_a_key_outside_dev_mode(
    runtime: Runtime, method: str, path: str
) -> None:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://chronos.test") as anonymous:
        answer = await anonymous.request(method, path, json=WEATHER)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


async def test_openapi_tags_the_compat_routes(client: httpx.AsyncClient) -> None:
    spec: dict[str, Any] = (await client.get("/openapi.json")).json()
    tags = {
        path: {tag for op in item.values() for tag in op.get("tags", [])}
        for path, item in spec["paths"].items()
    }
    assert tags["/api/jobs/{job_id}/run"] == {"compat: seed 003"}
    assert tags["/api/v1/jobs/{name}/rollback/{version}"] == {"compat: seed 004"}


async def test_an_interval_reads_back_as_the_every_text_it_was_given(
    client: httpx.AsyncClient,
) -> None:
    body = {"name": "often", "schedule": "@every 90m", "webhook": {"url": "https://x.test"}}
    assert (await client.post("/api/v1/jobs", json=body)).json()["schedule"] == "@every 90m"
    seed003 = {"name": "weekly", "schedule": "@every 1w", "type": "WEBHOOK"}
    created = await client.post("/api/jobs", json={**seed003, "payload": {"url": "https://x"}})
    assert created.status_code == 201, created.text
    assert created.json()["schedule"] == "@every 7d"
