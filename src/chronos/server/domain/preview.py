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
fixed minute and hour runs a skipped time once at the end of the gap and a repeated time once,
at its first occurrence; one whose minute or hour starts with ``*`` (and any 6-field cron)
follows real time, so skipped times do not run and repeated times run at both occurrences.

    >>> preview = preview_schedule(spec, now, 5)
    >>> preview.warnings[0].message
    '02:30 does not exist on 2026-03-08 in America/New_York (clocks jump 02:00 → 03:00); ...'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chronos.server.domain.describe import describe_spec
from chronos.server.domain.rows import ScheduleSpec
from chronos.server.domain.schedules import schedule_trigger, schedule_window
from chronos.server.domain.timing import (
    CronTrigger,
    ScheduleTrigger,
    Window,
    next_fire,
    upcoming,
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

    @property
    def local(self) -> list[datetime]:
        """The same instants in the schedule's timezone."""
        zone = ZoneInfo(self.timezone)
        return [fire.astimezone(zone) for fire in self.fires]


def preview_schedule(spec: ScheduleSpec, now: datetime, count: int) -> Preview:
    """The next ``count`` fires of ``spec`` were it created at ``now``, in words, with
    warnings. A disabled schedule has no fires (as its ``upcoming`` would say) and a warning."""
    fires: list[datetime] = []
    warnings: list[PreviewWarning] = []
    if spec["enabled"]:
        fires = upcoming(schedule_trigger(spec, now), now, count, schedule_window(spec))
    else:
        warnings.append(
            PreviewWarning(
                "disabled",
                'the schedule is disabled ("enabled": false): it does not fire until enabled',
            )
        )
    warnings += dst_warnings(spec, now)
    return Preview(fires, spec["timezone"], describe_spec(spec), warnings)


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
    check = _Check(
        spec["timezone"],
        zone,
        wall=CronTrigger(spec["cron"], "UTC"),
        real=schedule_trigger(spec, now),
        window=window,
    )
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


def _wall(instant: datetime, offset: timedelta) -> datetime:
    """The wall-clock time ``instant`` shows at ``offset``, as a naive-as-UTC datetime."""
    return instant + offset


def _clock(value: datetime, with_seconds: bool | None = None) -> str:
    if with_seconds is None:
        with_seconds = bool(value.second)
    return value.strftime("%H:%M:%S" if with_seconds else "%H:%M")
