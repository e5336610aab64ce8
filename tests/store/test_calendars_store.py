"""The calendar store, called directly, on SQLite and PostgreSQL: the link table's foreign key
keeps a calendar in use from being deleted, and one query serves a scheduler batch."""

from __future__ import annotations

import pytest

from chronos.server.clock import FakeClock
from chronos.server.domain.calendars import CalendarRow
from chronos.server.store import calendars as store
from chronos.server.store.db import Database
from chronos.server.store.errors import UniqueViolation
from chronos.server.store.schedules import schedule_delete, schedule_insert
from tests.store.conftest import RowFactory, next_id


def calendar(account_id: str, clock: FakeClock, name: str) -> CalendarRow:
    return {
        "id": next_id("cal"),
        "account_id": account_id,
        "name": name,
        "description": None,
        "spec": {"dates": ["2026-12-25"], "ranges": [], "rules": [{"kind": "weekends"}]},
        "version": 1,
        "created_at": clock.now(),
        "updated_at": clock.now(),
    }


async def test_links_guard_deletes_and_serve_a_batch_in_one_query(
    db: Database, clock: FakeClock, account_id: str, schedule: RowFactory
):
    holidays = calendar(account_id, clock, "holidays")
    weekends = calendar(account_id, clock, "weekends")
    first, second, plain = schedule("a"), schedule("b"), schedule("c")
    async with db.transaction() as conn:
        for row in (holidays, weekends):
            await store.calendar_insert(conn, row)
        for row in (first, second, plain):
            await schedule_insert(conn, row)
        await store.schedule_calendars_set(conn, first["id"], [holidays["id"], weekends["id"]])
        await store.schedule_calendars_set(conn, second["id"], [weekends["id"]])
        with pytest.raises(UniqueViolation):
            await store.calendar_insert(conn, {**holidays, "id": next_id("cal")})

    async with db.read() as conn:
        found = await store.calendars_for_schedules(conn, [first["id"], second["id"], plain["id"]])
        assert {k: sorted(c["name"] for c in v) for k, v in found.items()} == {
            first["id"]: ["holidays", "weekends"],
            second["id"]: ["weekends"],
        }
        assert found[second["id"]][0] == weekends
        users = await store.calendar_users(conn, weekends["id"])
        assert [u["name"] for u in users] == ["a", "b"]
        by_name = await store.calendar_get_by_names(conn, account_id, ["holidays", "nope"])
        assert by_name == [holidays]

    # The database refuses to delete a calendar a schedule names.
    async with db.transaction() as conn:
        with pytest.raises(store.CalendarInUse):
            await store.calendar_delete(conn, account_id, holidays["id"])
    # Relinking drops the old link; deleting the schedule drops its links.
    async with db.transaction() as conn:
        await store.schedule_calendars_set(conn, first["id"], [weekends["id"]])
        assert await store.calendar_delete(conn, account_id, holidays["id"])
        await schedule_delete(conn, account_id, second["id"])
        await schedule_delete(conn, account_id, first["id"])
        assert await store.calendar_delete(conn, account_id, weekends["id"])
    # A link to a calendar that no longer exists is refused, not left dangling.
    async with db.transaction() as conn:
        with pytest.raises(store.CalendarGone):
            await store.schedule_calendars_set(conn, plain["id"], [holidays["id"]])


async def test_get_by_id_or_name_stays_in_the_account(
    db: Database, clock: FakeClock, account_id: str, other_account_id: str
):
    mine = calendar(account_id, clock, "holidays")
    theirs = calendar(other_account_id, clock, "holidays")
    async with db.transaction() as conn:
        await store.calendar_insert(conn, mine)
        await store.calendar_insert(conn, theirs)
        await store.calendar_update(conn, mine["id"], {"description": "ours", "version": 2})
    async with db.read() as conn:
        assert (await store.calendar_get(conn, account_id, mine["id"]))["description"] == "ours"  # type: ignore[index]
        assert (await store.calendar_get(conn, account_id, "holidays"))["id"] == mine["id"]  # type: ignore[index]
        assert await store.calendar_get(conn, account_id, theirs["id"]) is None
        rows, cursor = await store.calendar_list(conn, account_id, limit=1)
        assert [r["id"] for r in rows] == [mine["id"]] and cursor is None
