"""Previewing an unsaved schedule: its next fires, its timing in words, and what daylight
saving time does to it.

Pure: the caller passes ``now``. Fires come from the scheduler's own triggers
(``schedule_trigger``, ``upcoming``, ``schedule_window``), so a preview at ``now`` lists what
the schedule, created at ``now``, reports in ``GET /v1/schedules/{id}/upcoming``.

DST warnings are found, not assumed. For each change of the timezone's UTC offset within
:data:`DST_HORIZON`, the wall-clock times the cron names inside a skipped (spring-forward) or
repeated (fall-back) stretch are listed by evaluating the cron in UTC, where every wall-clock
time exists once; what Chronos does with them is then read off the schedule's real trigger.
Which rule applies depends on the expression's shape (``timing.py``): a 5-field cron with a
fixed minute and hour follows its DST policy (by default a skipped time runs once at the end of
the gap and a repeated time once, at its first occurrence); one whose minute or hour starts
with ``*`` (and any 6-field cron) follows real time, so skipped times do not run and repeated
times run at both occurrences. Each fire also gets a note saying what the policy did to it
(:func:`dst_note`), and the times ``skip`` drops are listed (:func:`dst_skipped`).

    >>> preview = preview_schedule(spec, now, 5)
    >>> preview.warnings[0].message
    '02:30 does not exist on 2026-03-08 in America/New_York (clocks jump 02:00 → 03:00); ...'
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chronos.server.domain.calendars import Calendars, series_trigger
from chronos.server.domain.describe import describe_spec
from chronos.server.domain.rows import ScheduleSpec
from chronos.server.domain.schedules import fire_trigger, schedule_trigger, schedule_window
from chronos.server.domain.timing import (
    CronTrigger,
    DstGap,
    DstOverlap,
    ScheduleTrigger,
    Window,
    next_fire,
    upcoming,
    wall_time,
)

# How far ahead DST changes are looked for.
DST_HORIZON = timedelta(days=366)
# Offset changes are at least this far apart (they are months apart in practice).
_SCAN_STEP = timedelta(hours=3)
# Wall-clock times named one by one in a warning; beyond, the first, the last and a count.
_NAMED = 3
# Matches counted in one gap or overlap (an every-second cron has 3600 in an hour).
_COUNTED = 100
_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True)
class PreviewWarning:
    code: str  # dst_gap | dst_overlap | disabled
    message: str
    local_date: str | None = None  # the day it concerns, in the schedule's timezone


@dataclass(frozen=True)
class Preview:
    fires: list[datetime]  # UTC
    timezone: str
    description: str
    warnings: list[PreviewWarning]
    # Per fire (same order): what the DST policy did to it (see :func:`dst_note`), or None.
    dst_notes: list[str | None] = field(default_factory=list)
    # Local times the cron names that the ``skip`` gap policy drops (naive, in the zone),
    # between now and the last fire listed (at most a year ahead).
    dst_skipped: list[datetime] = field(default_factory=list)
    cron_resolved: str | None = None  # the cron with its H terms resolved
    spread_offset: int = 0  # seconds every slot is moved by (``spread``)

    @property
    def local(self) -> list[datetime]:
        """The same instants in the schedule's timezone."""
        zone = ZoneInfo(self.timezone)
        return [fire.astimezone(zone) for fire in self.fires]


def preview_schedule(
    spec: ScheduleSpec, now: datetime, count: int, calendars: Calendars | None = None
) -> Preview:
    """The next ``count`` fires of ``spec`` were it created at ``now``, in words, with
    warnings. A disabled schedule has no fires (as its ``upcoming`` would say) and a warning.
    Slots the calendars it names (``calendars``, by name) exclude are left out."""
    fires: list[datetime] = []
    warnings: list[PreviewWarning] = []
    if spec["enabled"]:
        trigger = fire_trigger(spec, now, calendars)
        fires = upcoming(series_trigger(trigger, now), now, count, schedule_window(spec))
    else:
        warnings.append(
            PreviewWarning(
                "disabled",
                'the schedule is disabled ("enabled": false): it does not fire until enabled',
            )
        )
    warnings += dst_warnings(spec, now)
    base = schedule_trigger(spec, now)
    if not isinstance(base, CronTrigger):
        notes: list[str | None] = [None] * len(fires)
        return Preview(fires, spec["timezone"], describe_spec(spec), warnings, notes)
    end = min(fires[-1] if len(fires) == count else now + DST_HORIZON, now + DST_HORIZON)
    return Preview(
        fires,
        spec["timezone"],
        describe_spec(spec),
        warnings,
        [dst_note(base, fire) for fire in fires],
        dst_skipped(base, now, end, schedule_window(spec)),
        base.expression,
        base.offset,
    )


