"""DST policy per schedule (``dst_policy: {"gap", "overlap"}``): pure trigger tests, property
tests against the IANA database (zoneinfo), the preview's per-fire notes, and the API.

The default policy (``shift`` / ``first``) must fire exactly where Chronos fired before the
policy existed, which was cronsim's own Debian-cron handling: the first property test compares
the two over many zones and years, with start instants near real offset changes.
"""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from cronsim import CronSim
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronos.server.domain.preview import offset_changes, preview_schedule
from chronos.server.domain.timing import (
    CronTrigger,
    _known_timezones,
    upcoming,
)
from chronos.server.normalize import normalize_schedule
from chronos.server.schemas import ScheduleIn
from tests.helpers import create_schedule, expect

NEW_YORK, SYDNEY = "America/New_York", "Australia/Sydney"
ALL_ZONES = sorted(_known_timezones())
# Zones whose rules are unusual: 30- and 45-minute shifts, changes at midnight, date-line moves.
ODD_ZONES = [
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Havana",
    "America/Santiago",
    "America/Asuncion",
    "Asia/Tehran",
    "Asia/Beirut",
    "Africa/Cairo",
    "Europe/Chisinau",
    "Pacific/Apia",
    "America/Godthab",
    "Antarctica/Troll",
]
ZONES = st.one_of(st.sampled_from(ALL_ZONES), st.sampled_from([*ODD_ZONES, NEW_YORK, SYDNEY]))
YEARS = st.integers(1970, 2037)
_MICRO = timedelta(microseconds=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def trigger(expression: str, zone: str, gap: str = "shift", overlap: str = "first") -> CronTrigger:
    return CronTrigger.parse(expression, zone, gap=gap, overlap=overlap)


def fires_between(cron: CronTrigger, start: datetime, end: datetime) -> list[datetime]:
    found, cursor = [], start
    while (fire := cron.next_fire(cursor)) is not None and fire <= end:
        found.append(fire)
        cursor = fire
    return found


# --- the documented table: New York and Sydney ------------------------------------------------

# New York 2026: clocks jump 02:00 → 03:00 on 8 March and fall back 02:00 → 01:00 on 1 November.
# Sydney 2026: clocks fall back 03:00 → 02:00 on 5 April and jump 02:00 → 03:00 on 4 October.


def test_gap_shift_runs_at_the_first_instant_after_the_gap_and_skip_does_not_run():
    for zone, day in ((NEW_YORK, (2026, 3, 8)), (SYDNEY, (2026, 10, 4))):
        before = local(zone, *day) - timedelta(hours=1)
        shifted = trigger("30 2 * * *", zone).next_fire(before)
        assert shifted == local(zone, *day, 3, 0)
        skipped = trigger("30 2 * * *", zone, gap="skip").next_fire(before)
        assert skipped == local(zone, *(day[:2]), day[2] + 1, 2, 30)


@pytest.mark.parametrize(
    ("zone", "expression", "day"),
    [(NEW_YORK, "30 1 * * *", (2026, 11, 1, 1, 30)), (SYDNEY, "30 2 * * *", (2026, 4, 5, 2, 30))],
)
def test_overlap_first_last_and_both(zone, expression, day):
    first, second = local(zone, *day), local(zone, *day, fold=1)
    assert second - first == timedelta(hours=1)
    start, end = first - timedelta(days=1, hours=1), first + timedelta(days=1)
    previous = first - timedelta(days=1)
    following = second + timedelta(days=1)
    assert fires_between(trigger(expression, zone), start, end) == [previous, first]
    by_last = fires_between(trigger(expression, zone, overlap="last"), start, end)
    assert by_last == [previous, second]
    by_both = fires_between(trigger(expression, zone, overlap="both"), start, following)
    assert by_both == [previous, first, second, following]


def test_latest_fire_honours_the_policy():
    zone = NEW_YORK
    first, second = local(zone, 2026, 11, 1, 1, 30), local(zone, 2026, 11, 1, 1, 30, fold=1)
    assert trigger("30 1 * * *", zone, overlap="last").latest_fire(second) == second
    assert trigger("30 1 * * *", zone, overlap="last").latest_fire(second - _MICRO) < first
    assert trigger("30 1 * * *", zone, overlap="both").latest_fire(second - _MICRO) == first
    # Inside the second pass, the first occurrence is the latest fire (cronsim's own reverse
    # walk said "the day before" here; planning and the ledger now agree with next_fire).
    assert trigger("30 1 * * *", zone).latest_fire(second - timedelta(minutes=20)) == first
    gap_day = local(zone, 2026, 3, 8, 3, 0)
    assert trigger("30 2 * * *", zone).latest_fire(gap_day) == gap_day
    skip = trigger("30 2 * * *", zone, gap="skip")
    assert skip.latest_fire(gap_day) == local(zone, 2026, 3, 7, 2, 30)


@pytest.mark.parametrize("expression", ["*/30 * * * *", "0 * * * *", "15 */2 * * *", "0 0 2 * * *"])
def test_real_time_expressions_ignore_the_policy(expression):
    """``*`` in the minute or hour (or 6 fields): every real instant whose local time matches
    fires, so a gap has none and an overlap has two, whatever the policy says."""
    start, end = utc(2026, 3, 7), utc(2026, 11, 3)
    default = fires_between(trigger(expression, NEW_YORK), start, utc(2026, 3, 10))
    default += fires_between(trigger(expression, NEW_YORK), utc(2026, 10, 31), end)
    for gap, overlap in (("skip", "last"), ("shift", "both")):
        other = trigger(expression, NEW_YORK, gap, overlap)
        found = fires_between(other, start, utc(2026, 3, 10))
        found += fires_between(other, utc(2026, 10, 31), end)
        assert found == default
    assert not trigger(expression, NEW_YORK).follows_wall_clock


def test_spread_offset_applies_after_the_policy_in_real_time():
    base = trigger("30 2 * * *", NEW_YORK)
    moved = CronTrigger.parse("30 2 * * *", NEW_YORK, offset=1800)
    before = local(NEW_YORK, 2026, 3, 7, 12)
    assert moved.next_fire(before) == base.next_fire(before) + timedelta(minutes=30)
    fire = moved.next_fire(before)
    assert moved.latest_fire(fire) == fire
    assert moved.latest_fire(fire - _MICRO) == local(NEW_YORK, 2026, 3, 7, 3, 0)


# --- properties against the IANA database ------------------------------------------------------

MINUTES = st.lists(st.integers(0, 59), min_size=1, max_size=3, unique=True)
HOURS = st.lists(st.integers(0, 23), min_size=1, max_size=3, unique=True)


@st.composite
def fixed_hour_expressions(draw: st.DrawFn) -> str:
    minutes = draw(
        st.one_of(MINUTES.map(lambda m: ",".join(map(str, sorted(m)))), st.just("0-59/20"))
    )
    hours = draw(st.one_of(HOURS.map(lambda h: ",".join(map(str, sorted(h)))), st.just("0-5")))
    day = draw(st.sampled_from(["* * *", "* * *", "* * 0", "1-15 * *"]))
    return f"{minutes} {hours} {day}"


@functools.cache
def _changes(zone: str, year: int) -> tuple[datetime, ...]:
    start, end = utc(year, 1, 1), utc(year + 1, 1, 1)
    return tuple(change.at for change in offset_changes(ZoneInfo(zone), start, end))


@st.composite
def instants_near_changes(draw: st.DrawFn, zone: str) -> datetime:
    """An instant within a day and a half of one of ``zone``'s offset changes in a drawn
    year (or anywhere in the year when it has none)."""
    year = draw(YEARS)
    changes = _changes(zone, year)
    if changes:
        around = draw(st.sampled_from(changes))
        return around + timedelta(seconds=draw(st.integers(-36 * 3600, 36 * 3600)))
    return utc(year, 1, 1) + timedelta(seconds=draw(st.integers(0, 364 * 86400)))


def _cronsim_next(expression: str, zone: str, after: datetime) -> datetime:
    """How Chronos found the next fire before DST policies (timing.py at ff865be)."""
    for fire in CronSim(expression, after.astimezone(ZoneInfo(zone))):
        if fire.astimezone(UTC) > after:
            return fire.astimezone(UTC)
    raise AssertionError("unreachable")


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(expression=fixed_hour_expressions(), zone=ZONES, data=st.data())
def test_default_policy_fires_exactly_where_cronsim_did(expression, zone, data):
    after = data.draw(instants_near_changes(zone))
    cron = trigger(expression, zone)
    assert cron.follows_wall_clock or zone == "UTC"
    expected, cursor = [], after
    for _ in range(4):
        cursor = _cronsim_next(expression, zone, cursor)
        expected.append(cursor)
    assert upcoming(cron, after, 4) == expected
    # latest_fire walks the same sequence backwards.
    for earlier, later in itertools.pairwise(expected):
        assert cron.latest_fire(later) == later
        assert cron.latest_fire(later - _MICRO) == earlier


def _instants_by_zoneinfo(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every instant whose local time in ``zone`` reads ``wall``, straight from zoneinfo."""
    candidates = {wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}
    return sorted(t for t in candidates if t.astimezone(zone).replace(tzinfo=None) == wall)


def _first_valid_after(wall: datetime, zone: ZoneInfo) -> datetime:
    while not _instants_by_zoneinfo(wall, zone):
        wall += timedelta(minutes=1)
    return _instants_by_zoneinfo(wall, zone)[0]


def _expected_fires(
    expression: str, zone_name: str, gap: str, overlap: str, start: datetime, end: datetime
) -> tuple[list[datetime], list[list[datetime]], list[datetime]]:
    """The fires in ``(start, end]`` worked out from zoneinfo directly: every local time the
    cron names, placed by the policy. Also the repeated local times' instant pairs, and the
    instants ``shift`` moved a skipped local time to."""
    zone = ZoneInfo(zone_name)
    walls = CronSim(expression, (start - timedelta(days=2)).replace(tzinfo=None))
    last_wall = (end + timedelta(days=2)).replace(tzinfo=None)
    fires: set[datetime] = set()
    repeated: list[list[datetime]] = []
    shifted: list[datetime] = []
    for wall in walls:
        if wall > last_wall:
            break
        instants = _instants_by_zoneinfo(wall, zone)
        if not instants:
            if gap == "shift":
                shifted.append(_first_valid_after(wall, zone))
                fires.add(shifted[-1])
        elif len(instants) == 1:
            fires.add(instants[0])
        else:
            repeated.append(instants)
            chosen = {"first": instants[:1], "last": instants[1:], "both": instants}[overlap]
            fires.update(chosen)
    return sorted(t for t in fires if start < t <= end), repeated, shifted


POLICIES = st.tuples(st.sampled_from(["shift", "skip"]), st.sampled_from(["first", "last", "both"]))


@PROPERTY
@given(expression=fixed_hour_expressions(), zone=ZONES, policy=POLICIES, data=st.data())
def test_every_policy_matches_the_iana_database(expression, zone, policy, data):
    """next_fire and latest_fire, walked through two days around an offset change, give
    exactly the fires zoneinfo says the policy makes: none lost, none doubled."""
    gap, overlap = policy
    middle = data.draw(instants_near_changes(zone))
    start, end = middle - timedelta(days=1), middle + timedelta(days=1)
    cron = trigger(expression, zone, gap, overlap)
    expected, repeated, shifted = _expected_fires(expression, zone, gap, overlap, start, end)
    forward = fires_between(cron, start, end)
    assert forward == expected
    backward, cursor = [], end
    while (fire := cron.latest_fire(cursor)) is not None and fire > start:
        backward.append(fire)
        cursor = fire - _MICRO
    assert backward[::-1] == expected
    zone_info = ZoneInfo(zone)
    walls = CronTrigger(cron.expression, "UTC")
    for fire in forward:
        wall = fire.astimezone(zone_info).replace(tzinfo=None)
        named = walls.next_fire(wall.replace(tzinfo=UTC) - _MICRO) == wall.replace(tzinfo=UTC)
        # ``skip`` never fires at a shifted instant: every fire reads a time the cron names.
        assert named or (gap == "shift" and fire in shifted)
    for first, second in repeated:
        if not start < first < second <= end:
            continue
        if overlap == "last":
            assert second in forward and first not in forward
        elif overlap == "both":
            assert forward.count(first) == 1 and forward.count(second) == 1
        else:
            assert first in forward and second not in forward


@settings(max_examples=25, deadline=None)
@given(zone=st.sampled_from([NEW_YORK, SYDNEY, "Europe/London", "Australia/Lord_Howe"]))
def test_both_fires_every_repeated_time_twice_and_each_other_day_once(zone):
    cron = trigger("0,30 1,2 * * *", zone, overlap="both")
    year_fires = upcoming(cron, utc(2026, 1, 1), 4 * 366)
    zone_info = ZoneInfo(zone)
    per_day: dict[object, int] = {}
    for fire in year_fires:
        day = fire.astimezone(zone_info).date()
        per_day[day] = per_day.get(day, 0) + 1
    assert len(year_fires) == len(set(year_fires))
    counts = sorted(set(per_day.values()))
    assert 4 in counts and max(counts) > 4, counts  # an overlap day has extra fires


# --- the preview shows what the policy moves ---------------------------------------------------


def spec(**fields):
    body = {"name": "nightly", "handler": "h", "timezone": NEW_YORK, **fields}
    return normalize_schedule(ScheduleIn.model_validate(body), max_payload_bytes=65536)


def test_preview_notes_each_fire_the_policy_moves():
    spring = utc(2026, 3, 6)
    shifted = preview_schedule(spec(cron="30 2 * * *"), spring, 4)
    assert shifted.dst_notes == [None, None, "shifted", None]
    assert shifted.local[2].hour == 3
    skipped = preview_schedule(spec(cron="30 2 * * *", dst_policy={"gap": "skip"}), spring, 4)
    assert skipped.dst_notes == [None] * 4
    assert skipped.dst_skipped == [datetime(2026, 3, 8, 2, 30)]
    assert "skips it" in skipped.warnings[0].message
    autumn = utc(2026, 10, 30)
    for overlap, notes in (("first", ["first"]), ("last", ["last"]), ("both", ["both", "both"])):
        found = preview_schedule(
            spec(cron="30 1 * * *", dst_policy={"overlap": overlap}), autumn, 4
        )
        assert [n for n in found.dst_notes if n] == notes
    hourly = preview_schedule(spec(cron="0 * * * *"), utc(2026, 11, 1, 4, 30), 3)
    assert hourly.dst_notes == ["both", "both", None]  # real time: 01:00 EDT and 01:00 EST


async def test_api_preview_and_create_carry_the_policy(client: httpx.AsyncClient):
    body = {"name": "ny", "handler": "h", "cron": "30 1 * * *", "timezone": NEW_YORK}
    body["dst_policy"] = {"gap": "skip", "overlap": "both"}
    preview = expect(await client.post("/v1/schedules/preview", json=body), 200)
    assert len(preview["fires"]) == len(preview["data"]) == 10
    assert [f["at"] for f in preview["fires"]] == preview["data"]
    assert preview["dst_skipped"] == [] and preview["cron_resolved"] == "30 1 * * *"
    created = await create_schedule(client, **body)
    assert created["dst_policy"] == {"gap": "skip", "overlap": "both"}
    for policy in ({"gap": "later"}, {"gap": "skip", "when": 1}, "skip", {"overlap": "\u0000"}):
        for path in ("/v1/schedules", "/v1/schedules/preview"):
            bad = {**body, "name": "other", "dst_policy": policy}
            error = expect(await client.post(path, json=bad), 422)["error"]
            assert error["code"] == "validation_error", error
    assert [s["name"] for s in expect(await client.get("/v1/schedules"), 200)["data"]] == ["ny"]


def test_a_cron_naming_only_skipped_times_has_no_next_fire():
    # The second Sunday of March at 02:30 is always inside New York's gap since 2007.
    cron = trigger("30 2 * 3 0#2", NEW_YORK, gap="skip")
    assert cron.next_fire(utc(2026, 1, 1)) is None
    assert trigger("30 2 * 3 0#2", NEW_YORK).next_fire(utc(2026, 1, 1)) == local(
        NEW_YORK, 2026, 3, 8, 3, 0
    )
