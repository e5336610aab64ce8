"""Pure time logic: next fire times, DST, misfire plans. No database, no clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronos.server.domain.timing import (
    CronTrigger,
    IntervalTrigger,
    MisfirePolicy,
    TimingError,
    Window,
    next_fire,
    parse_every,
    plan_fires,
    upcoming,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_cron_is_evaluated_in_the_schedule_timezone():
    trigger = CronTrigger.parse("0 2 * * *", "America/New_York")
    assert trigger.next_fire(utc(2026, 1, 1)) == utc(2026, 1, 1, 7)
    assert trigger.next_fire(utc(2026, 7, 1)) == utc(2026, 7, 1, 6)


def test_next_fire_is_strictly_after():
    trigger = CronTrigger.parse("0 * * * *")
    assert trigger.next_fire(utc(2026, 1, 1, 5)) == utc(2026, 1, 1, 6)


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", utc(2026, 1, 1, 6)),
        ("@daily", utc(2026, 1, 2)),
        ("@monthly", utc(2026, 2, 1)),
        ("@yearly", utc(2027, 1, 1)),
        ("@weekly", utc(2026, 1, 4)),
    ],
)
def test_cron_aliases(alias, expected):
    assert CronTrigger.parse(alias).next_fire(utc(2026, 1, 1, 5, 30)) == expected


def test_six_fields_put_seconds_first():
    trigger = CronTrigger.parse("*/10 * * * * *")
    assert upcoming(trigger, utc(2026, 1, 1), 3) == [
        utc(2026, 1, 1, 0, 0, 10),
        utc(2026, 1, 1, 0, 0, 20),
        utc(2026, 1, 1, 0, 0, 30),
    ]


def test_day_of_month_and_weekday_both_restricted_means_either():
    trigger = CronTrigger.parse("0 0 13 * 5")  # the 13th, or any Friday
    fires = upcoming(trigger, utc(2026, 2, 1), 3)
    assert fires == [utc(2026, 2, 6), utc(2026, 2, 13), utc(2026, 2, 20)]


@pytest.mark.parametrize(
    "expression", ["* * *", "61 * * * *", "not a cron", "0 0 31 2 *", "@fortnightly", ""]
)
def test_invalid_cron_is_rejected(expression):
    with pytest.raises(TimingError):
        CronTrigger.parse(expression)


def test_unknown_timezone_is_rejected():
    with pytest.raises(TimingError, match="unknown timezone"):
        CronTrigger.parse("0 * * * *", "Mars/Olympus_Mons")


def test_spring_forward_gap_fires_once_just_after_the_gap():
    # 2026-03-08: New York clocks jump from 02:00 to 03:00; 02:30 does not exist.
    trigger = CronTrigger.parse("30 2 * * *", "America/New_York")
    fires = upcoming(trigger, utc(2026, 3, 7), 3)
    assert fires == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]


def test_fall_back_repeated_hour_fires_once():
    # 2026-11-01: New York repeats 01:00-02:00; 01:30 happens twice but fires once.
    trigger = CronTrigger.parse("30 1 * * *", "America/New_York")
    fires = upcoming(trigger, utc(2026, 10, 31), 3)
    assert fires == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_interval_slots_are_anchored_and_do_not_drift():
    trigger = IntervalTrigger(90, utc(2026, 1, 1))
    assert trigger.next_fire(utc(2026, 1, 1)) == utc(2026, 1, 1, 0, 1, 30)
    assert trigger.next_fire(utc(2026, 1, 1, 0, 1, 31)) == utc(2026, 1, 1, 0, 3)
    assert trigger.latest_fire(utc(2026, 1, 1, 0, 2, 59)) == utc(2026, 1, 1, 0, 1, 30)


def test_interval_with_start_at_fires_at_start_at_first():
    trigger = IntervalTrigger(60, utc(2026, 1, 1, 9), first_index=0)
    window = Window(start_at=utc(2026, 1, 1, 9))
    assert next_fire(trigger, utc(2026, 1, 1), window) == utc(2026, 1, 1, 9)


def test_window_end_stops_firing():
    trigger = IntervalTrigger(60, utc(2026, 1, 1))
    window = Window(end_at=utc(2026, 1, 1, 0, 2))
    assert upcoming(trigger, utc(2026, 1, 1), 10, window) == [
        utc(2026, 1, 1, 0, 1),
        utc(2026, 1, 1, 0, 2),
    ]


def test_every_alias():
    assert parse_every("@every 90s") == "90s"
    assert parse_every("0 * * * *") is None


def test_run_once_fires_only_the_latest_missed_slot():
    trigger = IntervalTrigger(1, utc(2026, 1, 1))
    plan = plan_fires(trigger, utc(2026, 1, 1, 0, 0, 1), utc(2026, 1, 1, 1, 0, 0, 500))
    assert plan.slots == [utc(2026, 1, 1, 1)]
    assert plan.next_run_at == utc(2026, 1, 1, 1, 0, 1)
    assert plan.missed == 3599


def test_on_time_slot_fires_normally():
    trigger = IntervalTrigger(1, utc(2026, 1, 1))
    plan = plan_fires(trigger, utc(2026, 1, 1, 0, 0, 5), utc(2026, 1, 1, 0, 0, 5, 2000))
    assert plan.slots == [utc(2026, 1, 1, 0, 0, 5)]
    assert plan.missed == 0


def test_run_all_fires_every_missed_slot_inside_the_catchup_window():
    trigger = IntervalTrigger(60, utc(2026, 1, 1))
    plan = plan_fires(
        trigger,
        utc(2026, 1, 1, 0, 1),
        utc(2026, 1, 1, 3),
        policy=MisfirePolicy.RUN_ALL,
        catchup_window=timedelta(minutes=5),
    )
    assert plan.slots == [utc(2026, 1, 1, 2, 55) + timedelta(minutes=i) for i in range(6)]
    assert plan.next_run_at == utc(2026, 1, 1, 3, 1)


def test_skip_drops_late_slots_and_keeps_on_time_ones():
    trigger = IntervalTrigger(60, utc(2026, 1, 1))
    late = plan_fires(
        trigger, utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 10, 30), policy=MisfirePolicy.SKIP
    )
    assert late.slots == []
    assert late.next_run_at == utc(2026, 1, 1, 0, 11)
    on_time = plan_fires(
        trigger, utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 1, 1), policy=MisfirePolicy.SKIP
    )
    assert on_time.slots == [utc(2026, 1, 1, 0, 1)]


TIMEZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
    "Europe/Berlin",
    "Pacific/Chatham",
]
CRON_FIELDS = st.tuples(
    st.sampled_from(["0", "*/15", "30", "5,35", "*"]),
    st.sampled_from(["*", "1", "2", "1-3", "*/2", "0"]),
    st.sampled_from(["*", "1", "15", "1-7"]),
    st.sampled_from(["*", "3", "10,11", "*/3"]),
    st.sampled_from(["*", "0", "1-5"]),
)


@settings(max_examples=150, deadline=None)
@given(
    fields=CRON_FIELDS,
    timezone=st.sampled_from(TIMEZONES),
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 1)),
)
def test_cron_fire_times_strictly_increase_and_match_latest_fire(fields, timezone, start):
    trigger = CronTrigger.parse(" ".join(fields), timezone)
    fires = upcoming(trigger, start.replace(tzinfo=UTC), 40)
    assert fires, "every generated expression fires"
    assert all(a < b for a, b in itertools.pairwise(fires))
    for fire in fires[1:]:
        # Each fire time is the latest one at or before itself: none is skipped over.
        assert trigger.latest_fire(fire) == fire
        assert trigger.latest_fire(fire - timedelta(microseconds=1)) < fire


@settings(max_examples=60, deadline=None)
@given(
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    timezone=st.sampled_from(TIMEZONES),
    year=st.sampled_from([2025, 2026, 2027]),
)
def test_daily_cron_fires_once_every_local_day_across_dst(hour, minute, timezone, year):
    trigger = CronTrigger.parse(f"{minute} {hour} * * *", timezone)
    fires = upcoming(trigger, datetime(year, 1, 1, tzinfo=UTC), 370)
    local_days = [f.astimezone(ZoneInfo(timezone)).date() for f in fires]
    assert len(local_days) == len(set(local_days)), "no local day fires twice"
    gaps = {(b - a).days for a, b in itertools.pairwise(local_days)}
    assert gaps == {1}, "no local day is lost"


@settings(max_examples=100, deadline=None)
@given(seconds=st.integers(1, 10_000), offset=st.integers(0, 10**9), after=st.integers(0, 10**9))
def test_interval_next_fire_is_the_first_slot_after(seconds, offset, after):
    anchor = utc(2026, 1, 1) + timedelta(microseconds=offset)
    trigger = IntervalTrigger(seconds, anchor)
    instant = anchor + timedelta(microseconds=after)
    fire = trigger.next_fire(instant)
    assert fire > instant
    assert fire - timedelta(seconds=seconds) <= max(instant, anchor)
    assert (fire - anchor) % timedelta(seconds=seconds) == timedelta(0)
