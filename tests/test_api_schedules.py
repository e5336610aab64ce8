"""Schedules through the API: create, read, list, upsert, patch, states, trigger, upcoming."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from tests.helpers import (
    at,
    claim,
    claim_one,
    create_schedule,
    expect,
    get_job,
    get_schedule,
    list_jobs,
    report,
    run_scheduler,
    trigger_schedule,
)

HOURLY = {
    "name": "Hourly tenant sync",
    "handler": "sync-tenant",
    "interval": {"value": 1, "unit": "hour"},
    "payload": {"full": False},
}


async def schedule_jobs(client, schedule_id: str) -> list[dict[str, Any]]:
    """The schedule's jobs, oldest slot first."""
    jobs = await list_jobs(client, schedule_id=schedule_id, limit=500)
    return sorted(jobs, key=lambda j: (j["scheduled_for"], j["id"]))


async def fired_times(client, name: str) -> list[str]:
    """The slots the schedule called ``name`` has fired, as the API writes them, oldest first."""
    schedule = await get_schedule(client, name)
    return [j["scheduled_for"] for j in await schedule_jobs(client, schedule["id"])]


async def test_seed_000_interval_schedule_is_created_with_defaults(client):
    schedule = await create_schedule(client, **HOURLY)
    assert schedule["id"].startswith("sch_")
    assert schedule["interval"] == {"value": 1, "unit": "hour"}
    assert (schedule["state"], schedule["version"]) == ("enabled", 1)
    assert (schedule["timeout"], schedule["max_retries"], schedule["concurrency"]) == (
        30,
        3,
        "forbid",
    )
    assert schedule["next_run_at"] == "2026-03-01T13:00:00Z"
    assert schedule["last_run_at"] is None


async def test_cron_runs_in_its_timezone(client):
    schedule = await create_schedule(
        client, name="backup", handler="b", cron="0 2 * * *", timezone="America/New_York"
    )
    assert schedule["next_run_at"] == "2026-03-02T07:00:00Z"


async def test_plural_units_and_every_alias(client):
    hours = await create_schedule(
        client, name="a", handler="h", interval={"value": 2, "unit": "hours"}
    )
    every = await create_schedule(client, name="b", handler="h", schedule="@every 90s")
    assert hours["interval"] == {"value": 2, "unit": "hour"}
    assert every["interval"] == {"value": 90, "unit": "second"}
    assert every["next_run_at"] == "2026-03-01T12:01:30Z"


async def test_get_by_id_and_by_name(client):
    schedule = await create_schedule(client, **HOURLY)
    by_id = await get_schedule(client, schedule["id"])
    by_name = await get_schedule(client, "Hourly tenant sync")
    assert by_id == by_name == schedule


async def test_list_filters_by_state_handler_and_tags(client):
    await create_schedule(
        client, name="a", handler="h1", cron="* * * * *", tags={"team": "backend", "env": "prod"}
    )
    await create_schedule(
        client, name="b", handler="h1", cron="* * * * *", tags={"team": "backend", "env": "dev"}
    )
    await create_schedule(client, name="c", handler="h2", cron="* * * * *", enabled=False)

    async def names(**params: str) -> list[str]:
        data = (await client.get("/v1/schedules", params=params)).json()["data"]
        return sorted(s["name"] for s in data)

    assert await names() == ["a", "b", "c"]
    assert await names(handler="h1") == ["a", "b"]
    assert await names(state="disabled") == ["c"]
    assert await names(**{"tag.team": "backend"}) == ["a", "b"]
    assert await names(**{"tag.team": "backend", "tag.env": "prod"}) == ["a"]
    assert await names(**{"tag.team": "frontend"}) == []


async def test_cursor_pagination_returns_every_schedule_once(client):
    for index in range(5):
        await create_schedule(client, name=f"s{index}", handler="h", cron="* * * * *")
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/schedules", params=params)).json()
        seen += [s["name"] for s in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"s{i}" for i in range(5)]
    assert pages == 3


async def test_put_upsert_creates_then_updates_and_ignores_unchanged(client):
    body = {"handler": "h", "cron": "0 * * * *"}
    first = await client.put("/v1/schedules/declared", json=body)
    assert first.status_code == 201
    same = await client.put("/v1/schedules/declared", json=body)
    assert same.status_code == 200
    assert same.json()["version"] == 1
    changed = await client.put("/v1/schedules/declared", json={**body, "cron": "30 * * * *"})
    assert changed.status_code == 200
    assert changed.json()["version"] == 2
    assert changed.json()["next_run_at"] == "2026-03-01T12:30:00Z"


async def test_patch_makes_a_new_version_and_recomputes_next_run(client):
    schedule = await create_schedule(client, **HOURLY)
    patched = await client.patch(
        f"/v1/schedules/{schedule['id']}", json={"cron": "*/5 * * * *", "description": "faster"}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["version"], body["cron"], body["interval"]) == (2, "*/5 * * * *", None)
    assert body["description"] == "faster"
    assert body["next_run_at"] == "2026-03-01T12:05:00Z"
    assert body["payload"] == {"full": False}


