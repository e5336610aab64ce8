"""/v1/calendars and schedules that use them, on both databases: the real scheduler, moved
across excluded days by a FakeClock, never fires an excluded slot; the ledger says excluded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from chronos.server import metrics
from chronos.server.clock import FakeClock
from chronos.server.runtime import Runtime
from chronos.server.store.tables import audit_events, calendars, jobs
from tests.helpers import create_schedule, expect, run_scheduler

# The clock starts on Sunday 2026-03-01 12:00 UTC.
DAILY = {"handler": "h", "cron": "0 9 * * *", "timezone": "UTC", "concurrency": "allow"}


async def create_calendar(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    return expect(await client.post("/v1/calendars", json=fields), 201)


async def fired(runtime: Runtime, schedule_id: str) -> list[str]:
    async with runtime.db.read() as conn:
        rows = await conn.execute(
            sa.select(jobs.c.scheduled_for)
            .where(jobs.c.schedule_id == schedule_id)
            .order_by(jobs.c.scheduled_for)
        )
        return [r.scheduled_for.date().isoformat() for r in rows]


async def day_by_day(runtime: Runtime, clock: FakeClock, days: int) -> None:
    """Run the scheduler at 09:00:01 UTC on each of the next ``days`` days."""
    for _ in range(days):
        now = clock.now()
        clock.set(datetime(now.year, now.month, now.day, 9, 0, 1, tzinfo=UTC))
        if clock.now() <= now:
            clock.advance(days=1)
        await run_scheduler(runtime)


async def test_calendar_crud_by_name_and_id_with_audit(client: httpx.AsyncClient, runtime):
    created = await create_calendar(
        client,
        name="holidays",
        description="public holidays",
        dates=["2026-12-25", "2026-01-01", "2026-12-25"],
        ranges=[{"from": "2026-08-01", "to": "2026-08-15"}],
        rules=["weekends", {"kind": "nth_weekday", "weekday": "thu", "n": 4, "month": 11}],
    )
    assert created["id"].startswith("cal_") and created["version"] == 1
    assert created["dates"] == ["2026-01-01", "2026-12-25"]
    assert created["rules"][0] == {"kind": "weekends"}
    assert created["schedules"] == []
    assert expect(await client.get(f"/v1/calendars/{created['id']}"), 200)["name"] == "holidays"
    listed = expect(await client.get("/v1/calendars"), 200)
    assert [c["name"] for c in listed["data"]] == ["holidays"]

    patched = expect(
        await client.patch(
            "/v1/calendars/holidays",
            json={"dates": ["2026-12-24"]},
            headers={"X-Chronos-Reason": "christmas eve"},
        ),
        200,
    )
    assert patched["dates"] == ["2026-12-24"] and patched["version"] == 2
    assert patched["ranges"] == created["ranges"]  # not given: kept
    put = await client.put("/v1/calendars/holidays", json={"dates": ["2026-12-24"]})
    assert expect(put, 200)["rules"] == [] and put.json()["version"] == 3
    again = await client.put("/v1/calendars/holidays", json={"dates": ["2026-12-24"]})
    assert expect(again, 200)["version"] == 3  # unchanged: no new version
    assert (
        await client.put("/v1/calendars/weekends", json={"rules": ["weekends"]})
    ).status_code == 201
    dates = expect(
        await client.get(
            "/v1/calendars/weekends/dates", params={"from": "2026-03-01", "to": "2026-03-08"}
        ),
        200,
    )
    assert dates["data"] == ["2026-03-01", "2026-03-07", "2026-03-08"]
    assert (await client.delete("/v1/calendars/holidays")).status_code == 204
    assert (await client.get("/v1/calendars/holidays")).status_code == 404

    async with runtime.db.read() as conn:
        rows = await conn.execute(
            sa.select(audit_events.c.action, audit_events.c.reason, audit_events.c.changes)
            .where(audit_events.c.resource_id == created["id"])
            .order_by(audit_events.c.id)
        )
        records = [tuple(r) for r in rows]
    assert [r[0] for r in records] == [
        "calendar.created",
        "calendar.updated",
        "calendar.updated",
        "calendar.deleted",
    ]
    assert records[1][1] == "christmas eve"
    assert records[1][2]["dates"] == [["2026-01-01", "2026-12-25"], ["2026-12-24"]]


async def test_a_schedule_does_not_fire_on_an_excluded_date_and_fires_the_next_day(
    client, runtime, clock
):
    await create_calendar(client, name="holidays", dates=["2026-03-03"])  # Tuesday
    schedule = await create_schedule(client, name="daily", exclude_calendars=["holidays"], **DAILY)
    assert schedule["exclude_calendars"] == ["holidays"]
    counted = metrics.SCHEDULE_SLOTS.labels
    before = {o: counted(o)._value.get() for o in ("excluded", "on_time", "missed")}
    await day_by_day(runtime, clock, 3)  # Mon 2, Tue 3, Wed 4
    assert await fired(runtime, schedule["id"]) == ["2026-03-02", "2026-03-04"]
    after = {o: counted(o)._value.get() - before[o] for o in before}
    assert after == {"excluded": 1, "on_time": 2, "missed": 0}

    slots = expect(
        await client.get("/v1/schedules/daily/slots", params={"from": "2026-03-02T00:00:00Z"}),
        200,
    )["data"]
    outcomes = {s["at"][:10]: (s["outcome"], s["reason"]) for s in slots}
    assert outcomes["2026-03-02"][0] == "on_time"
    assert outcomes["2026-03-03"][0] == "excluded" and "'holidays'" in outcomes["2026-03-03"][1]
    assert outcomes["2026-03-04"][0] == "on_time"
    # The calendar page lists the schedule that names it.
    assert expect(await client.get("/v1/calendars/holidays"), 200)["schedules"] == ["daily"]


async def test_only_calendar_fires_on_business_days_only(client, runtime, clock):
    await create_calendar(client, name="business-days", rules=["weekdays"])
    schedule = await create_schedule(
        client, name="weekdays", only_calendar="business-days", **DAILY
    )
    assert schedule["next_run_at"] == "2026-03-02T09:00:00Z"  # Sunday's 09:00 is gone anyway
    clock.set(datetime(2026, 3, 5, 12, tzinfo=UTC))  # Thursday
    await run_scheduler(runtime)
    await day_by_day(runtime, clock, 4)  # Fri 6, Sat 7, Sun 8, Mon 9
    days = await fired(runtime, schedule["id"])
    assert days[-2:] == ["2026-03-06", "2026-03-09"]
    assert "2026-03-07" not in days and "2026-03-08" not in days
    upcoming = expect(await client.get("/v1/schedules/weekdays/upcoming", params={"count": 5}), 200)
    assert [t[:10] for t in upcoming["data"]] == [
        "2026-03-10",
        "2026-03-11",
        "2026-03-12",
        "2026-03-13",
        "2026-03-16",
    ]


async def test_changing_a_calendar_moves_next_run_at_even_a_slot_already_due(
    client, runtime, clock
):
    await create_calendar(client, name="holidays", dates=["2026-03-05"])
    schedule = await create_schedule(client, name="daily", exclude_calendars=["holidays"], **DAILY)
    assert schedule["next_run_at"] == "2026-03-02T09:00:00Z"
    expect(await client.patch("/v1/calendars/holidays", json={"dates": ["2026-03-02"]}), 200)
    assert expect(await client.get("/v1/schedules/daily"), 200)["next_run_at"] == (
        "2026-03-03T09:00:00Z"
    )
    # Monday 09:00 comes; the scheduler has not run yet when Tuesday becomes a holiday too:
    # the due slot is re-judged at once, and it never fires.
    expect(await client.patch("/v1/calendars/holidays", json={"dates": []}), 200)
    clock.set(datetime(2026, 3, 3, 9, 0, 0, tzinfo=UTC))
    assert expect(await client.get("/v1/schedules/daily"), 200)["next_run_at"] == (
        "2026-03-02T09:00:00Z"
    )
    expect(await client.put("/v1/calendars/holidays", json={"ranges": [
        {"from": "2026-03-02", "to": "2026-03-03"}
    ]}), 200)  # fmt: skip
    assert expect(await client.get("/v1/schedules/daily"), 200)["next_run_at"] == (
        "2026-03-04T09:00:00Z"
    )
    await run_scheduler(runtime)
    assert await fired(runtime, schedule["id"]) == []


async def test_a_calendar_in_use_cannot_be_deleted_or_renamed(client, runtime):
    await create_calendar(client, name="holidays", dates=["2026-12-25"])
    await create_schedule(client, name="a", exclude_calendars=["holidays"], **DAILY)
    await create_schedule(client, name="b", only_calendar="holidays", **DAILY)
    refused = await client.delete("/v1/calendars/holidays")
    body = expect(refused, 409)["error"]
    assert body["code"] == "calendar_in_use" and body["details"]["schedules"] == ["a", "b"]
    renamed = await client.patch("/v1/calendars/holidays", json={"name": "days-off"})
    assert expect(renamed, 409)["error"]["code"] == "calendar_in_use"
    # Once no schedule names it, it goes.
    expect(await client.patch("/v1/schedules/a", json={"exclude_calendars": []}), 200)
    assert (await client.delete("/v1/schedules/b")).status_code == 204
    assert (await client.delete("/v1/calendars/holidays")).status_code == 204


async def test_unknown_calendars_are_named_at_create_update_and_preview(client, runtime):
    for path, body in [
        ("/v1/schedules", {"name": "s", "exclude_calendars": ["nope", "nada"], **DAILY}),
        ("/v1/schedules/preview", {"name": "s", "only_calendar": "nope", **DAILY}),
    ]:
        error = expect(await client.post(path, json=body), 422)["error"]
        assert error["code"] == "unknown_calendar" and "'nope'" in error["message"]
    put = await client.put("/v1/schedules/s", json={"only_calendar": "nope", **DAILY})
    assert expect(put, 422)["error"]["details"]["calendars"] == ["nope"]
    await create_schedule(client, name="s", **DAILY)
    patched = await client.patch("/v1/schedules/s", json={"exclude_calendars": ["nope"]})
    assert expect(patched, 422)["error"]["code"] == "unknown_calendar"
    both = await client.post(
        "/v1/schedules",
        json={"name": "t", "exclude_calendars": ["x"], "only_calendar": "x", **DAILY},
    )
    assert expect(both, 422)["error"]["code"] == "invalid_schedule"
    # The preview skips excluded slots.
    await create_calendar(client, name="weekend", rules=["weekends"])
    preview = expect(
        await client.post(
            "/v1/schedules/preview",
            params={"count": 3},
            json={"name": "p", "exclude_calendars": ["weekend"], **DAILY},
        ),
        200,
    )
    assert [t[:10] for t in preview["data"]] == ["2026-03-02", "2026-03-03", "2026-03-04"]


ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\n"
    "END:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20201126\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


async def test_ics_import_on_create_and_into_a_calendar(client, runtime):
    created = await create_calendar(client, name="us", dates=["2026-07-03"], ics=ICS)
    assert created["dates"] == ["2026-07-03", "2026-12-25"]
    assert created["rules"][0]["kind"] == "nth_weekday"
    bare = await create_calendar(client, name="bare")
    imported = expect(await client.post("/v1/calendars/bare/import", json={"ics": ICS}), 200)
    assert imported["dates"] == ["2026-12-25"] and imported["version"] == 2
    replaced = expect(
        await client.post(
            f"/v1/calendars/{bare['id']}/import",
            json={"ics": ICS.replace("20261225", "20261231"), "replace": True},
        ),
        200,
    )
    assert replaced["dates"] == ["2026-12-31"]
    for hostile in ["x" * 5000, ICS.replace("END:VCALENDAR", ""), ICS.replace("\r\n", "\n  ")]:
        response = await client.post("/v1/calendars/bare/import", json={"ics": hostile})
        assert expect(response, 422)["error"]["details"]["field"] == "ics"
    # A NUL never gets this far: the request guard refuses it in any JSON body.
    nul = await client.post("/v1/calendars/bare/import", json={"ics": "BEGIN:VCALENDAR\x00"})
    assert nul.status_code == 422
    assert expect(await client.get("/v1/calendars/bare"), 200)["version"] == 3  # unchanged


BAD_BODIES: list[Any] = [
    {},
    {"name": ""},
    {"name": 5},
    {"name": "x", "dates": "2026-01-01"},
    {"name": "x", "dates": ["2026-02-30"]},
    {"name": "x", "dates": ["2026-01-01\x00"]},
    {"name": "x", "ranges": [{"from": "2026-01-02", "to": "2026-01-01"}]},
    {"name": "x", "ranges": [{"from": "2026-01-02"}]},
    {"name": "x", "rules": ["holidays"]},
    {"name": "x", "rules": [{"kind": "nth_weekday", "weekday": "thu"}]},
    {"name": "x", "rules": [{"kind": "yearly", "month": 13, "day": 1}]},
    {"name": "x", "unknown": 1},
    {"name": "x", "dates": ["2026-01-01"] * 5001},
    {"name": "cal_0123456789abcdefghijklmnop"},
    {"name": "a/b"},
    {"name": "x", "description": "nul\x00"},
    {"name": "x", "ics": "y" * 2_000_001},
    [],
    "holidays",
]


async def test_bad_calendar_input_is_a_clear_4xx_and_changes_nothing(client, runtime):
    for body in BAD_BODIES:
        response = await client.post("/v1/calendars", json=body)
        assert response.status_code in (400, 413, 422), (body, response.text)
        assert "error" in response.json()
        if isinstance(body, dict) and set(body) - {"name"}:  # the same, by PUT
            put = await client.put("/v1/calendars/y", json={**body, "name": "y"})
            assert put.status_code in (400, 413, 422), (body, put.text)
    await create_calendar(client, name="good")
    for patch in ([1], {"dates": [1]}, {"rules": [{"kind": "weekends", "day": 3}]}):
        response = await client.patch("/v1/calendars/good", json=patch)
        assert response.status_code == 422, response.text
    bad_dates = await client.get("/v1/calendars/good/dates", params={"from": "2026-13-01"})
    assert bad_dates.status_code == 422
    wide = {"from": "2000-01-01", "to": "2026-01-01"}
    assert (await client.get("/v1/calendars/good/dates", params=wide)).status_code == 400
    async with runtime.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(calendars))).scalar() == 1
    assert expect(await client.get("/v1/calendars/good"), 200)["version"] == 1


async def test_other_accounts_calendars_are_invisible(client, other_client, runtime):
    mine = await create_calendar(client, name="holidays")
    for ref in ("holidays", mine["id"]):
        assert (await other_client.get(f"/v1/calendars/{ref}")).status_code == 404
        assert (await other_client.patch(f"/v1/calendars/{ref}", json={})).status_code == 404
        assert (await other_client.delete(f"/v1/calendars/{ref}")).status_code == 404
    # Nor can another account's schedule name it.
    response = await other_client.post(
        "/v1/schedules", json={"name": "s", "exclude_calendars": ["holidays"], **DAILY}
    )
    assert expect(response, 422)["error"]["code"] == "unknown_calendar"
    assert expect(await other_client.get("/v1/calendars"), 200)["data"] == []
    # The same name is free in another account.
    assert (await other_client.post("/v1/calendars", json={"name": "holidays"})).status_code == 201
    taken = await client.post("/v1/calendars", json={"name": "holidays"})
    assert expect(taken, 409)["error"]["code"] == "name_conflict"
