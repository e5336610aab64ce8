"""The SDK and CLI for a schedule's fire ledger, typed timing attributes and reasons (issue 14
gaps): the async SDK against the API on both databases; the sync SDK and the CLI against a
recording transport (what they send, and what the CLI shows)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from chronos import AsyncChronos, Chronos
from chronos.cli import app
from chronos.models import Schedule
from chronos.server.clock import FakeClock
from chronos.server.runtime import Runtime
from tests.helpers import create_schedule, expect, run_scheduler

EVERY_MINUTE = {"handler": "h", "cron": "* * * * *", "concurrency": "allow"}


async def test_the_async_sdk_reads_the_ledger_and_the_typed_timing(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    expect(await client.post("/v1/calendars", json={"name": "holidays", "dates": []}), 201)
    await create_schedule(
        client,
        name="hashed",
        handler="h",
        cron="H * * * *",
        jitter="30s",
        spread="2m",
        dst_policy={"gap": "skip"},
        exclude_calendars=["holidays"],
    )
    await create_schedule(client, name="minutely", **EVERY_MINUTE)
    clock.advance(minutes=1, seconds=2)
    await run_scheduler(runtime)
    clock.advance(minutes=2, seconds=30)  # down across 12:02; 12:03 fires 32 s late
    await run_scheduler(runtime)

    sdk = AsyncChronos(api_key="unused", base_url="http://chronos.test", http=client)
    ledger = await sdk.schedules.slots("minutely", from_="2026-03-01T12:00:00Z")
    assert [(s.at.strftime("%H:%M") if s.at else None, s.outcome) for s in ledger.slots] == [
        ("12:01", "on_time"),
        ("12:02", "missed"),
        ("12:03", "late"),
    ]
    assert ledger.truncated is False and ledger.slots[2].lag_seconds == 32
    assert ledger.slots[1].reason and "misfire policy" in ledger.slots[1].reason
    window = await sdk.schedules.slots(
        "minutely", from_="2026-03-01T12:01:30Z", to="2026-03-01T12:02:30Z"
    )
    assert [s.outcome for s in window.slots] == ["missed"]

    hashed = await sdk.schedules.get("hashed")
    assert (hashed.jitter, hashed.spread) == (30.0, 120.0)
    assert hashed.dst_policy == {"gap": "skip", "overlap": "first"}
    assert (hashed.exclude_calendars, hashed.only_calendar) == (["holidays"], None)
    assert hashed.cron_resolved is not None and "H" not in hashed.cron_resolved
    assert hashed.raw["jitter"] == 30  # raw keeps the API's answer
    plain = await sdk.schedules.get("minutely")
    assert (plain.jitter, plain.spread, plain.cron_resolved) == (0.0, 0.0, None)


async def test_the_sdk_s_reasons_reach_the_audit_log(client, runtime, clock):
    await create_schedule(client, name="etl", **EVERY_MINUTE)
    sdk = AsyncChronos(api_key="unused", base_url="http://chronos.test", http=client)
    await sdk.schedules.pause("etl", note="db migration")
    await sdk.schedules.resume("etl", reason="migration done")
    await sdk.schedules.disable("etl", reason="retired")
    await sdk.schedules.enable("etl", reason="back")
    await sdk.schedules.trigger("etl", reason="rerun by hand")
    await sdk.schedules.delete("etl", reason="replaced")
    records = expect(await client.get("/v1/audit", params={"resource_type": "schedule"}), 200)
    reasons = {r["action"]: r["reason"] for r in records["data"]}
    assert reasons["schedule.deleted"] == "replaced"
    assert "rerun by hand" in reasons.values() and "db migration" in reasons.values()
    assert {"migration done", "retired", "back"} <= set(reasons.values())


def test_an_older_server_s_schedule_gets_the_default_timing():
    schedule = Schedule.from_dict({"id": "sch_1", "name": "old", "timezone": "UTC"})
    assert schedule.dst_policy == {"gap": "shift", "overlap": "first"}
    assert (schedule.jitter, schedule.spread, schedule.exclude_calendars) == (0.0, 0.0, [])
    assert schedule.only_calendar is None and schedule.raw["name"] == "old"


# --- sync SDK and CLI against a recording transport -------------------------------------------

SCHEDULE = {
    "id": "sch_1",
    "name": "etl",
    "handler": "h",
    "cron": "0 * * * *",
    "interval": None,
    "timezone": "UTC",
    "state": "paused",
    "next_run_at": None,
    "last_run_at": None,
    "last_status": None,
    "success_rate": None,
    "version": 1,
    "tags": {},
    "payload": None,
}
SLOTS = {
    "data": [
        {"at": "2026-03-01T12:00:00Z", "outcome": "on_time", "lag_seconds": 1.5,
         "job_id": "job_1", "job_status": "completed", "reason": None, "version": 1},
        {"at": "2026-03-01T13:00:00Z", "outcome": "missed", "lag_seconds": None,
         "job_id": None, "job_status": None, "reason": "Chronos was down", "version": 1},
    ],
    "truncated": False,
}  # fmt: skip


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/slots"):
            return httpx.Response(200, json=SLOTS)
        if request.method == "DELETE":
            return httpx.Response(204)
        if path.endswith("/trigger"):
            job = {"id": "job_9", "status": "ready", "trigger": "manual", "tags": {}}
            return httpx.Response(201, json=job)
        return httpx.Response(200, json=SCHEDULE)

    def body(self, index: int = -1) -> Any:
        content = self.requests[index].content
        return json.loads(content) if content else None


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    transport = httpx.MockTransport(recorder)

    def make(**kwargs: Any) -> Chronos:
        http = httpx.Client(transport=transport, base_url="http://chronos.test")
        return Chronos(**kwargs, http=http)

    monkeypatch.setattr("chronos.cli.client.Chronos", make)
    return recorder


def test_the_sync_sdk_sends_the_window_and_the_reasons(recorder: Recorder):
    http = httpx.Client(transport=httpx.MockTransport(recorder), base_url="http://chronos.test")
    sdk = Chronos(api_key="k", base_url="http://chronos.test", http=http)
    ledger = sdk.schedules.slots("etl", from_="2026-03-01T00:00:00Z", to="2026-03-02T00:00:00Z")
    assert [s.outcome for s in ledger.slots] == ["on_time", "missed"]
    assert dict(recorder.requests[-1].url.params) == {
        "from": "2026-03-01T00:00:00Z",
        "to": "2026-03-02T00:00:00Z",
    }
    sdk.schedules.slots("etl")
    assert dict(recorder.requests[-1].url.params) == {}
    sdk.schedules.trigger("etl", reason="by hand")
    assert recorder.requests[-1].headers["X-Chronos-Reason"] == "by hand"
    sdk.schedules.trigger("etl")
    assert "X-Chronos-Reason" not in recorder.requests[-1].headers


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(
        app, ["schedules", "--url", "http://chronos.test", "--api-key", "k", *args]
    )
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize(
    ("args", "method", "path", "body", "header"),
    [
        (["pause", "etl", "--note", "n", "--reason", "r"], "POST", "pause",
         {"note": "n", "reason": "r"}, None),
        (["pause", "etl"], "POST", "pause", None, None),
        (["resume", "etl", "--reason", "r"], "POST", "resume", {"reason": "r"}, None),
        (["enable", "etl", "--reason", "r"], "POST", "enable", {"reason": "r"}, None),
        (["disable", "etl", "--reason", "r"], "POST", "disable", {"reason": "r"}, None),
        (["trigger", "etl", "--reason", "r"], "POST", "trigger", None, "r"),
        (["delete", "etl", "--reason", "r"], "DELETE", "etl", None, "r"),
    ],
)  # fmt: skip
def test_the_cli_s_state_changes_send_their_reason(
    recorder: Recorder,
    args: list[str],
    method: str,
    path: str,
    body: Any,
    header: str | None,
):
    _cli(*args)
    [request] = recorder.requests
    assert request.method == method and request.url.path.endswith(f"/{path}")
    assert recorder.body() == body
    assert request.headers.get("X-Chronos-Reason") == header


def test_the_cli_shows_the_ledger_as_a_table(recorder: Recorder):
    out = _cli("slots", "etl", "--from", "2026-03-01T00:00:00Z", "--to", "2026-03-02T00:00:00Z")
    assert dict(recorder.requests[-1].url.params) == {
        "from": "2026-03-01T00:00:00Z",
        "to": "2026-03-02T00:00:00Z",
    }

    def lines(word: str) -> list[str]:
        return [line for line in out.output.splitlines() if word in line]

    [on_time] = lines("on_time")
    assert "2026-03-01 12:00:00 UTC" in on_time and "1.5s" in on_time  # the schedule's zone
    [missed] = lines("missed")
    assert "Chronos was down" in missed
    as_json = json.loads(_cli("slots", "etl", "--json").output)
    assert as_json == SLOTS


async def test_a_schedule_sent_back_as_received_changes_nothing(client, runtime, clock):
    expect(await client.post("/v1/calendars", json={"name": "weekends", "dates": []}), 201)
    await create_schedule(
        client,
        name="hashed",
        handler="h",
        cron="H H(0-5) * * *",
        timezone="Europe/Berlin",
        jitter="30s",
        spread="2m",
        dst_policy={"gap": "skip", "overlap": "both"},
        exclude_calendars=["weekends"],
    )
    got = expect(await client.get("/v1/schedules/hashed"), 200)
    resolved = got["cron_resolved"]
    assert resolved is not None and "H" not in resolved and len(resolved.split()) == 5
    assert resolved.split()[2:] == ["*", "*", "*"] and 0 <= int(resolved.split()[1]) <= 5
    # The fires follow the resolved cron.
    minute, hour = (int(v) for v in resolved.split()[:2])
    local = expect(
        await client.post("/v1/schedules/preview?count=1", json={**got, "spread": 0}), 200
    )["local"][0]
    assert (int(local[11:13]), int(local[14:16])) == (hour, minute)

    again = expect(await client.put("/v1/schedules/hashed", json=got), 200)
    assert again == got
    assert len(expect(await client.get("/v1/schedules/hashed/versions"), 200)["data"]) == 1

    plain = await create_schedule(client, name="plain", **EVERY_MINUTE)
    assert plain["cron_resolved"] is None
    listed = expect(await client.get("/v1/schedules"), 200)["data"]
    assert {s["name"]: s["cron_resolved"] for s in listed} == {"hashed": resolved, "plain": None}


async def test_the_sdk_s_calendar_monitor_and_rule_changes_take_a_reason(client):
    sdk = AsyncChronos(api_key="unused", base_url="http://chronos.test", http=client)
    await sdk.calendars.upsert("holidays", dates=["2026-12-25"], reason="company calendar")
    await sdk.calendars.update("holidays", dates=[], reason="cleared")
    await sdk.monitors.create(name="backup", interval="1h", reason="new host")
    await sdk.monitors.pause("backup", reason="host down")
    await sdk.alert_rules.create(name="r", condition="missed", reason="on call")
    await sdk.alert_rules.delete("r", reason="noisy")
    await sdk.monitors.delete("backup", reason="retired")
    await sdk.calendars.delete("holidays", reason="unused")
    records = expect(await client.get("/v1/audit"), 200)["data"]
    assert [(r["action"], r["reason"]) for r in reversed(records)] == [
        ("calendar.created", "company calendar"),
        ("calendar.updated", "cleared"),
        ("monitor.created", "new host"),
        ("monitor.paused", "host down"),
        ("alert_rule.created", "on call"),
        ("alert_rule.deleted", "noisy"),
        ("monitor.deleted", "retired"),
        ("calendar.deleted", "unused"),
    ]