async def test_rename_to_a_taken_name_is_a_conflict(client):
    await create_schedule(client, name="a", handler="h", cron="* * * * *")
    await create_schedule(client, name="b", handler="h", cron="* * * * *")
    response = await client.patch("/v1/schedules/b", json={"name": "a"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "name_conflict"


async def test_delete(client):
    schedule = await create_schedule(client, **HOURLY)
    assert (await client.delete(f"/v1/schedules/{schedule['id']}")).status_code == 204
    assert (await client.get(f"/v1/schedules/{schedule['id']}")).status_code == 404


async def test_pause_resume_disable_enable(client, runtime, clock):
    schedule = await create_schedule(
        client, name="tick", handler="h", interval={"value": 1, "unit": "second"}
    )
    paused = (await client.post("/v1/schedules/tick/pause")).json()
    assert (paused["state"], paused["next_run_at"]) == ("paused", None)
    clock.advance(seconds=10)
    assert (await run_scheduler(runtime)).fired == 0
    resumed = (await client.post("/v1/schedules/tick/resume")).json()
    assert resumed["state"] == "enabled"
    assert resumed["next_run_at"] == "2026-03-01T12:00:11Z"
    disabled = (await client.post(f"/v1/schedules/{schedule['id']}/disable")).json()
    assert (disabled["state"], disabled["enabled"]) == ("disabled", False)
    enabled = (await client.post(f"/v1/schedules/{schedule['id']}/enable")).json()
    assert (enabled["state"], enabled["enabled"]) == ("enabled", True)


async def test_trigger_runs_now_whatever_the_state(client):
    await create_schedule(client, name="tick", handler="h", cron="0 0 1 1 *")
    await client.post("/v1/schedules/tick/pause")
    job = await client.post("/v1/schedules/tick/trigger")
    assert job.status_code == 201
    assert (job.json()["trigger"], job.json()["status"]) == ("manual", "ready")
    assert [j["id"] for j in await claim(client)] == [job.json()["id"]]


async def test_upcoming_lists_the_next_fire_times(client):
    await create_schedule(client, name="q", handler="h", cron="*/15 * * * *")
    upcoming = (await client.get("/v1/schedules/q/upcoming", params={"count": 5})).json()
    assert upcoming["data"] == [
        "2026-03-01T12:15:00Z",
        "2026-03-01T12:30:00Z",
        "2026-03-01T12:45:00Z",
        "2026-03-01T13:00:00Z",
        "2026-03-01T13:15:00Z",
    ]


async def test_fired_jobs_update_last_run(client, runtime, clock):
    await create_schedule(client, name="tick", handler="h", interval={"value": 1, "unit": "second"})
    clock.advance(seconds=1)
    await run_scheduler(runtime)
    schedule = await get_schedule(client, "tick")
    assert schedule["last_run_at"] == "2026-03-01T12:00:01Z"
    assert schedule["next_run_at"] == "2026-03-01T12:00:02Z"


async def test_concurrent_put_of_a_new_name_creates_it_once(client):
    import asyncio

    body = {"handler": "h", "cron": "0 * * * *"}
    responses = await asyncio.gather(
        *(client.put("/v1/schedules/declared-everywhere", json=body) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    listing = (await client.get("/v1/schedules")).json()["data"]
    assert [(s["name"], s["version"]) for s in listing] == [("declared-everywhere", 1)]


async def test_every_configuration_change_is_a_version_and_rollback_restores_one(client):
    await create_schedule(client, name="v", handler="h", cron="0 * * * *")
    await client.patch("/v1/schedules/v", json={"cron": "30 * * * *"})
    await client.post("/v1/schedules/v/pause")  # a state change, not a configuration change
    await client.put("/v1/schedules/v", json={"handler": "h2", "cron": "30 * * * *"})
    versions = (await client.get("/v1/schedules/v/versions")).json()["data"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert [v["config"]["cron"] for v in versions] == ["30 * * * *", "30 * * * *", "0 * * * *"]
    one = (await client.get("/v1/schedules/v/versions/1")).json()
    assert (one["config"]["handler"], one["config"]["cron"]) == ("h", "0 * * * *")
    restored = (await client.post("/v1/schedules/v/rollback/1")).json()
    assert (restored["version"], restored["cron"], restored["handler"]) == (4, "0 * * * *", "h")
    assert restored["state"] == "paused"
    missing = await client.post("/v1/schedules/v/rollback/99")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "version_not_found"
    assert (await get_schedule(client, "v"))["version"] == 4


async def test_push_schedule_can_be_patched_and_rolled_back(client):
    await create_schedule(
        client,
        name="hook",
        cron="0 * * * *",
        webhook={"url": "http://127.0.0.1:9/x", "success_codes": [201, "2xx"]},
    )
    patched = await client.patch("/v1/schedules/hook", json={"description": "d"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["delivery"]["http"]["success_codes"] == ["201", "200-299"]
    assert (await client.post("/v1/schedules/hook/rollback/1")).json()["version"] == 3


async def test_success_rate_over_recent_jobs(client, runtime, clock):
    await create_schedule(
        client,
        name="rate",
        handler="h",
        interval={"value": 1, "unit": "second"},
        concurrency="allow",
        max_retries=0,
    )
    for outcome in ["completed", "completed", "completed", "failed"]:
        clock.advance(seconds=1)
        await run_scheduler(runtime)
        job = await claim_one(client)
        await report(client, job["execution_id"], status=outcome)
    schedule = await get_schedule(client, "rate")
    assert schedule["success_rate"] == 0.75
    assert schedule["last_status"] == "failed"
    listed = (await client.get("/v1/schedules")).json()["data"][0]
    assert listed["success_rate"] == 0.75


async def test_misfire_run_all_catches_up_inside_the_window(client, runtime, clock):
    await create_schedule(
        client,
        name="all",
        handler="h",
        interval={"value": 1, "unit": "minute"},
        misfire_policy="run_all",
        catchup_window="5m",
        concurrency="allow",
    )
    clock.advance(hours=1, seconds=30)  # down for an hour
    await run_scheduler(runtime)
    assert await fired_times(client, "all") == [
        f"2026-03-01T12:{minute:02d}:00Z" for minute in range(56, 60)
    ] + ["2026-03-01T13:00:00Z"]


async def test_misfire_skip_drops_late_slots(client, runtime, clock):
    await create_schedule(
        client,
        name="skip",
        handler="h",
        interval={"value": 1, "unit": "minute"},
        misfire_policy="skip",
    )
    clock.advance(minutes=10, seconds=30)
    await run_scheduler(runtime)
    assert await fired_times(client, "skip") == []
    clock.set(clock.now().replace(second=0) + timedelta(minutes=1, seconds=1))
    await run_scheduler(runtime)
    assert await fired_times(client, "skip") == ["2026-03-01T12:11:00Z"]


async def test_start_and_end_window_bound_the_fires(client, runtime, clock):
    schedule = await create_schedule(
        client,
        name="window",
        handler="h",
        concurrency="allow",
        interval={"value": 10, "unit": "second"},
        start_at="2026-03-01T12:00:05Z",
        end_at="2026-03-01T12:00:25Z",
    )
    assert schedule["next_run_at"] == "2026-03-01T12:00:05Z"
    for _ in range(6):
        clock.advance(seconds=10)
        await run_scheduler(runtime)
    assert await fired_times(client, "window") == [
        "2026-03-01T12:00:05Z",
        "2026-03-01T12:00:15Z",
        "2026-03-01T12:00:25Z",
    ]
    finished = await get_schedule(client, "window")
    assert finished["next_run_at"] is None
    assert (await client.get("/v1/schedules/window/upcoming")).json()["data"] == []


async def test_interval_slots_do_not_drift_when_the_scheduler_is_late(client, runtime, clock):
    await create_schedule(
        client,
        name="steady",
        handler="h",
        interval={"value": 1, "unit": "minute"},
        concurrency="allow",
    )
    for lateness in (0.9, 0.2, 0.7):
        clock.set(
            clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=lateness)
        )
        await run_scheduler(runtime)
    assert await fired_times(client, "steady") == [
        "2026-03-01T12:01:00Z",
        "2026-03-01T12:02:00Z",
        "2026-03-01T12:03:00Z",
    ]


async def test_seconds_field_cron_fires_every_ten_seconds(client, runtime, clock):
    await create_schedule(
        client, name="tens", handler="h", cron="*/10 * * * * *", concurrency="allow"
    )
    for _ in range(3):
        clock.advance(seconds=10)
        await run_scheduler(runtime)
    assert await fired_times(client, "tens") == [
        "2026-03-01T12:00:10Z",
        "2026-03-01T12:00:20Z",
        "2026-03-01T12:00:30Z",
    ]


async def test_spring_forward_daily_job_fires_once_after_the_gap(client, runtime, clock):
    clock.set(datetime(2026, 3, 7, 12, tzinfo=UTC))
    await create_schedule(
        client,
        name="dst",
        handler="h",
        cron="30 2 * * *",
        timezone="America/New_York",
        concurrency="allow",
    )
    upcoming = (await client.get("/v1/schedules/dst/upcoming", params={"count": 3})).json()
    assert upcoming["data"] == [
        "2026-03-08T07:00:00Z",
        "2026-03-09T06:30:00Z",
        "2026-03-10T06:30:00Z",
    ]


# --- Rules of the schedules API, and firing through the scheduler ------------------------------


async def test_created_schedule_carries_every_documented_field(client):
    schedule = await create_schedule(client, **HOURLY)
    for field in (
        "id",
        "state",
        "next_run_at",
        "last_run_at",
        "last_status",
        "version",
        "created_at",
        "updated_at",
    ):
        assert field in schedule, field
    assert (schedule["name"], schedule["handler"], schedule["payload"]) == (
        "Hourly tenant sync",
        "sync-tenant",
        {"full": False},
    )
    assert (schedule["cron"], schedule["timezone"], schedule["delivery"]) == (
        None,
        "UTC",
        {"type": "pull"},
    )
    assert (schedule["misfire_policy"], schedule["enabled"], schedule["tags"]) == (
        "run_once",
        True,
        {},
    )
    assert schedule["created_at"] == schedule["updated_at"] == "2026-03-01T12:00:00Z"
    assert schedule["last_status"] is None


async def test_plural_minute_and_day_units_are_accepted(client):
    minutes = await create_schedule(
        client, name="m", handler="h", interval={"value": 15, "unit": "minutes"}
    )
    days = await create_schedule(
        client, name="d", handler="h", interval={"value": 2, "unit": "days"}
    )
    assert minutes["interval"] == {"value": 15, "unit": "minute"}
    assert minutes["next_run_at"] == "2026-03-01T12:15:00Z"
    assert days["interval"] == {"value": 2, "unit": "day"}
    assert days["next_run_at"] == "2026-03-03T12:00:00Z"


async def test_cron_schedule_alias_is_a_cron(client):
    schedule = await create_schedule(client, name="alias", handler="h", schedule="0 2 * * *")
    assert (schedule["cron"], schedule["interval"]) == ("0 2 * * *", None)
    assert schedule["next_run_at"] == "2026-03-02T02:00:00Z"


async def test_cron_timezone_follows_daylight_saving_time(client, clock):
    clock.set(datetime(2026, 6, 1, 12, tzinfo=UTC))
    summer = await create_schedule(
        client, name="backup", handler="b", cron="0 2 * * *", timezone="America/New_York"
    )
    assert summer["next_run_at"] == "2026-06-02T06:00:00Z"


async def test_list_pagination_keeps_its_filter_on_every_page(client):
    for index in range(5):
        await create_schedule(client, name=f"keep{index}", handler="keep", cron="* * * * *")
        await create_schedule(client, name=f"drop{index}", handler="drop", cron="* * * * *")
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2, "handler": "keep", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/schedules", params=params)).json()
        assert len(page["data"]) <= 2
        seen += [s["name"] for s in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"keep{i}" for i in range(5)]
    assert len(seen) == len(set(seen))


async def test_list_returns_newest_first_and_a_full_last_page_has_no_cursor(client):
    for index in range(4):
        await create_schedule(client, name=f"s{index}", handler="h", cron="* * * * *")
    first = (await client.get("/v1/schedules", params={"limit": 2})).json()
    second = (
        await client.get("/v1/schedules", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    names = [s["name"] for s in first["data"] + second["data"]]
    assert sorted(names) == ["s0", "s1", "s2", "s3"]
    ids = [s["id"] for s in first["data"] + second["data"]]
    assert ids == sorted(ids, reverse=True)
    assert second["next_cursor"] is None


async def test_put_unchanged_body_keeps_version(client):
    body = {"handler": "sync-tenant", "interval": {"value": 1, "unit": "hours"}, "timeout": "30s"}
    assert (await client.put("/v1/schedules/declared", json=body)).status_code == 201
    for _ in range(3):
        again = await client.put("/v1/schedules/declared", json=body)
        assert (again.status_code, again.json()["version"]) == (200, 1)
    versions = (await client.get("/v1/schedules/declared/versions")).json()["data"]
    assert [v["version"] for v in versions] == [1]


async def test_put_of_a_schedule_as_it_was_read_is_unchanged(client):
    created = await create_schedule(
        client, **HOURLY, tags={"team": "core"}, timezone="Europe/Paris"
    )
    read = await get_schedule(client, created["id"])
    response = await client.put(f"/v1/schedules/{HOURLY['name']}", json=read)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1
    assert response.json()["updated_at"] == created["updated_at"]


async def test_put_keeps_a_paused_schedule_paused(client, clock):
    body = {"handler": "h", "cron": "0 * * * *"}
    await client.put("/v1/schedules/declared", json=body)
    await client.post("/v1/schedules/declared/pause")
    same = (await client.put("/v1/schedules/declared", json=body)).json()
    assert (same["state"], same["next_run_at"], same["version"]) == ("paused", None, 1)
    changed = (await client.put("/v1/schedules/declared", json={**body, "payload": 1})).json()
    assert (changed["state"], changed["next_run_at"], changed["version"]) == ("paused", None, 2)


async def test_patch_interval_recomputes_next_run_from_the_creation_anchor(client, clock):
    schedule = await create_schedule(client, **HOURLY)
    clock.advance(minutes=20)
    patched = await client.patch(
        f"/v1/schedules/{schedule['id']}", json={"interval": {"value": 15, "unit": "minute"}}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["version"], body["interval"]) == (2, {"value": 15, "unit": "minute"})
    assert body["next_run_at"] == "2026-03-01T12:30:00Z"
    assert body["updated_at"] == "2026-03-01T12:20:00Z"
    assert body["created_at"] == "2026-03-01T12:00:00Z"


async def test_patch_without_a_change_makes_no_version(client):
    schedule = await create_schedule(client, **HOURLY)
    same = await client.patch(f"/v1/schedules/{schedule['id']}", json={"handler": "sync-tenant"})
    assert (same.status_code, same.json()["version"]) == (200, 1)


async def test_patch_keeps_a_paused_schedule_paused(client):
    await create_schedule(client, name="p", handler="h", cron="0 * * * *")
    await client.post("/v1/schedules/p/pause")
    patched = (await client.patch("/v1/schedules/p", json={"cron": "*/5 * * * *"})).json()
    assert (patched["state"], patched["next_run_at"], patched["version"]) == ("paused", None, 2)
    resumed = (await client.post("/v1/schedules/p/resume")).json()
    assert resumed["next_run_at"] == "2026-03-01T12:05:00Z"


async def test_delete_is_204_then_404_and_frees_the_name(client):
    schedule = await create_schedule(client, **HOURLY)
    assert (await client.delete("/v1/schedules/Hourly tenant sync")).status_code == 204
    assert (await client.get("/v1/schedules/Hourly tenant sync")).status_code == 404
    again = await client.delete(f"/v1/schedules/{schedule['id']}")
    assert (again.status_code, again.json()["error"]["code"]) == (404, "not_found")
    assert (await client.get("/v1/schedules")).json()["data"] == []
    recreated = await create_schedule(client, **HOURLY)
    assert recreated["id"] != schedule["id"]


async def test_deleted_schedule_fires_nothing_and_its_jobs_remain(client, runtime, clock):
    schedule = await create_schedule(
        client, name="tick", handler="h", interval={"value": 1, "unit": "second"}
    )
    clock.advance(seconds=1)
    assert (await run_scheduler(runtime)).fired == 1
    await client.delete("/v1/schedules/tick")
    clock.advance(seconds=5)
    assert (await run_scheduler(runtime)).fired == 0
    [job] = await schedule_jobs(client, schedule["id"])
    assert (await client.get(f"/v1/jobs/{job['id']}")).status_code == 200


async def test_paused_schedule_fires_nothing_and_resume_does_not_catch_up(client, runtime, clock):
    await create_schedule(client, name="tick", handler="h", interval={"value": 1, "unit": "minute"})
    paused = (await client.post("/v1/schedules/tick/pause")).json()
    assert (paused["state"], paused["next_run_at"]) == ("paused", None)
    clock.advance(hours=1, seconds=30)
    assert (await run_scheduler(runtime)).fired == 0
    resumed = (await client.post("/v1/schedules/tick/resume")).json()
    assert (resumed["state"], resumed["next_run_at"]) == ("enabled", "2026-03-01T13:01:00Z")
    assert (await run_scheduler(runtime)).fired == 0
    clock.advance(seconds=30)
    assert (await run_scheduler(runtime)).fired == 1
    assert [j["scheduled_for"] for j in await schedule_jobs(client, resumed["id"])] == [
        "2026-03-01T13:01:00Z"
    ]


async def test_disabled_schedule_fires_nothing_until_enabled(client, runtime, clock):
    await create_schedule(client, name="tick", handler="h", interval={"value": 1, "unit": "second"})
    disabled = (await client.post("/v1/schedules/tick/disable")).json()
    assert (disabled["state"], disabled["next_run_at"], disabled["enabled"]) == (
        "disabled",
        None,
        False,
    )
    assert (await client.get("/v1/schedules/tick/upcoming")).json()["data"] == []
    clock.advance(seconds=10)
    assert (await run_scheduler(runtime)).fired == 0
    enabled = (await client.post("/v1/schedules/tick/enable")).json()
    assert (enabled["state"], enabled["next_run_at"]) == ("enabled", "2026-03-01T12:00:11Z")
    clock.advance(seconds=1)
    assert (await run_scheduler(runtime)).fired == 1


async def test_resume_of_a_paused_disabled_schedule_leaves_it_disabled(client):
    await create_schedule(client, name="off", handler="h", cron="0 * * * *", enabled=False)
    assert (await client.post("/v1/schedules/off/pause")).json()["state"] == "paused"
    resumed = (await client.post("/v1/schedules/off/resume")).json()
    assert (resumed["state"], resumed["next_run_at"]) == ("disabled", None)


async def test_pause_twice_is_harmless(client):
    await create_schedule(client, name="p", handler="h", cron="0 * * * *")
    first = (await client.post("/v1/schedules/p/pause")).json()
    second = await client.post("/v1/schedules/p/pause")
    assert second.status_code == 200
    assert second.json() == first


async def test_trigger_makes_a_manual_job_from_the_schedule(client, runtime, clock):
    schedule = await create_schedule(
        client, **HOURLY, tags={"team": "core"}, timeout=45, max_retries=1
    )
    clock.advance(minutes=10)
    response = await client.post("/v1/schedules/Hourly tenant sync/trigger")
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["id"].startswith("job_")
    assert (job["trigger"], job["status"], job["schedule_id"]) == (
        "manual",
        "ready",
        schedule["id"],
    )
    assert (job["handler"], job["payload"], job["tags"]) == (
        "sync-tenant",
        {"full": False},
        {"team": "core"},
    )
    assert (job["timeout"], job["max_retries"]) == (45, 1)
    assert job["run_at"] == job["scheduled_for"] == "2026-03-01T12:10:00Z"
    after = await get_schedule(client, schedule["id"])
    assert after["next_run_at"] == "2026-03-01T13:00:00Z"
    assert after["version"] == 1


async def test_trigger_twice_makes_two_jobs(client):
    await create_schedule(client, name="t", handler="h", cron="0 0 1 1 *")
    first = await trigger_schedule(client, "t")
    second = await trigger_schedule(client, "t")
    assert first["id"] != second["id"]
    claimed = await claim(client, limit=10)
    assert sorted(j["id"] for j in claimed) == sorted([first["id"], second["id"]])
    assert all(j["trigger"] == "manual" for j in claimed)


async def test_trigger_of_a_disabled_schedule_still_runs(client):
    await create_schedule(client, name="off", handler="h", cron="0 * * * *", enabled=False)
    job = await client.post("/v1/schedules/off/trigger")
    assert (job.status_code, job.json()["status"]) == (201, "ready")


async def test_upcoming_interval_times_increase_on_the_grid(client):
    schedule = await create_schedule(client, name="q", handler="h", schedule="@every 90s")
    times = (await client.get(f"/v1/schedules/{schedule['id']}/upcoming?count=5")).json()["data"]
    assert len(times) == 5
    assert times[0] == schedule["next_run_at"]
    instants = [at(t) for t in times]
    assert instants == sorted(set(instants))  # strictly increasing
    created = at(schedule["created_at"])
    assert [(t - created).total_seconds() for t in instants] == [90, 180, 270, 360, 450]


async def test_upcoming_defaults_to_ten_and_allows_a_thousand(client):
    await create_schedule(client, name="q", handler="h", cron="* * * * *")
    assert len((await client.get("/v1/schedules/q/upcoming")).json()["data"]) == 10
    many = (await client.get("/v1/schedules/q/upcoming", params={"count": 1000})).json()["data"]
    assert len(many) == len(set(many)) == 1000
    assert many[-1] == "2026-03-02T04:40:00Z"


async def test_upcoming_of_a_paused_schedule_is_empty(client):
    await create_schedule(client, name="q", handler="h", cron="* * * * *")
    await client.post("/v1/schedules/q/pause")
    assert (await client.get("/v1/schedules/q/upcoming")).json() == {"data": []}


async def test_names_are_unique_per_account_only(client, other_client):
    mine = await create_schedule(client, **HOURLY)
    theirs = await other_client.post("/v1/schedules", json=HOURLY)
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["id"] != mine["id"]
    assert (await get_schedule(client, "Hourly tenant sync"))["id"] == mine["id"]
    assert [s["id"] for s in (await client.get("/v1/schedules")).json()["data"]] == [mine["id"]]
    conflict = await client.post("/v1/schedules", json=HOURLY)
    assert (conflict.status_code, conflict.json()["error"]["code"]) == (409, "name_conflict")


async def test_another_accounts_schedule_is_hidden(client, other_client):
    schedule = await create_schedule(client, **HOURLY)
    for path in (f"/v1/schedules/{schedule['id']}", "/v1/schedules/Hourly tenant sync"):
        response = await other_client.get(path)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert (await other_client.get("/v1/schedules")).json()["data"] == []
    for action in ("resume", "enable", "disable"):
        response = await other_client.post(f"/v1/schedules/{schedule['id']}/{action}")
        assert response.status_code == 404
    assert (await other_client.get(f"/v1/schedules/{schedule['id']}/upcoming")).status_code == 404
    assert (await other_client.get(f"/v1/schedules/{schedule['id']}/versions")).status_code == 404
    put = await other_client.put(
        f"/v1/schedules/{schedule['id']}", json={"handler": "x", "cron": "* * * * *"}
    )
    # PUT works by name, and a name may not look like an id: nothing is created or changed.
    assert (put.status_code, put.json()["error"]["code"]) == (422, "validation_error")
    assert (await other_client.get("/v1/schedules")).json()["data"] == []
    assert (await get_schedule(client, schedule["id"]))["handler"] == "sync-tenant"


# --- firing -------------------------------------------------------------------------------------


async def test_interval_schedule_fires_one_job_per_slot_on_the_grid(client, runtime, clock):
    schedule = await create_schedule(
        client,
        name="tick",
        handler="h",
        interval={"value": 1, "unit": "second"},
        concurrency="allow",
        payload={"n": 1},
    )
    for _ in range(3):
        clock.advance(seconds=1)
        assert (await run_scheduler(runtime)).fired == 1
        assert (await run_scheduler(runtime)).fired == 0  # same instant: nothing new
    jobs = await schedule_jobs(client, schedule["id"])
    assert [j["scheduled_for"] for j in jobs] == [
        "2026-03-01T12:00:01Z",
        "2026-03-01T12:00:02Z",
        "2026-03-01T12:00:03Z",
    ]
    assert all(j["run_at"] == j["scheduled_for"] for j in jobs)
    assert {(j["trigger"], j["status"], j["handler"], j["name"]) for j in jobs} == {
        ("schedule", "ready", "h", "tick")
    }
    assert all(j["payload"] == {"n": 1} for j in jobs)
    after = await get_schedule(client, "tick")
    assert (after["last_run_at"], after["next_run_at"]) == (
        "2026-03-01T12:00:03Z",
        "2026-03-01T12:00:04Z",
    )


async def test_scheduler_fires_nothing_before_the_slot(client, runtime, clock):
    await create_schedule(client, name="tick", handler="h", interval={"value": 1, "unit": "minute"})
    clock.advance(seconds=59.999)
    assert (await run_scheduler(runtime)).fired == 0
    clock.advance(seconds=0.001)
    assert (await run_scheduler(runtime)).fired == 1


async def test_cron_in_a_timezone_fires_at_its_local_time(client, runtime, clock):
    schedule = await create_schedule(
        client, name="backup", handler="b", cron="0 2 * * *", timezone="America/New_York"
    )
    clock.set(datetime(2026, 3, 2, 6, 59, 59, tzinfo=UTC))
    assert (await run_scheduler(runtime)).fired == 0
    clock.set(datetime(2026, 3, 2, 7, 0, 0, tzinfo=UTC))
    assert (await run_scheduler(runtime)).fired == 1
    [job] = await schedule_jobs(client, schedule["id"])
    assert job["scheduled_for"] == "2026-03-02T07:00:00Z"
    assert (await get_schedule(client, "backup"))["next_run_at"] == "2026-03-03T07:00:00Z"


async def test_forbid_skips_the_next_slot_while_the_previous_job_is_in_flight(
    client, runtime, clock
):
    schedule = await create_schedule(
        client, name="tick", handler="h", interval={"value": 1, "unit": "second"}
    )
    clock.advance(seconds=1)
    await run_scheduler(runtime)  # 12:00:01 → ready
    clock.advance(seconds=1)
    assert (await run_scheduler(runtime)).skipped == 1  # 12:00:02: the first one is ready
    claimed = await claim_one(client)
    assert claimed["scheduled_for"] == "2026-03-01T12:00:01Z"
    clock.advance(seconds=1)
    assert (await run_scheduler(runtime)).skipped == 1  # 12:00:03: the first one is running
    await report(client, claimed["execution_id"], status="completed")
    clock.advance(seconds=1)
    assert (await run_scheduler(runtime)).fired == 1  # 12:00:04: nothing in flight any more
    jobs = await schedule_jobs(client, schedule["id"])
    assert [(j["scheduled_for"][11:19], j["status"]) for j in jobs] == [
        ("12:00:01", "completed"),
        ("12:00:02", "skipped"),
        ("12:00:03", "skipped"),
        ("12:00:04", "ready"),
    ]
    skipped = jobs[1]
    assert skipped["last_error"]["type"] == "skipped"
    assert "in flight" in skipped["last_error"]["message"]
    assert skipped["finished_at"] == "2026-03-01T12:00:02Z"
    detail = await get_job(client, skipped["id"])
    assert detail["executions"] == []


async def test_forbid_counts_a_job_waiting_for_its_retry_as_in_flight(client, runtime, clock):
    schedule = await create_schedule(
        client, name="tick", handler="h", interval={"value": 1, "unit": "minute"}
    )
    clock.advance(minutes=1)
    await run_scheduler(runtime)
    claimed = await claim_one(client)
    await report(client, claimed["execution_id"], status="failed")
    clock.advance(minutes=1)
    assert (await run_scheduler(runtime)).skipped == 1
    statuses = [j["status"] for j in await schedule_jobs(client, schedule["id"])]
    assert statuses == ["pending", "skipped"]


async def test_allow_admits_overlapping_jobs(client, runtime, clock):
    schedule = await create_schedule(
        client,
        name="tick",
        handler="h",
        interval={"value": 1, "unit": "second"},
        concurrency="allow",
    )
    for _ in range(2):
        clock.advance(seconds=1)
        round_ = await run_scheduler(runtime)
        assert (round_.fired, round_.skipped) == (1, 0)
    jobs = await schedule_jobs(client, schedule["id"])
    assert [j["status"] for j in jobs] == ["ready", "ready"]
    assert len(await claim(client, limit=5)) == 2


async def test_misfire_run_once_after_an_hour_fires_only_the_latest_slot(client, runtime, clock):
    schedule = await create_schedule(
        client, name="tick", handler="h", interval={"value": 1, "unit": "second"}
    )
    clock.advance(hours=1, seconds=0.5)
    outcome = await run_scheduler(runtime)
    assert (outcome.fired, outcome.skipped) == (1, 0)
    jobs = await schedule_jobs(client, schedule["id"])
    assert [(j["scheduled_for"], j["status"]) for j in jobs] == [("2026-03-01T13:00:00Z", "ready")]
    after = await get_schedule(client, "tick")
    assert (after["last_run_at"], after["next_run_at"]) == (
        "2026-03-01T13:00:00Z",
        "2026-03-01T13:00:01Z",
    )
    assert (await run_scheduler(runtime)).fired == 0


async def test_patch_max_retries_keeps_the_retry_policy_and_the_reverse(client):
    await create_schedule(
        client,
        name="r",
        handler="h",
        cron="0 * * * *",
        max_retries=5,
        retry_policy={"initial_interval": "10s", "multiplier": 3},
    )
    fewer = (await client.patch("/v1/schedules/r", json={"max_retries": 1})).json()
    assert fewer["max_retries"] == 1
    assert fewer["retry_policy"] == {
        "max_attempts": 2,
        "initial_interval": 10,
        "multiplier": 3.0,
        "max_interval": 3600,
    }
    slower = (
        await client.patch("/v1/schedules/r", json={"retry_policy": {"multiplier": 4}})
    ).json()
    assert (slower["max_retries"], slower["retry_policy"]["multiplier"]) == (1, 4.0)
    attempts = (
        await client.patch("/v1/schedules/r", json={"retry_policy": {"max_attempts": 7}})
    ).json()
    assert (attempts["max_retries"], attempts["version"]) == (6, 4)


async def test_every_schedule_name_can_address_its_schedule(client):
    for name in ["a?b#c", "100%", "Zürich nightly ☕", "sch_lookalike", " padded ", "..."]:
        await create_schedule(client, name=name, handler="h", cron="0 * * * *")
        path = f"/v1/schedules/{quote(name, safe='')}"
        assert (await client.get(path)).json()["name"] == name
        put = await client.put(path, json={"handler": "h", "cron": "0 * * * *"})
        assert (put.status_code, put.json()["version"]) == (200, 1)
        assert (await client.post(f"{path}/pause")).json()["state"] == "paused"
    for name in ["team/sync", ".", ".."]:
        response = await client.post(
            "/v1/schedules", json={"name": name, "handler": "h", "cron": "0 * * * *"}
        )
        assert (response.status_code, response.json()["error"]["code"]) == (422, "validation_error")
    renamed = await client.patch("/v1/schedules/100%25", json={"name": "a/b"})
    assert renamed.status_code == 422


async def test_versions_no_integer_can_hold_are_not_found(client):
    await create_schedule(client, name="v", handler="h", cron="0 * * * *")
    for version in ("3000000000", "99999999999999999999", "0"):
        response = await client.get(f"/v1/schedules/v/versions/{version}")
        assert (response.status_code, response.json()["error"]["code"]) == (
            404,
            "version_not_found",
        )
        rollback = await client.post(f"/v1/schedules/v/rollback/{version}")
        assert rollback.status_code == 404
    assert (await get_schedule(client, "v"))["version"] == 1


async def test_list_search_finds_a_case_insensitive_substring_of_the_name(client, other_client):
    for name in ["Nightly Report", "nightly-backup", "hourly", "100%_done", "100x done"]:
        await create_schedule(client, name=name, handler="h", cron="0 * * * *")
    await create_schedule(other_client, name="nightly", handler="h", cron="0 * * * *")

    async def names(**params: str) -> list[str]:
        data = expect(await client.get("/v1/schedules", params=params), 200)["data"]
        return sorted(s["name"] for s in data)

    assert await names(search="NIGHTLY") == ["Nightly Report", "nightly-backup"]
    assert await names(search="%_") == ["100%_done"]
    assert await names(search="nightly", handler="h", state="enabled") == [
        "Nightly Report",
        "nightly-backup",
    ]
    assert len(await names(search="")) == 5
    too_long = await client.get("/v1/schedules", params={"search": "x" * 201})
    assert too_long.status_code in (400, 422)


async def test_list_includes_each_schedules_recent_runs_on_request(client, runtime, clock):
    await create_schedule(
        client,
        name="busy",
        handler="h",
        interval={"value": 1, "unit": "second"},
        concurrency="allow",
        max_retries=0,
    )
    quiet = await create_schedule(client, name="quiet", handler="h", cron="0 0 1 1 *")
    for _ in range(33):
        clock.advance(seconds=1)
        await run_scheduler(runtime)
    for outcome in ["completed", "failed"]:
        job = await claim_one(client)  # the oldest ready job first
        await report(client, job["execution_id"], status=outcome)

    page = expect(await client.get("/v1/schedules", params={"include": "recent_runs"}), 200)
    runs = {s["name"]: s["recent_runs"] for s in page["data"]}
    assert runs["quiet"] == [] and quiet["id"] not in {r["id"] for r in runs["busy"]}
    slots = [r["scheduled_for"] for r in runs["busy"]]
    assert len(slots) == 30 and slots == sorted(slots)
    assert slots[-1] == "2026-03-01T12:00:33Z"  # the latest 30 of 33, oldest first
    assert {r["status"] for r in runs["busy"]} == {"ready"}  # the finished two were the oldest
    assert set(runs["busy"][0]) == {"id", "status", "scheduled_for"}
    assert "recent_runs" not in expect(await client.get("/v1/schedules"), 200)["data"][0]


async def test_recent_runs_show_how_each_run_ended(client, runtime, clock):
    await create_schedule(
        client, name="r", handler="h", interval={"value": 1, "unit": "second"}, max_retries=0
    )
    for outcome in ["completed", "failed"]:
        clock.advance(seconds=1)
        await run_scheduler(runtime)
        job = await claim_one(client)
        await report(client, job["execution_id"], status=outcome)
    page = expect(await client.get("/v1/schedules?include=recent_runs"), 200)
    assert [r["status"] for r in page["data"][0]["recent_runs"]] == ["completed", "failed"]


async def test_list_include_refuses_unknown_names_and_pages_over_100(client):
    for params in [{"include": "everything"}, {"include": "recent_runs", "limit": "101"}]:
        response = await client.get("/v1/schedules", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == "invalid_filter"
    ok = await client.get("/v1/schedules", params={"include": "recent_runs", "limit": "100"})
    assert ok.status_code == 200
