"""Hostile-user and unlucky-operator regressions for issue 14's surfaces (calendars, monitors,
alerts, audit, backfill, the new schedule fields): each test here failed before its fix."""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chronos.server.domain.calendar_ics import IcsError, parse_ics
from chronos.server.domain.calendars import (
    WEEKDAYS,
    Calendar,
    CalendarError,
    CalendarTrigger,
    normalize_entries,
    rule_matches,
    slot_filter,
)
from chronos.server.domain.timing import CronTrigger
from tests.helpers import create_schedule, expect

METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data",
    "http://169.254.169.254./latest",  # trailing dot: still the literal address
    "http://2852039166/",  # 169.254.169.254 as one number, as the system resolver reads it
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://0251.0376.0251.0376/",
    "http://[fe80::1]/x",
    "http://[fe80::1%25eth0]/x",
    "http://[::ffff:169.254.169.254]/x",
    "http://[64:ff9b::a9fe:a9fe]/x",
    "http://100.100.100.200/",
    "http://[fd00:ec2::254]/",
]


def _push(url: str) -> dict[str, Any]:
    return {"delivery": {"type": "push", "http": {"url": url}}}


async def test_push_jobs_and_schedules_refuse_literal_metadata_targets_at_creation(client):
    """DESIGN §2: link-local and metadata targets are always refused; a literal one is known
    at creation, so it is a 422 there (DNS names are still judged at send time)."""
    for url in METADATA_URLS:
        job = await client.post("/v1/jobs", json={"name": "j", **_push(url)})
        assert job.status_code == 422, (url, job.text)
        assert job.json()["error"]["code"] == "invalid_url"
        batch = await client.post("/v1/jobs/batch", json={"jobs": [{"name": "j", **_push(url)}]})
        assert batch.status_code == 422, (url, batch.text)
        schedule = await client.post(
            "/v1/schedules", json={"name": "s", "cron": "* * * * *", **_push(url)}
        )
        assert schedule.status_code == 422, (url, schedule.text)
        alias = await client.post(
            "/v1/schedules", json={"name": "s", "cron": "* * * * *", "webhook": {"url": url}}
        )
        assert alias.status_code == 422, (url, alias.text)
        rule = await client.post(
            "/v1/alert-rules", json={"name": "r", "condition": "missed", "webhook": {"url": url}}
        )
        assert rule.status_code == 422, (url, rule.text)
    sane = await create_schedule(
        client, name="ok", cron="* * * * *", **_push("http://hooks.example.com/x")
    )
    patched = await client.patch(
        f"/v1/schedules/{sane['id']}", json=_push("http://169.254.169.254/")
    )
    assert patched.status_code == 422, patched.text
    assert expect(await client.get("/v1/jobs"), 200)["data"] == []
    assert [s["name"] for s in expect(await client.get("/v1/schedules"), 200)["data"]] == ["ok"]
    assert expect(await client.get("/v1/alert-rules"), 200)["data"] == []


# --- calendars: CPU bombs and the year 9999 ---------------------------------------------------

# A calendar whose 500 rules never hold (they start in the year 9xxx) and a leap-day rule: a
# schedule that runs only on it fires once in four years.
LEAP_DAYS = {
    "name": "leap",
    "rules": [{"kind": "yearly", "month": 2, "day": 29}]
    + [{"kind": "weekdays", "start": f"9{i:03d}-01-01"} for i in range(499)],
}


