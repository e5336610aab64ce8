"""Schedules through the API: create, read, list, upsert, patch, states, trigger, upcoming."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chronos.server.engine.scheduler import Scheduler

HOURLY = {
    "name": "Hourly tenant sync",
    "handler": "sync-tenant",
    "interval": {"value": 1, "unit": "hour"},
    "payload": {"full": False},
}


async def create(client, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/schedules", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_seed_000_interval_schedule_is_created_with_defaults(client):
    schedule = await create(client, **HOURLY)
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
    schedule = await create(
        client, name="backup", handler="b", cron="0 2 * * *", timezone="America/New_York"
    )
    assert schedule["next_run_at"] == "2026-03-02T07:00:00Z"


async def test_plural_units_and_every_alias(client):
    hours = await create(client, name="a", handler="h", interval={"value": 2, "unit": "hours"})
    every = await create(client, name="b", handler="h", schedule="@every 90s")
    assert hours["interval"] == {"value": 2, "unit": "hour"}
    assert every["interval"] == {"value": 90, "unit": "second"}
    assert every["next_run_at"] == "2026-03-01T12:01:30Z"


async def test_get_by_id_and_by_name(client):
    schedule = await create(client, **HOURLY)
    by_id = (await client.get(f"/v1/schedules/{schedule['id']}")).json()
    by_name = (await client.get("/v1/schedules/Hourly tenant sync")).json()
    assert by_id == by_name == schedule


async def test_list_filters_by_state_handler_and_tags(client):
    await create(
        client, name="a", handler="h1", cron="* * * * *", tags={"team": "backend", "env": "prod"}
    )
    await create(
        client, name="b", handler="h1", cron="* * * * *", tags={"team": "backend", "env": "dev"}
    )
    await create(client, name="c", handler="h2", cron="* * * * *", enabled=False)

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
        await create(client, name=f"s{index}", handler="h", cron="* * * * *")
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
    schedule = await create(client, **HOURLY)
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
    await create(client, name="a", handler="h", cron="* * * * *")
    await create(client, name="b", handler="h", cron="* * * * *")
    response = await client.patch("/v1/schedules/b", json={"name": "a"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "name_conflict"


async def test_delete(client):
    schedule = await create(client, **HOURLY)
    assert (await client.delete(f"/v1/schedules/{schedule['id']}")).status_code == 204
    assert (await client.get(f"/v1/schedules/{schedule['id']}")).status_code == 404


async def test_pause_resume_disable_enable(client, runtime, clock):
    schedule = await create(
        client, name="tick", handler="h", interval={"value": 1, "unit": "second"}
    )
    paused = (await client.post("/v1/schedules/tick/pause")).json()
    assert (paused["state"], paused["next_run_at"]) == ("paused", None)
    clock.advance(seconds=10)
    assert (await Scheduler(runtime.db, clock, runtime.notifier).run_once()).fired == 0
    resumed = (await client.post("/v1/schedules/tick/resume")).json()
    assert resumed["state"] == "enabled"
    assert resumed["next_run_at"] == "2026-03-01T12:00:11Z"
    disabled = (await client.post(f"/v1/schedules/{schedule['id']}/disable")).json()
    assert (disabled["state"], disabled["enabled"]) == ("disabled", False)
    enabled = (await client.post(f"/v1/schedules/{schedule['id']}/enable")).json()
    assert (enabled["state"], enabled["enabled"]) == ("enabled", True)


async def test_trigger_runs_now_whatever_the_state(client):
    await create(client, name="tick", handler="h", cron="0 0 1 1 *")
    await client.post("/v1/schedules/tick/pause")
    job = await client.post("/v1/schedules/tick/trigger")
    assert job.status_code == 201
    assert (job.json()["trigger"], job.json()["status"]) == ("manual", "ready")
    claim = await client.post("/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 0})
    assert [j["id"] for j in claim.json()["jobs"]] == [job.json()["id"]]


async def test_upcoming_lists_the_next_fire_times(client):
    await create(client, name="q", handler="h", cron="*/15 * * * *")
    upcoming = (await client.get("/v1/schedules/q/upcoming", params={"count": 5})).json()
    assert upcoming["data"] == [
        "2026-03-01T12:15:00Z",
        "2026-03-01T12:30:00Z",
        "2026-03-01T12:45:00Z",
        "2026-03-01T13:00:00Z",
        "2026-03-01T13:15:00Z",
    ]


async def test_fired_jobs_update_last_run(client, runtime, clock):
    await create(client, name="tick", handler="h", interval={"value": 1, "unit": "second"})
    clock.advance(seconds=1)
    await Scheduler(runtime.db, clock, runtime.notifier).run_once()
    schedule = (await client.get("/v1/schedules/tick")).json()
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
    await create(client, name="v", handler="h", cron="0 * * * *")
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
    assert (await client.get("/v1/schedules/v")).json()["version"] == 4


async def test_push_schedule_can_be_patched_and_rolled_back(client):
    await create(
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
    await create(
        client,
        name="rate",
        handler="h",
        interval={"value": 1, "unit": "second"},
        concurrency="allow",
        max_retries=0,
    )
    scheduler = Scheduler(runtime.db, clock, runtime.notifier)
    for outcome in ["completed", "completed", "completed", "failed"]:
        clock.advance(seconds=1)
        await scheduler.run_once()
        [job] = (
            await client.post("/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 0})
        ).json()["jobs"]
        await client.post(
            f"/v1/worker/executions/{job['execution_id']}/result", json={"status": outcome}
        )
    schedule = (await client.get("/v1/schedules/rate")).json()
    assert schedule["success_rate"] == 0.75
    assert schedule["last_status"] == "failed"
    listed = (await client.get("/v1/schedules")).json()["data"][0]
    assert listed["success_rate"] == 0.75


async def fired_slots(client, name: str) -> list[str]:
    schedule = (await client.get(f"/v1/schedules/{name}")).json()
    jobs = (
        await client.get("/v1/jobs", params={"schedule_id": schedule["id"], "limit": 500})
    ).json()["data"]
    return sorted(j["scheduled_for"] for j in jobs)


async def test_misfire_run_all_catches_up_inside_the_window(client, runtime, clock):
    await create(
        client,
        name="all",
        handler="h",
        interval={"value": 1, "unit": "minute"},
        misfire_policy="run_all",
        catchup_window="5m",
        concurrency="allow",
    )
    clock.advance(hours=1, seconds=30)  # down for an hour
    await Scheduler(runtime.db, clock, runtime.notifier).run_once()
    assert await fired_slots(client, "all") == [
        f"2026-03-01T12:{minute:02d}:00Z" for minute in range(56, 60)
    ] + ["2026-03-01T13:00:00Z"]


async def test_misfire_skip_drops_late_slots(client, runtime, clock):
    await create(
        client,
        name="skip",
        handler="h",
        interval={"value": 1, "unit": "minute"},
        misfire_policy="skip",
    )
    scheduler = Scheduler(runtime.db, clock, runtime.notifier)
    clock.advance(minutes=10, seconds=30)
    await scheduler.run_once()
    assert await fired_slots(client, "skip") == []
    clock.set(clock.now().replace(second=0) + timedelta(minutes=1, seconds=1))
    await scheduler.run_once()
    assert await fired_slots(client, "skip") == ["2026-03-01T12:11:00Z"]


async def test_start_and_end_window_bound_the_fires(client, runtime, clock):
    schedule = await create(
        client,
        name="window",
        handler="h",
        concurrency="allow",
        interval={"value": 10, "unit": "second"},
        start_at="2026-03-01T12:00:05Z",
        end_at="2026-03-01T12:00:25Z",
    )
    assert schedule["next_run_at"] == "2026-03-01T12:00:05Z"
    scheduler = Scheduler(runtime.db, clock, runtime.notifier)
    for _ in range(6):
        clock.advance(seconds=10)
        await scheduler.run_once()
    assert await fired_slots(client, "window") == [
        "2026-03-01T12:00:05Z",
        "2026-03-01T12:00:15Z",
        "2026-03-01T12:00:25Z",
    ]
    finished = (await client.get("/v1/schedules/window")).json()
    assert finished["next_run_at"] is None
    assert (await client.get("/v1/schedules/window/upcoming")).json()["data"] == []


async def test_interval_slots_do_not_drift_when_the_scheduler_is_late(client, runtime, clock):
    await create(
        client,
        name="steady",
        handler="h",
        interval={"value": 1, "unit": "minute"},
        concurrency="allow",
    )
    scheduler = Scheduler(runtime.db, clock, runtime.notifier)
    for lateness in (0.9, 0.2, 0.7):
        clock.set(
            clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=lateness)
        )
        await scheduler.run_once()
    assert await fired_slots(client, "steady") == [
        "2026-03-01T12:01:00Z",
        "2026-03-01T12:02:00Z",
        "2026-03-01T12:03:00Z",
    ]


async def test_seconds_field_cron_fires_every_ten_seconds(client, runtime, clock):
    await create(client, name="tens", handler="h", cron="*/10 * * * * *", concurrency="allow")
    scheduler = Scheduler(runtime.db, clock, runtime.notifier)
    for _ in range(3):
        clock.advance(seconds=10)
        await scheduler.run_once()
    assert await fired_slots(client, "tens") == [
        "2026-03-01T12:00:10Z",
        "2026-03-01T12:00:20Z",
        "2026-03-01T12:00:30Z",
    ]


async def test_spring_forward_daily_job_fires_once_after_the_gap(client, runtime, clock):
    clock.set(datetime(2026, 3, 7, 12, tzinfo=UTC))
    await create(
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
