"""GET /v1/schedules/{id}/slots (expected vs actual fires) and /runs, on both databases: the
real scheduler fires, stops across slots and comes back; the ledger says what happened."""

from __future__ import annotations

from typing import Any

import httpx

from chronos.server.clock import FakeClock
from chronos.server.runtime import Runtime
from tests.helpers import claim_one, create_schedule, expect, report, run_scheduler

EVERY_MINUTE = {"handler": "h", "cron": "* * * * *", "concurrency": "allow"}
DOWNTIME = (
    "Chronos was not running (or was behind) at the slot and the misfire policy "
    "'{}' did not fire it"
)


async def slots(client: httpx.AsyncClient, ref: str, **params: str) -> list[dict[str, Any]]:
    return expect(await client.get(f"/v1/schedules/{ref}/slots", params=params), 200)["data"]


def by_time(found: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    return {slot["at"][11:19]: (slot["outcome"], slot["reason"]) for slot in found}


async def test_a_slot_the_scheduler_was_down_for_is_missed_with_the_downtime_reason(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    schedule = await create_schedule(client, name="minutely", **EVERY_MINUTE)
    clock.advance(minutes=1, seconds=2)  # 12:01:02
    await run_scheduler(runtime)
    clock.advance(minutes=3, seconds=3)  # down across 12:02 and 12:03; back at 12:04:05
    await run_scheduler(runtime)
    clock.advance(minutes=1, seconds=25)  # 12:05:30: the 12:05 slot fires 30 s late
    await run_scheduler(runtime)

    found = await slots(client, schedule["id"], **{"from": "2026-03-01T12:00:00Z"})
    assert by_time(found) == {
        "12:01:00": ("on_time", None),
        "12:02:00": ("missed", DOWNTIME.format("run_once")),
        "12:03:00": ("missed", DOWNTIME.format("run_once")),
        "12:04:00": ("on_time", None),
        "12:05:00": ("late", None),
    }
    late = found[-1]
    assert late["lag_seconds"] == 30 and late["job_id"].startswith("job_")
    assert late["job_status"] == "ready" and late["version"] == 1
    assert found[1]["job_id"] is None and found[1]["lag_seconds"] is None
    # By name too, and the default window is the last 24 hours.
    assert await slots(client, "minutely") == found


async def test_under_the_skip_policy_every_late_slot_is_missed(client, runtime, clock):
    await create_schedule(client, name="strict", misfire_policy="skip", **EVERY_MINUTE)
    clock.advance(minutes=2, seconds=30)
    await run_scheduler(runtime)
    assert by_time(await slots(client, "strict")) == {
        "12:01:00": ("missed", DOWNTIME.format("skip")),
        "12:02:00": ("missed", DOWNTIME.format("skip")),
    }


async def test_paused_and_skipped_slots(client, runtime, clock):
    await create_schedule(client, name="busy", handler="h", cron="* * * * *")  # forbid
    clock.advance(minutes=1)
    await run_scheduler(runtime)  # 12:01 fires; nobody runs it
    clock.advance(minutes=1)
    await run_scheduler(runtime)  # 12:02 is skipped: 12:01 is still waiting
    expect(await client.post("/v1/schedules/busy/pause", json={"note": "deploy"}), 200)
    clock.advance(minutes=2)
    await run_scheduler(runtime)
    outcomes = by_time(await slots(client, "busy"))
    assert outcomes["12:01:00"] == ("on_time", None)
    assert outcomes["12:02:00"][0] == "skipped" and "'forbid'" in str(outcomes["12:02:00"][1])
    for slot in ("12:03:00", "12:04:00"):
        outcome, reason = outcomes[slot]
        assert outcome == "paused"
        assert str(reason).startswith("the schedule was paused by test (")
        assert str(reason).endswith("…): deploy")


async def test_a_slot_not_yet_fired_is_due_then_missed(client, runtime, clock):
    await create_schedule(client, name="stuck", **EVERY_MINUTE)
    clock.advance(minutes=1, seconds=5)  # the scheduler did not run
    assert by_time(await slots(client, "stuck"))["12:01:00"][0] == "due"
    clock.advance(seconds=10)
    outcome, reason = by_time(await slots(client, "stuck"))["12:01:00"]
    assert outcome == "missed" and "not fired yet" in str(reason)


async def test_a_range_picks_its_slots_and_future_slots_are_not_listed(client, runtime, clock):
    await create_schedule(client, name="range", **EVERY_MINUTE)
    clock.advance(minutes=5, seconds=1)
    await run_scheduler(runtime)
    found = await slots(
        client, "range", **{"from": "2026-03-01T12:02:00Z", "to": "2026-03-01T12:30:00Z"}
    )
    assert list(by_time(found)) == ["12:02:00", "12:03:00", "12:04:00", "12:05:00"]
    # A naive time is UTC, as everywhere in the API; an offset is honoured.
    naive = await slots(client, "range", **{"from": "2026-03-01T12:04:00"})
    offset = await slots(client, "range", **{"from": "2026-03-01T13:04:00+01:00"})
    assert [s["at"] for s in naive] == [s["at"] for s in offset]
    assert [s["at"] for s in naive] == ["2026-03-01T12:04:00Z", "2026-03-01T12:05:00Z"]


async def test_a_per_second_schedule_is_truncated_to_the_latest_thousand(client, runtime, clock):
    await create_schedule(client, name="fast", handler="h", interval="1s")
    clock.advance(hours=1)
    body = expect(await client.get("/v1/schedules/fast/slots"), 200)
    assert body["truncated"] is True and len(body["data"]) == 1000
    assert body["data"][-1]["at"] == "2026-03-01T13:00:00Z"


async def test_bad_ranges_are_refused(client: httpx.AsyncClient, other_client: httpx.AsyncClient):
    await create_schedule(client, name="bad", **EVERY_MINUTE)
    url = "/v1/schedules/bad/slots"
    for params in ({"from": "yesterday"}, {"to": "2026-13-01T00:00:00Z"}, {"from": ""}):
        error = expect(await client.get(url, params=params), 422)["error"]
        assert error["code"] == "validation_error", params
    unordered = {"from": "2026-03-01T12:00:00Z", "to": "2026-03-01T11:00:00Z"}
    error = expect(await client.get(url, params=unordered), 400)["error"]
    assert (error["code"], error["message"]) == ("invalid_range", "from must be before to")
    too_long = {"from": "2026-01-01T00:00:00Z", "to": "2026-02-02T00:00:01Z"}
    error = expect(await client.get(url, params=too_long), 400)["error"]
    assert error["code"] == "invalid_range" and "31 days" in error["message"]
    assert expect(await client.get("/v1/schedules/nope/slots"), 404)["error"]["code"]
    assert (await other_client.get(url)).status_code == 404


async def test_runs_list_each_job_with_its_last_execution(client, runtime, clock):
    schedule = await create_schedule(client, name="runs", **EVERY_MINUTE)
    clock.advance(minutes=1)
    await run_scheduler(runtime)
    claimed = await claim_one(client)
    clock.advance(seconds=2.5)
    await report(client, claimed["execution_id"])
    clock.advance(minutes=1)
    await run_scheduler(runtime)
    body = expect(
        await client.get(f"/v1/schedules/{schedule['id']}/runs", params={"limit": 1}), 200
    )
    [newest] = body["data"]
    assert newest["scheduled_for"] == "2026-03-01T12:02:00Z" and newest["last_execution"] is None
    assert body["next_cursor"]
    rest = await client.get("/v1/schedules/runs/runs", params={"cursor": body["next_cursor"]})
    [older] = expect(rest, 200)["data"]
    assert older["id"] == claimed["id"] and older["status"] == "completed"
    assert older["last_execution"]["duration_ms"] == 2500
    assert older["last_execution"]["attempt"] == 1


async def test_runs_of_another_accounts_schedule_are_not_found(client, other_client):
    schedule = await create_schedule(client, name="mine", **EVERY_MINUTE)
    assert (await other_client.get(f"/v1/schedules/{schedule['id']}/runs")).status_code == 404
    assert (await client.get("/v1/schedules/mine/runs", params={"cursor": "!!"})).status_code == 400