def test_calendar_membership_agrees_with_the_rules_however_many_there_are():
    """Rules are indexed (a day looks up a few keys): the same answer as trying every rule."""

    rng = random.Random(14)

    def rule() -> dict[str, Any]:
        kind = rng.choice(["weekends", "weekdays", "last_business_day", "nth_weekday", "yearly"])
        out: dict[str, Any] = {"kind": kind}
        if kind == "nth_weekday":
            out["weekday"] = rng.choice(WEEKDAYS)
            out["n"] = rng.choice([1, 2, 3, 4, 5, -1, -2, -3, -4, -5])
        if kind == "yearly" or (kind != "weekends" and rng.random() < 0.4):
            out["month"] = rng.randint(1, 12)
        if kind == "yearly":
            out["day"] = rng.randint(1, 29 if out["month"] == 2 else 30)
        if rng.random() < 0.6:
            start = date(2020, 1, 1) + timedelta(days=rng.randint(0, 2000))
            out["start"] = start.isoformat()
            if rng.random() < 0.5:
                out["end"] = (start + timedelta(days=rng.randint(0, 900))).isoformat()
        return out

    for _ in range(150):
        try:
            spec = normalize_entries([], [], [rule() for _ in range(rng.randint(1, 10))])
        except CalendarError:
            continue
        calendar = Calendar.compile(spec)
        for offset in range(0, 3200, 7):
            day = date(2019, 12, 1) + timedelta(days=offset + rng.randint(0, 6))
            expected = any(rule_matches(r, day) for r in spec["rules"])
            assert (day in calendar) == expected, (spec["rules"], day)


def test_many_calendars_of_many_rules_do_not_stall_the_next_fire_search():
    """20 excluded calendars and an only_calendar of 500 rules each, no day allowed: the
    next-fire search looks 10 years ahead. It took 15 s (every rule of every calendar on every
    day, on the event loop) at schedule creation, each calendar change and each resume."""

    rules = [{"kind": "weekdays", "start": f"9{i:03d}-01-01"} for i in range(500)]
    calendar = Calendar.compile(normalize_entries([], [], rules))
    calendars = {f"c{i}": calendar for i in range(21)}
    rules_filter = slot_filter([f"c{i}" for i in range(20)], "c20", "UTC", calendars)
    assert rules_filter is not None
    trigger = CalendarTrigger(CronTrigger.parse("0 0 * * *", "UTC"), rules_filter)
    started = time.perf_counter()
    assert trigger.next_fire(datetime(2026, 3, 1, tzinfo=UTC)) is None
    assert time.perf_counter() - started < 3


async def test_upcoming_and_preview_of_a_rare_calendar_look_ten_years_ahead_in_all(client):
    """Fires four years apart, each found by a fresh 10-year search: upcoming?count=1000 took
    217 s and preview?count=100 22 s. The whole list now looks 10 years ahead."""

    expect(await client.post("/v1/calendars", json=LEAP_DAYS), 201)
    body = {"name": "leap-only", "handler": "h", "cron": "0 0 * * *", "only_calendar": "leap"}
    started = time.perf_counter()
    preview = expect(await client.post("/v1/schedules/preview?count=100", json=body), 200)
    assert preview["data"] == [
        "2028-02-29T00:00:00Z",
        "2032-02-29T00:00:00Z",
        "2036-02-29T00:00:00Z",
    ]
    await create_schedule(client, **body)
    upcoming = expect(await client.get("/v1/schedules/leap-only/upcoming?count=1000"), 200)
    assert upcoming["data"] == preview["data"]
    assert time.perf_counter() - started < 5


