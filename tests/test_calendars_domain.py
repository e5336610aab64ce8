"""Calendars as pure logic: membership, validation, the .ics reader, and a schedule's slots with
the excluded ones taken out (checked against a brute-force walk of the raw slots)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronos.server.domain.calendar_ics import IcsError, parse_ics
from chronos.server.domain.calendars import (
    MAX_DATES,
    Calendar,
    CalendarError,
    CalendarTrigger,
    count_excluded,
    normalize_entries,
    rule_matches,
    slot_filter,
)
from chronos.server.domain.ledger import SlotOutcome, build_ledger
from chronos.server.domain.schedules import (
    new_schedule,
    next_run_after_calendar_change,
    plan,
    upcoming_fires,
)
from chronos.server.domain.timing import CronTrigger, IntervalTrigger

UTC_NOON = datetime(2026, 3, 2, 12, tzinfo=UTC)  # a Monday


def cal(dates=(), ranges=(), rules=()) -> Calendar:
    return Calendar.compile(normalize_entries(list(dates), list(ranges), list(rules)))


# --- membership -----------------------------------------------------------------------------


def test_dates_ranges_and_weekends():
    holidays = cal(["2026-12-25"], [{"from": "2026-12-30", "to": "2027-01-02"}], ["weekends"])
    assert date(2026, 12, 25) in holidays  # listed (a Friday)
    assert date(2026, 12, 26) in holidays  # Saturday
    assert date(2026, 12, 28) not in holidays  # Monday
    assert {date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 1)} <= set(
        holidays.days_between(date(2026, 12, 29), date(2027, 1, 3))
    )
    assert date(2026, 12, 29) not in holidays


def test_rules_thanksgiving_memorial_day_last_business_day_and_yearly():
    thanksgiving = cal(rules=[{"kind": "nth_weekday", "weekday": "thu", "n": 4, "month": 11}])
    assert thanksgiving.days_between(date(2026, 1, 1), date(2027, 12, 31)) == [
        date(2026, 11, 26),
        date(2027, 11, 25),
    ]
    memorial = cal(rules=[{"kind": "nth_weekday", "weekday": "mon", "n": -1, "month": 5}])
    assert memorial.days_between(date(2026, 1, 1), date(2026, 12, 31)) == [date(2026, 5, 25)]
    last_bd = cal(rules=["last_business_day"])
    # January 2026 ends on a Saturday, May 2026 on a Sunday, March 2026 on a Tuesday.
    assert date(2026, 1, 30) in last_bd and date(2026, 1, 31) not in last_bd
    assert date(2026, 5, 29) in last_bd and date(2026, 3, 31) in last_bd
    leap = cal(rules=[{"kind": "yearly", "month": 2, "day": 29}])
    assert leap.days_between(date(2025, 1, 1), date(2028, 12, 31)) == [date(2028, 2, 29)]
    bounded = cal(rules=[{"kind": "yearly", "month": 7, "day": 4, "start": "2027-01-01"}])
    assert date(2026, 7, 4) not in bounded and date(2027, 7, 4) in bounded
    weekdays = cal(rules=["weekdays"])
    assert date(2026, 3, 2) in weekdays and date(2026, 3, 1) not in weekdays


@given(st.dates(min_value=date(1971, 1, 1), max_value=date(8999, 12, 31)))
def test_a_day_is_its_weekdays_nth_occurrence_exactly_once_from_each_end(day: date):
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()]
    forward = [n for n in range(1, 6) if rule_matches(_nth(weekday, n), day)]
    backward = [n for n in range(-5, 0) if rule_matches(_nth(weekday, n), day)]
    assert forward == [(day.day - 1) // 7 + 1]
    assert len(backward) == 1
    assert (day + timedelta(days=-7 * backward[0])).month != day.month  # -n weeks on: gone


def _nth(weekday: str, n: int) -> dict:
    return {"kind": "nth_weekday", "weekday": weekday, "n": n}


_days = st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31))
_rules = st.sampled_from(
    [
        "weekends",
        "weekdays",
        "last_business_day",
        {"kind": "nth_weekday", "weekday": "thu", "n": 4, "month": 11},
        {"kind": "nth_weekday", "weekday": "fri", "n": -1},
        {"kind": "yearly", "month": 12, "day": 25},
        {"kind": "yearly", "month": 1, "day": 1, "end": "2026-12-31"},
    ]
)


@given(
    dates=st.lists(_days, max_size=20),
    ranges=st.lists(st.tuples(_days, st.integers(0, 40)), max_size=5),
    rules=st.lists(_rules, max_size=3),
    probe=_days,
)
def test_membership_is_what_the_entries_say(dates, ranges, rules, probe):
    spans = [(first, first + timedelta(days=length)) for first, length in ranges]
    spec = normalize_entries(
        [d.isoformat() for d in dates],
        [{"from": a.isoformat(), "to": b.isoformat()} for a, b in spans],
        rules,
    )
    expected = (
        probe in dates
        or any(a <= probe <= b for a, b in spans)
        or any(rule_matches(rule, probe) for rule in spec["rules"])
    )
    assert (probe in Calendar.compile(spec)) is expected


@pytest.mark.parametrize(
    ("dates", "ranges", "rules", "field"),
    [
        (["2026-02-30"], [], [], "dates[0]"),
        (["26-01-01"], [], [], "dates[0]"),
        ([20260101], [], [], "dates[0]"),
        ([], [{"from": "2026-01-02", "to": "2026-01-01"}], [], "ranges[0]"),
        ([], [{"from": "2026-01-02"}], [], "ranges[0]"),
        ([], [], ["holidays"], "rules[0]"),
        ([], [], [{"kind": "nth_weekday", "weekday": "thu", "n": 0}], "rules[0]"),
        ([], [], [{"kind": "nth_weekday", "weekday": "thursday", "n": 1}], "rules[0]"),
        ([], [], [{"kind": "yearly", "month": 2, "day": 30}], "rules[0]"),
        ([], [], [{"kind": "yearly", "day": 3}], "rules[0]"),
        ([], [], [{"kind": "weekends", "n": 2}], "rules[0]"),
        ([], [], [{"kind": "nth_weekday", "weekday": "mon", "n": True}], "rules[0]"),
    ],
)
def test_bad_entries_name_where(dates, ranges, rules, field):
    with pytest.raises(CalendarError) as caught:
        normalize_entries(dates, ranges, rules)
    assert caught.value.field == field


def test_entries_are_canonical_and_bounded():
    spec = normalize_entries(
        ["2026-01-02", "2026-01-01", "2026-01-02"], [], ["weekends", {"kind": "weekends"}]
    )
    assert spec == {
        "dates": ["2026-01-01", "2026-01-02"],
        "ranges": [],
        "rules": [{"kind": "weekends"}],
    }
    many = [(date(2000, 1, 1) + timedelta(days=i)).isoformat() for i in range(MAX_DATES + 1)]
    with pytest.raises(CalendarError, match="at most"):
        normalize_entries(many, [], [])


# --- the .ics reader ------------------------------------------------------------------------

ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/Paris\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:1\r
SUMMARY:Christmas\r
DTSTART;VALUE=DATE:20261225\r
DTEND;VALUE=DATE:20261226\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:2\r
SUMMARY;LANGUAGE=en:Closed for the\r
  holidays\r
DTSTART;VALUE=DATE:20261228\r
DTEND;VALUE=DATE:20270102\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:3\r
DTSTART;VALUE=DATE:20200101\r
RRULE:FREQ=YEARLY\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
END:VALARM\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:4\r
DTSTART;VALUE=DATE:20201126\r
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:5\r
DTSTART;VALUE=DATE:20260704\r
RRULE:FREQ=YEARLY;COUNT=2\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:6\r
STATUS:CANCELLED\r
DTSTART;VALUE=DATE:20260301\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:7\r
DTSTART;VALUE=DATE:20260501\r
DURATION:P2D\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_ics_all_day_events_become_dates_ranges_and_yearly_rules():
    spec = parse_ics(ICS)
    assert spec["dates"] == ["2026-12-25"]
    assert spec["ranges"] == [
        {"from": "2026-05-01", "to": "2026-05-02"},
        {"from": "2026-12-28", "to": "2027-01-01"},
    ]
    assert {"kind": "yearly", "month": 1, "day": 1, "start": "2020-01-01"} in spec["rules"]
    assert {
        "kind": "nth_weekday",
        "weekday": "thu",
        "n": 4,
        "month": 11,
        "start": "2020-11-26",
    } in spec["rules"]
    assert {
        "kind": "yearly",
        "month": 7,
        "day": 4,
        "start": "2026-07-04",
        "end": "2027-07-04",
    } in spec["rules"]
    calendar = Calendar.compile(spec)
    assert date(2026, 3, 1) not in calendar  # the cancelled event
    assert date(2028, 7, 4) not in calendar and date(2027, 7, 4) in calendar


def _wrap(*lines: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", *lines, "END:VCALENDAR", ""])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "BEGIN:VCALENDAR"),
        ("hello", "BEGIN:VCALENDAR"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", "END:VCALENDAR is missing"),
        (_wrap("BEGIN:VEVENT", "DTSTART:20260101T090000Z", "END:VEVENT"), "only all-day"),
        (_wrap("BEGIN:VEVENT", "END:VEVENT"), "without DTSTART"),
        (_wrap("BEGIN:VEVENT", "DTSTART;VALUE=DATE:20260230", "END:VEVENT"), "DTSTART"),
        (_wrap("BEGIN:VEVENT", "DTSTART;VALUE=DATE:20260101", "END:VTODO"), "does not close"),
        (
            _wrap("BEGIN:VEVENT", "DTSTART;VALUE=DATE:20260101", "EXDATE:20270101", "END:VEVENT"),
            "EXDATE",
        ),
        (
            _wrap("BEGIN:VEVENT", "DTSTART;VALUE=DATE:20260101", "RRULE:FREQ=WEEKLY", "END:VEVENT"),
            "FREQ=YEARLY",
        ),
        (
            _wrap(
                "BEGIN:VEVENT",
                "DTSTART;VALUE=DATE:20260101",
                "RRULE:FREQ=YEARLY;BYDAY=TH",
                "END:VEVENT",
            ),
            "BYDAY",
        ),
        (_wrap("BEGIN:VEVENT", "DTSTART;VALUE=DATE:20260101", "END:VEVENT") + "X:1", "after"),
        ("BEGIN:VCALENDAR\x00", "NUL"),
        (_wrap("X-LONG:" + "a" * 20_000), "longer than"),
        (_wrap(*["BEGIN:X"] * 20, *["END:X"] * 20), "nested too deep"),
        (_wrap("no colon here"), "without ':'"),
        (_wrap('X;P="unclosed:1'), "line"),
    ],
)
def test_hostile_or_unsupported_ics_is_refused_with_the_line(text, message):
    with pytest.raises(IcsError, match=message):
        parse_ics(text)


def test_an_ics_with_too_many_events_is_refused():
    event = ["BEGIN:VEVENT", "DTSTART;VALUE=DATE:20260101", "END:VEVENT"]
    with pytest.raises(IcsError, match="more than"):
        parse_ics(_wrap(*(event * (MAX_DATES + 1))))


# --- a schedule's slots ---------------------------------------------------------------------

_ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]


def _brute_next(inner, rules, after: datetime) -> datetime | None:
    cursor = after
    for _ in range(20_000):
        fire = inner.next_fire(cursor)
        if fire is None:
            return None
        if rules.reason(fire) is None:
            return fire
        cursor = fire
    raise AssertionError("no fire found")


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(_ZONES),
    expression=st.sampled_from(["0 9 * * *", "*/30 * * * *", "30 2 * * *", "0 0 * * *"]),
    excluded=st.lists(_days, max_size=30),
    weekends=st.booleans(),
    only_weekdays=st.booleans(),
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 1)),
)
def test_a_calendar_trigger_fires_at_the_first_raw_slot_not_excluded(
    zone, expression, excluded, weekends, only_weekdays, start
):
    calendars = {
        "off": cal([d.isoformat() for d in excluded], [], ["weekends"] if weekends else []),
        "business": cal(rules=["weekdays"]),
    }
    rules = slot_filter(["off"], "business" if only_weekdays else None, zone, calendars)
    assert rules is not None
    inner = CronTrigger(expression, zone)
    trigger = CalendarTrigger(inner, rules)
    after = start.replace(tzinfo=UTC)
    expected = _brute_next(inner, rules, after)
    assert trigger.next_fire(after) == expected
    if expected is not None:
        # Backwards: the latest allowed slot at or before it is itself.
        assert trigger.latest_fire(expected) == expected
        assert trigger.latest_fire(expected - timedelta(microseconds=1)) in (
            None,
            _brute_latest(inner, rules, expected - timedelta(microseconds=1)),
        )


def _brute_latest(inner, rules, before: datetime) -> datetime | None:
    cursor = before
    for _ in range(20_000):
        fire = inner.latest_fire(cursor)
        if fire is None:
            return None
        if rules.reason(fire) is None:
            return fire
        cursor = fire - timedelta(microseconds=1)
    raise AssertionError("no fire found")


@settings(max_examples=40, deadline=None)
@given(
    zone=st.sampled_from(_ZONES),
    seconds=st.sampled_from([600, 3600, 5400]),
    excluded=st.lists(_days, max_size=10),
    span_hours=st.integers(1, 24 * 20),
)
def test_count_excluded_counts_the_excluded_raw_slots(zone, seconds, excluded, span_hours):
    calendars = {"off": cal([d.isoformat() for d in excluded], [], ["weekends"])}
    rules = slot_filter(["off"], None, zone, calendars)
    assert rules is not None
    inner = IntervalTrigger(seconds, datetime(2025, 1, 1, 0, 7, tzinfo=UTC))
    start = datetime(2026, 2, 25, 3, tzinfo=UTC)
    end = start + timedelta(hours=span_hours)
    brute, cursor = 0, start - timedelta(microseconds=1)
    while (fire := inner.next_fire(cursor)) is not None and fire < end:
        brute += rules.reason(fire) is not None
        cursor = fire
    assert count_excluded(inner, rules, start, end) == brute


def test_a_calendar_that_excludes_every_day_leaves_no_next_fire():
    everything = {"all": cal(rules=["weekends", "weekdays"])}
    rules = slot_filter(["all"], None, "UTC", everything)
    assert rules is not None
    trigger = CalendarTrigger(IntervalTrigger(1, UTC_NOON), rules)
    assert trigger.next_fire(UTC_NOON) is None
    assert trigger.latest_fire(UTC_NOON) is None


def _spec(**fields) -> dict:
    base = {
        "name": "s",
        "description": None,
        "handler": "h",
        "payload": None,
        "delivery": {"type": "pull"},
        "timeout": 30.0,
        "max_retries": 0,
        "retry_policy": {"initial_interval": 1.0, "multiplier": 2.0, "max_interval": 60.0},
        "tags": {},
        "cron": "0 9 * * *",
        "interval": None,
        "timezone": "Europe/Paris",
        "start_at": None,
        "end_at": None,
        "concurrency": "allow",
        "misfire_policy": "run_once",
        "catchup_window": 3600.0,
        "enabled": True,
    }
    return {**base, **fields}


def test_the_scheduler_plan_skips_excluded_days_even_a_stale_next_run_at():
    spec = _spec(exclude_calendars=["holidays"])
    holidays = {"holidays": cal(["2026-03-03"])}  # Tuesday
    now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # Monday 10:30 in Paris
    row = new_schedule("acc", spec, now, holidays)  # type: ignore[arg-type]
    assert row["next_run_at"] == datetime(2026, 3, 4, 8, tzinfo=UTC)  # Wednesday 09:00 Paris
    assert upcoming_fires(row, now, 2, holidays)[0] == row["next_run_at"]
    # next_run_at was planned before Tuesday became a holiday: at Tuesday 09:00 it does not fire.
    stale = {**row, "next_run_at": datetime(2026, 3, 3, 8, tzinfo=UTC)}
    tuesday = datetime(2026, 3, 3, 8, 0, 1, tzinfo=UTC)
    fire_plan = plan(stale, tuesday, holidays)  # type: ignore[arg-type]
    assert fire_plan.slots == [] and fire_plan.missed == 0
    assert fire_plan.next_run_at == datetime(2026, 3, 4, 8, tzinfo=UTC)
    assert next_run_after_calendar_change(stale, tuesday, holidays) == fire_plan.next_run_at  # type: ignore[arg-type]
    # The same slot with the calendar emptied fires (a due slot stays due).
    assert (
        next_run_after_calendar_change(stale, tuesday, {"holidays": cal()}) == stale["next_run_at"]
    )  # type: ignore[arg-type]


def test_only_calendar_restricts_to_its_dates():
    spec = _spec(only_calendar="business", timezone="UTC")
    business = {"business": cal(rules=["weekdays"])}
    friday = datetime(2026, 3, 6, 10, tzinfo=UTC)
    row = new_schedule("acc", spec, friday, business)  # type: ignore[arg-type]
    fires = upcoming_fires(row, friday, 3, business)
    assert [f.date() for f in fires] == [date(2026, 3, 9), date(2026, 3, 10), date(2026, 3, 11)]


def test_the_ledger_says_excluded_with_the_calendar_name():
    spec = _spec(exclude_calendars=["holidays"], timezone="UTC")
    created = datetime(2026, 3, 1, tzinfo=UTC)
    row = new_schedule("acc", spec, created)  # type: ignore[arg-type]
    versions = [{"version": 1, "spec": spec, "created_at": created}]
    ledger = build_ledger(
        row,
        versions,  # type: ignore[arg-type]
        [],
        [],
        start=created,
        end=datetime(2026, 3, 4, tzinfo=UTC),
        now=datetime(2026, 3, 4, tzinfo=UTC),
        pruned_before=None,
        late_after=timedelta(seconds=10),
        calendars={"holidays": cal(["2026-03-02"])},
    )
    outcomes = {slot.at.date(): (slot.outcome, slot.reason) for slot in ledger.slots}
    assert outcomes[date(2026, 3, 2)][0] is SlotOutcome.EXCLUDED
    assert "'holidays'" in str(outcomes[date(2026, 3, 2)][1])
    assert outcomes[date(2026, 3, 3)][0] is SlotOutcome.MISSED


def test_local_date_is_the_schedules_timezone():
    # 23:30 UTC on Monday is already Tuesday in Paris.
    rules = slot_filter(["t"], None, "Europe/Paris", {"t": cal(["2026-03-03"])})
    assert rules is not None
    assert rules.reason(datetime(2026, 3, 2, 23, 30, tzinfo=UTC)) is not None
    assert rules.reason(datetime(2026, 3, 2, 22, 30, tzinfo=UTC)) is None
    assert rules.zone == ZoneInfo("Europe/Paris")


@settings(max_examples=30, deadline=None)
@given(
    zone=st.sampled_from(_ZONES),
    excluded=st.lists(st.dates(date(2026, 3, 1), date(2026, 3, 20)), max_size=8),
    weekends=st.booleans(),
    step_hours=st.sampled_from([1, 5, 13, 30]),
    policy=st.sampled_from(["run_once", "run_all", "skip"]),
)
def test_a_simulated_scheduler_never_fires_an_excluded_slot_and_misses_no_allowed_one(
    zone, excluded, weekends, step_hours, policy
):
    calendars = {
        "off": cal([d.isoformat() for d in excluded], [], ["weekends"] if weekends else [])
    }
    spec = _spec(
        cron="0 */6 * * *",
        timezone=zone,
        exclude_calendars=["off"],
        misfire_policy=policy,
        catchup_window=86400.0 * 30,
    )
    now = datetime(2026, 3, 1, tzinfo=UTC)
    row = new_schedule("acc", spec, now, calendars)  # type: ignore[arg-type]
    rules = slot_filter(["off"], None, zone, calendars)
    assert rules is not None
    fired: list[datetime] = []
    missed = 0
    end = datetime(2026, 3, 20, tzinfo=UTC)
    while now < end:
        now += timedelta(hours=step_hours)
        if row["next_run_at"] is None or row["next_run_at"] > now:
            continue
        fire_plan = plan(row, now, calendars)  # type: ignore[arg-type]
        assert all(rules.reason(slot) is None for slot in fire_plan.slots)
        fired += fire_plan.slots
        missed += fire_plan.missed
        row = {**row, "next_run_at": fire_plan.next_run_at}
    inner = CronTrigger("0 */6 * * *", zone)
    allowed, cursor = 0, datetime(2026, 3, 1, tzinfo=UTC)
    while (slot := inner.next_fire(cursor)) is not None and slot <= now:
        if slot < (row["next_run_at"] or now + timedelta(days=1)):
            allowed += rules.reason(slot) is None
        cursor = slot
    # Every allowed slot up to the last planned one either fired or was counted missed.
    assert len(fired) + missed == allowed
    if policy == "run_all":
        assert missed == 0
