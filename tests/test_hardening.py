"""Replays of the attacker review's smaller findings (issue 11): input that used to answer
500 or 503, or was accepted though it could never work. Each now gets a clear 4xx and changes
nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa

from chronos.server.serve import quiet_chatty_loggers
from tests.helpers import (
    api_client,
    claim_one,
    create_api_key,
    create_job,
    create_schedule,
    report,
    run_admission,
    run_dispatcher,
    run_lease_rescuer,
    run_scheduler,
)

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
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(runtime.jobs, "find", broken)
    async with api_client(runtime, account["key"], raise_app_exceptions=False) as http:
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


async def test_state_changes_are_logged_one_line_each_with_ids(client, runtime, clock, caplog):
    caplog.set_level(logging.INFO, logger="chronos.events")
    first = await create_job(client, handler="h", max_retries=1)
    job = await claim_one(client, ["h"])
    await report(client, job["execution_id"], "failed", error={"type": "boom", "message": "x"})
    clock.advance(seconds=5)
    await run_admission(runtime)
    again = await claim_one(client, ["h"])
    clock.advance(seconds=60)
    await run_lease_rescuer(runtime)
    lines = [r.getMessage() for r in caplog.records if r.name == "chronos.events"]
    assert lines[0].startswith(f"claimed {first['id']} execution={job['execution_id']} attempt=1")
    assert lines[1].startswith(f"finished {first['id']} execution={job['execution_id']}")
    assert "failed error=boom: x; retry at " in lines[1]
    assert lines[2].startswith(f"claimed {first['id']} execution={again['execution_id']}")
    assert lines[3].startswith(f"finished {first['id']} execution={again['execution_id']}")
    assert "timeout error=timeout:" in lines[3] and lines[3].endswith("the job failed")


async def test_a_slot_skipped_by_the_concurrency_policy_shows_on_its_schedule(
    client, runtime, clock, caplog
):
    caplog.set_level(logging.INFO, logger="chronos.events")
    schedule = await create_schedule(client, name="busy", handler="nobody", cron="* * * * *")
    clock.advance(seconds=60)
    await run_scheduler(runtime)
    clock.advance(seconds=60)
    await run_scheduler(runtime)  # the first job is still ready: nobody runs "nobody"
    seen = (await client.get(f"/v1/schedules/{schedule['id']}")).json()
    assert seen["last_status"] == "skipped"
    lines = [r.getMessage() for r in caplog.records if r.name == "chronos.events"]
    assert [line.split()[0] for line in lines] == ["fired", "skipped"]
    assert f"schedule={schedule['id']}" in lines[1]


async def test_no_key_secret_or_push_header_reaches_the_log(client, runtime, caplog, monkeypatch):
    """Everything Chronos logs, at DEBUG, while keys are made and used, secrets rotated, push
    jobs with credentials created, refused and failed, and a database error happens."""
    caplog.set_level(logging.DEBUG)
    quiet_chatty_loggers()  # as chronos serve does
    key = (await create_api_key(client, "secret-keeper"))["key"]
    await client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"})
    await client.get("/v1/jobs", headers={"Authorization": "Bearer chrns_wrong_guess"})
    secrets = (await client.post("/v1/signing-secrets/rotate")).json()["data"]
    header_value = "Bearer push-credential-4f8a"
    push = {
        "handler": None,
        "delivery": {
            "type": "push",
            "http": {"url": "http://127.0.0.1:9/hook", "headers": {"Authorization": header_value}},
        },
    }
    await create_job(client, **push)
    await run_dispatcher(runtime, concurrency=2)

    async def failing_find(*_: object, **__: object) -> object:
        async with runtime.db.transaction() as conn:  # an SQL error carrying the header value
            await conn.execute(
                sa.text("SELECT * FROM no_such_table WHERE x = :v"), {"v": header_value}
            )
        return None

    monkeypatch.setattr(runtime.jobs, "find", failing_find)
    assert (await client.get("/v1/jobs")).status_code in (500, 503)
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in [key, "chrns_wrong_guess", header_value, *(s["secret"] for s in secrets)]:
        assert secret not in logged, f"{secret[:12]}… reached the log"