def test_ics_count_rules_are_bounded_in_total():
    """5,000 events of ``RRULE:FREQ=YEARLY;COUNT=1000`` (425 KB) took ~2 minutes to read."""

    event = (
        "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20000101\r\n"
        "RRULE:FREQ=YEARLY;COUNT=1000\r\nEND:VEVENT\r\n"
    )
    started = time.perf_counter()
    with pytest.raises(IcsError, match="use UNTIL"):
        parse_ics("BEGIN:VCALENDAR\r\n" + event * 5000 + "END:VCALENDAR\r\n")
    assert time.perf_counter() - started < 5
    # A few COUNT rules still work, and end where they should.
    spec = parse_ics("BEGIN:VCALENDAR\r\n" + event * 3 + "END:VCALENDAR\r\n")
    assert spec["rules"] == [
        {"kind": "yearly", "month": 1, "day": 1, "start": "2000-01-01", "end": "2999-01-01"}
    ]
    thanksgiving = (
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261126\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH;COUNT=3\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260525\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=5;BYDAY=-1MO;COUNT=2\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    ends = sorted(rule["end"] for rule in parse_ics(thanksgiving)["rules"])
    assert ends == ["2027-05-31", "2028-11-23"]


async def test_calendars_at_the_end_of_time_are_a_4xx_or_work_never_a_500(client):
    """Ranges that end on 9999-12-31 (merged with ``+ 1 day``), ``/dates`` up to it, and an
    ics event whose DURATION runs past it were OverflowErrors: 500s."""
    expect(
        await client.post(
            "/v1/calendars",
            json={
                "name": "end",
                "dates": ["9999-12-31"],
                "ranges": [
                    {"from": "9999-12-30", "to": "9999-12-31"},
                    {"from": "9999-12-31", "to": "9999-12-31"},
                ],
            },
        ),
        201,
    )
    dates = expect(await client.get("/v1/calendars/end/dates?from=9999-12-01&to=9999-12-31"), 200)
    assert dates["data"] == ["9999-12-30", "9999-12-31"]
    await create_schedule(
        client, name="s", handler="h", cron="0 0 * * *", exclude_calendars=["end"]
    )
    ics = (
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:99991231\nDURATION:P2D\n"
        "END:VEVENT\nEND:VCALENDAR"
    )
    refused = await client.post("/v1/calendars/end/import", json={"ics": ics})
    assert refused.status_code == 422, refused.text
    assert "9999" in refused.json()["error"]["message"]


# --- the key-less ping URL ---------------------------------------------------------------------


async def test_a_keyless_ping_body_is_refused_at_the_ping_limit_not_the_api_limit(client):
    """Anyone may POST to ``/v1/ping/<token>`` (no key, a wrong token is only known later):
    the guard used to buffer up to the authenticated limit (16 MiB by default) before the
    route refused anything over 10 KiB. It stops reading past 10 KiB now."""
    read = 0

    async def body():
        nonlocal read
        for _ in range(256):  # 2 MiB in 8 KiB chunks
            read += 1
            yield b"x" * 8192

    response = await client.post("/v1/ping/not-a-token", content=body(), headers={})
    assert response.status_code == 413, response.text
    assert "10240 bytes" in response.json()["error"]["message"]
    assert read <= 3
    monitor = expect(await client.post("/v1/monitors", json={"name": "m", "interval": "1h"}), 201)
    ok = await client.post(f"/v1/ping/{monitor['ping_token']}", content=b"y" * 10240)
    assert ok.status_code == 200, ok.text


# --- backfill ------------------------------------------------------------------------------------


async def test_the_scan_limit_of_a_backfill_names_a_to_that_fits(client):
    """A per-second schedule that runs only on leap days, backfilled from 2000: its slots are
    all excluded, so the plan stops at the scan limit (100,000 slots looked at). The refusal
    used to advise the 100,000th slot as ``to``, which is refused again, forever."""
    expect(await client.post("/v1/calendars", json=LEAP_DAYS), 201)
    await create_schedule(
        client, name="secondly", handler="h", cron="* * * * * *", only_calendar="leap"
    )
    body = {"from": "2001-01-01T00:00:00Z", "to": "2002-01-01T00:00:00Z"}
    refused = await client.post("/v1/schedules/secondly/backfill", json=body)
    error = expect(refused, 422)["error"]
    assert error["code"] == "too_many_slots"
    assert "calendar-excluded ones included" in error["message"]
    advised = {**body, "to": error["details"]["last_allowed"]}
    created = expect(await client.post("/v1/schedules/secondly/backfill", json=advised), 201)
    assert (created["created"], created["excluded"]) == (0, 100_000)