@dataclass(frozen=True)
class OffsetChange:
    at: datetime  # the first instant (UTC) of the new offset
    before: timedelta
    after: timedelta


def offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[OffsetChange]:
    """Every change of ``zone``'s UTC offset in ``(start, end]``, to the second."""

    def offset(instant: datetime) -> timedelta:
        value = instant.astimezone(zone).utcoffset()
        assert value is not None
        return value

    changes: list[OffsetChange] = []
    low = start.astimezone(UTC).replace(microsecond=0)
    low_offset = offset(low)
    while low < end:
        high = min(low + _SCAN_STEP, end)
        high_offset = offset(high)
        if high_offset != low_offset:
            lo, hi = low, high  # offset(lo) == low_offset != offset(hi)
            while hi - lo > timedelta(seconds=1):
                mid = lo + timedelta(seconds=(hi - lo).total_seconds() // 2)
                if offset(mid) == low_offset:
                    lo = mid
                else:
                    hi = mid
            changes.append(OffsetChange(hi, low_offset, offset(hi)))
        low, low_offset = high, high_offset
    return changes


def dst_warnings(spec: ScheduleSpec, now: datetime) -> list[PreviewWarning]:
    """Warnings for the cron's wall-clock times that a DST change within the next
    :data:`DST_HORIZON` (and the schedule's window) skips or repeats. Intervals have none."""
    if spec["cron"] is None:
        return []
    window = schedule_window(spec)
    start = max(now, window.start_at) if window.start_at else now
    end = now + DST_HORIZON
    if window.end_at is not None:
        end = min(end, window.end_at)
    if start >= end:
        return []
    zone = ZoneInfo(spec["timezone"])
    real = schedule_trigger(spec, now)
    assert isinstance(real, CronTrigger)
    # The cron's own times: the spread offset (a fixed move in real time) is left out.
    real = replace(real, offset=0)
    check = _Check(spec["timezone"], zone, wall=_wall_trigger(real), real=real, window=window)
    warnings: list[PreviewWarning] = []
    for change in offset_changes(zone, start, end):
        warning = check.gap(change) if change.after > change.before else check.overlap(change)
        if warning is not None:
            warnings.append(warning)
    return warnings


@dataclass(frozen=True)
class _Check:
    timezone: str
    zone: ZoneInfo
    wall: CronTrigger  # the same cron in UTC: it names wall-clock times, each exactly once
    real: ScheduleTrigger  # the schedule's own trigger
    window: Window

    def gap(self, change: OffsetChange) -> PreviewWarning | None:
        """Clocks jump forward: wall-clock times in [jump_from, jump_to) do not exist."""
        jump_from = _wall(change.at, change.before)
        jump_to = _wall(change.at, change.after)
        names = self._named(jump_from, jump_to)
        if names is None:
            return None
        times, single = names
        verb = "does not exist" if single else "do not exist"
        day = jump_from.date().isoformat()
        head = (
            f"{times} {verb} on {day} in {self.timezone} "
            f"(clocks jump {jump_from:%H:%M} → {jump_to:%H:%M})"
        )
        first = next_fire(self.real, change.at - _MICRO, self.window)
        natural = self.wall.next_fire(jump_to - _MICRO) == jump_to
        if first is not None and first == change.at and not natural:
            when = _clock(first.astimezone(self.zone))
            outcome = f"the job runs at {when}" if single else f"the job runs once, at {when}"
        else:
            outcome = "the job skips it" if single else "the job skips them"
            if first is not None:
                local = first.astimezone(self.zone)
                when = _clock(local)
                if local.date() != jump_from.date():
                    when += f" on {local.date().isoformat()}"
                outcome += f"; its next run is at {when}"
        return PreviewWarning("dst_gap", f"{head}; {outcome}", day)

    def overlap(self, change: OffsetChange) -> PreviewWarning | None:
        """Clocks go back: wall-clock times in [back_to, back_from) occur twice."""
        back_from = _wall(change.at, change.before)
        back_to = _wall(change.at, change.after)
        names = self._named(back_to, back_from)
        if names is None:
            return None
        times, single = names
        verb = "occurs twice" if single else "occur twice"
        day = back_to.date().isoformat()
        head = f"{times} {verb} on {day} in {self.timezone}"
        repeat = change.before - change.after
        first_name = (change.at - _MICRO).astimezone(self.zone).tzname()
        second_name = change.at.astimezone(self.zone).tzname()
        in_first = self._fires_within(change.at - repeat, change.at)
        in_second = self._fires_within(change.at, change.at + repeat)
        each = "" if single else " each"
        if in_first and in_second:
            both = f"({first_name} and {second_name})"
            outcome = (
                f"the job runs twice, at both {both}"
                if single
                else f"the job runs at both occurrences {both}"
            )
        elif in_first:
            outcome = f"the job runs{each} once, at the first ({first_name})"
        elif in_second:
            outcome = f"the job runs{each} once, at the second ({second_name})"
        else:
            outcome = "the job does not run then"
        return PreviewWarning("dst_overlap", f"{head}; {outcome}", day)

    def _fires_within(self, start: datetime, end: datetime) -> bool:
        fire = next_fire(self.real, start - _MICRO, self.window)
        return fire is not None and fire < end

    def _named(self, start: datetime, end: datetime) -> tuple[str, bool] | None:
        """The cron's wall-clock times in ``[start, end)`` as words, and whether there is
        just one; None when there are none. Wall-clock times are naive-as-UTC here."""
        found: list[datetime] = []
        cursor = start - _MICRO
        more = False
        while True:
            fire = self.wall.next_fire(cursor)
            if fire is None or fire >= end:
                break
            if len(found) == _COUNTED:
                more = True
                break
            found.append(fire)
            cursor = fire
        if not found:
            return None
        if len(found) == 1:
            return _clock(found[0]), True
        if len(found) <= _NAMED:
            with_seconds = any(t.second for t in found)
            names = [_clock(t, with_seconds) for t in found]
            return f"{', '.join(names[:-1])} and {names[-1]}", False
        last = self.wall.latest_fire(end - _MICRO) or found[-1]
        with_seconds = bool(found[0].second or last.second)
        count = f"more than {_COUNTED}" if more else str(len(found))
        span = f"from {_clock(found[0], with_seconds)} to {_clock(last, with_seconds)}"
        return f"{count} times {span}", False


def _wall_trigger(trigger: CronTrigger) -> CronTrigger:
    """The same cron in UTC: it names wall-clock times (naive-as-UTC), each exactly once."""
    return CronTrigger(trigger.expression, "UTC")


def dst_note(trigger: CronTrigger, fire: datetime) -> str | None:
    """What the DST policy did to ``fire`` (a fire of ``trigger``), or None:

    - ``shifted``: a local time inside a spring-forward gap, run at the first valid instant
      after the gap (``gap: shift``);
    - ``first`` / ``last``: a local time that occurs twice, run only at its first / second
      occurrence (``overlap: first`` / ``last``);
    - ``both``: a local time that occurs twice, and this is one of its two runs
      (``overlap: both``; expressions that follow real time always do this).
    """
    zone = ZoneInfo(trigger.timezone)
    base = fire - timedelta(seconds=trigger.offset)
    wall = base.astimezone(zone).replace(tzinfo=None, fold=0)
    if wall_time(wall, zone).kind == "overlap":
        return trigger.overlap.value if trigger.follows_wall_clock else DstOverlap.BOTH.value
    if not trigger.follows_wall_clock or trigger.gap is DstGap.SKIP:
        return None
    # Shifted here from a gap: the cron's latest local time before this one is in a gap
    # whose first valid instant is this fire.
    named = _wall_trigger(trigger).latest_fire(wall.replace(tzinfo=UTC) - _MICRO)
    if named is None:
        return None
    before = wall_time(named.replace(tzinfo=None), zone)
    return "shifted" if before.kind == "gap" and before.first == base else None


def dst_skipped(
    trigger: CronTrigger, start: datetime, end: datetime, window: Window
) -> list[datetime]:
    """The local times (naive) the cron names in spring-forward gaps between ``start`` and
    ``end`` that ``gap: skip`` drops; at most :data:`_COUNTED`."""
    if not trigger.follows_wall_clock or trigger.gap is not DstGap.SKIP:
        return []
    if window.start_at is not None:
        start = max(start, window.start_at)
    if window.end_at is not None:
        end = min(end, window.end_at)
    zone = ZoneInfo(trigger.timezone)
    wall = _wall_trigger(trigger)
    skipped: list[datetime] = []
    for change in offset_changes(zone, start, end):
        if change.after <= change.before:
            continue
        cursor, jump_to = _wall(change.at, change.before) - _MICRO, _wall(change.at, change.after)
        while len(skipped) < _COUNTED:
            named = wall.next_fire(cursor)
            if named is None or named >= jump_to:
                break
            skipped.append(named.replace(tzinfo=None))
            cursor = named
    return skipped


def _wall(instant: datetime, offset: timedelta) -> datetime:
    """The wall-clock time ``instant`` shows at ``offset``, as a naive-as-UTC datetime."""
    return instant + offset


def _clock(value: datetime, with_seconds: bool | None = None) -> str:
    if with_seconds is None:
        with_seconds = bool(value.second)
    return value.strftime("%H:%M:%S" if with_seconds else "%H:%M")
