"""Review of issue 14: races and crash windows between a change's steps, one test each."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event as sa_event

from chronos.server.clock import FakeClock
from chronos.server.runtime import Runtime
from chronos.server.services import backfills as backfills_module
from tests.helpers import create_schedule, expect, list_jobs


@contextmanager
def sql_statements(runtime: Runtime) -> Iterator[list[str]]:
    """The SQL statements the runtime's database runs meanwhile."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = runtime.db.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)


async def test_a_calendar_changed_while_a_backfill_is_planned_is_planned_again(
    client: httpx.AsyncClient,
    runtime: Runtime,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
):
    """The plan is made outside the write transaction: a calendar edited meanwhile (here:
    the day made a holiday) must not let the backfill create the jobs of now-excluded slots."""
    expect(await client.post("/v1/calendars", json={"name": "holidays", "dates": []}), 201)
    await create_schedule(
        client,
        name="hourly",
        cron="0 * * * *",
        handler="h",
        exclude_calendars=["holidays"],
    )
    clock.advance(hours=4)
    plans = 0

    async def to_thread(function: Callable[..., Any], *args: Any) -> Any:
        nonlocal plans
        plans += 1
        result = function(*args)
        if plans == 1:  # another request edits the calendar while this plan is made
            patch = {"dates": ["2026-03-01"]}
            expect(await client.patch("/v1/calendars/holidays", json=patch), 200)
        return result

    monkeypatch.setattr(backfills_module, "asyncio", types.SimpleNamespace(to_thread=to_thread))
    body = {"from": "2026-03-01T13:00:00Z", "to": "2026-03-01T15:00:00Z"}
    result = expect(await client.post("/v1/schedules/hourly/backfill", json=body), 201)
    assert plans == 2
    assert (result["created"], result["excluded"]) == (0, 3)
    assert await list_jobs(client, trigger="backfill") == []


async def test_a_calendar_change_moves_all_its_schedules_in_one_write(
    client: httpx.AsyncClient, runtime: Runtime
):
    """Recomputing ``next_run_at`` after a calendar change compiles the calendar once and
    writes the moved times in one statement, however many schedules name it."""
    expect(await client.post("/v1/calendars", json={"name": "off", "dates": []}), 201)
    for n in range(30):
        await create_schedule(
            client, name=f"s{n}", cron="0 9 * * *", handler="h", exclude_calendars=["off"]
        )
    with sql_statements(runtime) as statements:
        # 2026-03-02 09:00 was every schedule's next fire: now it is off.
        patch = {"dates": ["2026-03-02"]}
        expect(await client.patch("/v1/calendars/off", json=patch), 200)
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE SCHEDULES")]
    assert len(updates) == 1, updates
    listed = expect(await client.get("/v1/schedules", params={"limit": 100}), 200)["data"]
    assert {s["next_run_at"] for s in listed} == {"2026-03-03T09:00:00Z"}


async def test_a_consecutive_failures_look_reads_the_last_runs_in_one_query(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock, database_url: str
):
    """The rule looks at every failing schedule each round: on PostgreSQL their last runs come
    in one query (a LATERAL top-N), not one query per schedule."""
    from tests.helpers import claim, report, run_scheduler
    from tests.test_api_alerts import alerts, create_rule, evaluate

    for n in range(25):
        await create_schedule(client, name=f"s{n}", cron="* * * * *", handler="h", max_retries=0)
    await create_rule(
        client, name="failing", condition={"type": "consecutive_failures", "count": 2}
    )
    for status in ("failed", "failed"):
        clock.advance(minutes=1)
        await run_scheduler(runtime)
        for job in await claim(client, ["h"], limit=25):
            await report(client, job["execution_id"], status)
    # One schedule succeeded last: not failing.
    clock.advance(minutes=1)
    await run_scheduler(runtime)
    for job in await claim(client, ["h"], limit=25):
        await report(client, job["execution_id"], "completed" if job["name"] == "s0" else "failed")

    with sql_statements(runtime) as statements:
        result = await evaluate(runtime)
    assert result.opened == 24
    firing = {a["subject"]["name"] for a in await alerts(client, status="firing", limit="100")}
    assert firing == {f"s{n}" for n in range(1, 25)}
    if database_url.startswith("postgresql"):
        per_schedule = [s for s in statements if "FROM jobs" in s and "LIMIT" in s]
        assert len(per_schedule) <= 1, len(per_schedule)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/alert-rules", {"condition": "missed"}),
        ("/v1/monitors", {"interval": "1h"}),
        ("/v1/calendars", {"dates": []}),
        ("/v1/schedules", {"handler": "h", "cron": "0 * * * *"}),
    ],
)
async def test_no_resource_name_can_be_taken_for_an_id_or_break_its_url(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
):
    """One name rule for every resource addressed by id or name (an alert rule named "a/b"
    could not be reached by name; a monitor named like a calendar id would be ambiguous)."""
    for name in ("a/b", "..", "arl_01m8k4rhw2e2gd2wrkcg61xj7j", "cal_01m8k4rhw2e2gd2wrkcg61xj7j"):
        response = await client.post(path, json={**body, "name": name})
        error = expect(response, 422)["error"]
        assert error["details"]["field"] == "name", error
    assert expect(await client.get(path), 200)["data"] == []


async def test_the_scheduler_reads_a_calendar_s_contents_only_when_it_changed(
    client: httpx.AsyncClient, runtime: Runtime, clock: FakeClock
):
    """Thousands of schedules can name one business-days calendar: a round reads which
    versions they name, and the contents only of a version it has not compiled yet."""
    from chronos.server.engine.scheduler import Scheduler

    expect(await client.post("/v1/calendars", json={"name": "off", "dates": []}), 201)
    for n in range(10):
        await create_schedule(
            client,
            name=f"s{n}",
            cron="* * * * *",
            handler="h",
            concurrency="allow",
            exclude_calendars=["off"],
        )
    scheduler = Scheduler(runtime.db, clock, runtime.notifier)
    with sql_statements(runtime) as statements:

        def contents_read() -> int:
            return sum(1 for s in statements if "calendars.spec" in s)

        clock.advance(minutes=1)
        assert (await scheduler.run_once()).fired == 10
        assert contents_read() == 1
        clock.advance(minutes=1)
        assert (await scheduler.run_once()).fired == 10
        assert contents_read() == 1  # compiled already
        expect(await client.patch("/v1/calendars/off", json={"dates": ["2026-03-02"]}), 200)
        statements.clear()
        clock.advance(minutes=1)
        assert (await scheduler.run_once()).fired == 10
        assert contents_read() == 1  # the new version, once
