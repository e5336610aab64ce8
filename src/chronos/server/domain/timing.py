"""Pure time logic: when does a schedule fire?

Nothing here reads a clock or touches the database. A trigger answers ``next_fire(after)``:
the first fire time strictly after an instant, always in UTC. :func:`plan_fires` decides which
due slots to turn into jobs under a misfire policy.

Cron expressions are evaluated in the schedule's IANA timezone (with `cronsim`). Around DST
changes, a *wall-clock* expression (5 fields, minute and hour naming specific values) follows
its DST policy: a local time inside a spring-forward gap runs at the first valid instant after
the gap (``shift``, the default, as Debian cron does) or not at all (``skip``); a local time
inside a repeated fall-back stretch runs at its ``first`` occurrence (the default), its
``last`` or ``both``. Other expressions (``*`` in the minute or hour) follow real time. A
``spread`` offset moves every fire by a fixed number of seconds (``hashing.spread_offset``).

    >>> trigger = CronTrigger.parse("0 2 * * *", "America/New_York")
    >>> trigger.next_fire(datetime(2026, 1, 1, tzinfo=UTC))
    datetime.datetime(2026, 1, 1, 7, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

from chronos.server.domain.hashing import HashError, has_hashes, resolve_hashes

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# Most slots a single tick turns into jobs for one schedule under ``run_all``; the rest wait
# for the next tick, so one schedule with a long backlog cannot stall the others.
MAX_CATCHUP_PER_TICK = 1000
# How late a slot may be and still count as on time under the ``skip`` misfire policy.
ON_TIME_GRACE = timedelta(seconds=5)
_MICRO = timedelta(microseconds=1)


class TimingError(ValueError):
    """A schedule specification that can never work: bad cron, unknown timezone, ..."""


class MisfirePolicy(StrEnum):
    RUN_ONCE = "run_once"
    RUN_ALL = "run_all"
    SKIP = "skip"


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``: how every instant leaves Chronos."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


@functools.cache
def _known_timezones() -> frozenset[str]:
    # The tz database's files include the host's own "localtime" and legacy "posixrules",
    # which are not zones anyone can name portably.
    names = {name for name in available_timezones() if not name.startswith(("posix", "right/"))}
    return frozenset(names - {"localtime", "Factory"}) | {"UTC"}


def load_timezone(name: str) -> ZoneInfo:
    """An IANA timezone by name. Only real zone names count: not a folder of the database
    (``America``), nor the machine's own ``localtime``, whose meaning moves with the host."""
    unknown = TimingError(f"unknown timezone {name!r}: use an IANA name such as 'Europe/Paris'")
    if name not in _known_timezones():
        raise unknown
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        raise unknown from exc


class DstGap(StrEnum):
    """What a wall-clock cron does with a local time inside a spring-forward gap."""

    SHIFT = "shift"  # run at the first valid instant after the gap (Debian cron; the default)
    SKIP = "skip"  # do not run it


class DstOverlap(StrEnum):
    """What a wall-clock cron does with a local time inside a repeated fall-back stretch."""

    FIRST = "first"  # run at its first occurrence (Debian cron; the default)
    LAST = "last"  # run at its second occurrence
    BOTH = "both"  # run at both


@dataclass(frozen=True)
class WallTime:
    """What one local (wall-clock) time is in a zone: an ordinary time, a time inside a
    spring-forward gap (it does not exist) or inside a fall-back overlap (it exists twice)."""

    kind: str  # "valid" | "gap" | "overlap"
    first: datetime  # UTC: its (first) instant; for a gap, the first valid instant after it
    last: datetime  # UTC: its second instant in an overlap; else the same as ``first``


def wall_time(wall: datetime, zone: ZoneInfo) -> WallTime:
    """Classify the naive local time ``wall`` in ``zone`` (see :class:`WallTime`)."""
    first = wall.replace(tzinfo=zone).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) != wall:
        # Imaginary. Step a minute at a time to the first valid local time, exactly as
        # cronsim (and Debian cron) do, so the default policy fires where it always has.
        shifted = wall
        while True:
            shifted += timedelta(minutes=1)
            instant = shifted.replace(tzinfo=zone).astimezone(UTC)
            if instant.astimezone(zone).replace(tzinfo=None) == shifted:
                return WallTime("gap", instant, instant)
    last = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return WallTime("overlap" if last != first else "valid", first, last)


def canonical_cron(expression: str) -> str:
    """A cron as Chronos stores it: whitespace collapsed, aliases expanded; ``H`` terms stay."""
    normalized = " ".join(expression.split())
    return ALIASES.get(normalized.lower(), normalized)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A wall-clock cron whose every named time is skipped for this long never fires (cronsim too
# gives up after 50 years without a match).
_GIVE_UP_YEARS = 50
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


@functools.lru_cache(maxsize=16384)
def _day_offsets(timezone: str, day: int) -> tuple[timedelta, timedelta]:
    """The lowest and highest UTC offset of ``timezone`` during the ``day``-th day since 1970
    (UTC), probed every 3 hours, both ends included (offset changes are months apart)."""
    zone = ZoneInfo(timezone)
    offsets: set[timedelta] = set()
    for step in range(0, 25, 3):
        try:
            offset = (_EPOCH + day * _DAY + step * _HOUR).astimezone(zone).utcoffset()
        except OverflowError:  # past the first or last representable date
            continue
        if offset is not None:
            offsets.add(offset)
    return (min(offsets), max(offsets)) if offsets else (timedelta(0), timedelta(0))


def _offset_range(timezone: str, instant: datetime) -> tuple[timedelta, timedelta]:
    """The lowest and highest UTC offset of ``timezone`` within two days of ``instant``:
    more than the reach of any offset change (date-line moves are 24 hours)."""
    day = (instant - _EPOCH) // _DAY
    ranges = [_day_offsets(timezone, near) for near in range(day - 2, day + 3)]
    return min(low for low, _ in ranges), max(high for _, high in ranges)


@dataclass(frozen=True)
class CronTrigger:
    """A cron expression in an IANA timezone, with its DST policy and its spread offset.

    ``expression`` is what cronsim reads: aliases expanded and ``H`` terms resolved. Build
    one from a stored cron with :meth:`parse` (validates it) or :meth:`build` (trusts it).

    **Wall-clock expressions** — 5 fields whose minute and hour name specific values
    (neither starts with ``*``), in a zone other than UTC — name local times; the DST policy
    says what happens to a named time that does not exist (``gap``: ``shift`` runs it at the
    first valid instant after the gap, ``skip`` does not run it) or exists twice
    (``overlap``: ``first``, ``last`` or ``both`` occurrences). Every other expression (``*``
    in the minute or hour, or 6 fields) follows real time: it fires at every instant whose
    local time matches, so a gap has no such instant and an overlap has two.

    ``offset`` (whole seconds, from ``spread``) moves every fire later by that much real time,
    after the DST policy has placed it.
    """

    expression: str
    timezone: str = "UTC"
    gap: DstGap = DstGap.SHIFT
    overlap: DstOverlap = DstOverlap.FIRST
    offset: int = 0

    @classmethod
    def build(
        cls,
        expression: str,
        timezone: str = "UTC",
        *,
        seed: str | None = None,
        gap: str = DstGap.SHIFT,
        overlap: str = DstOverlap.FIRST,
        offset: int = 0,
    ) -> CronTrigger:
        """A trigger for a stored cron: aliases expanded, ``H`` terms resolved from ``seed``
        (the schedule's name). No validation beyond the ``H`` terms: see :meth:`parse`."""
        text = canonical_cron(expression)
        if has_hashes(text):
            if seed is None:
                raise TimingError(f"cron expression {expression!r} uses H but has no name to hash")
            try:
                text = resolve_hashes(text, seed)
            except HashError as exc:
                raise TimingError(str(exc)) from exc
        return cls(text, timezone, DstGap(gap), DstOverlap(overlap), offset)

    @classmethod
    def parse(
        cls,
        expression: str,
        timezone: str = "UTC",
        *,
        seed: str | None = None,
        gap: str = DstGap.SHIFT,
        overlap: str = DstOverlap.FIRST,
        offset: int = 0,
    ) -> CronTrigger:
        """Validate ``expression``; raise :class:`TimingError` if it can never fire."""
        normalized = canonical_cron(expression)
        if normalized.startswith("@"):
            raise TimingError(
                f"unknown cron alias {expression!r}: use one of {', '.join(sorted(ALIASES))}"
            )
        fields = normalized.split(" ")
        if len(fields) not in (5, 6):
            raise TimingError(
                f"cron expression {expression!r} has {len(fields)} fields: "
                "use 5 (minute hour day month weekday) or 6 with seconds first"
            )
        tz = load_timezone(timezone)
        trigger = cls.build(
            normalized, timezone, seed=seed, gap=gap, overlap=overlap, offset=offset
        )
        resolved = trigger.expression
        try:
            probe = CronSim(resolved, datetime(2000, 1, 1, tzinfo=tz))
            next(probe)
        except CronSimError as exc:
            if _fires_with_any_month(resolved, tz):
                raise TimingError(
                    f"cron expression {expression!r} never fires: its day of month does not "
                    "exist in the months it names"
                ) from exc
            raise TimingError(f"invalid cron expression {expression!r}: {exc}") from exc
        except StopIteration as exc:  # pragma: no cover - cronsim raises CronSimError instead
            raise TimingError(f"cron expression {expression!r} never fires") from exc
        return trigger

    @property
    def follows_wall_clock(self) -> bool:
        """True when the DST policy applies (see the class docstring); the same rule as
        cronsim's, which Chronos followed before DST policies existed."""
        fields = self.expression.split()
        return (
            len(fields) == 5
            and not fields[0].startswith("*")
            and not fields[1].startswith("*")
            and self.timezone != "UTC"
        )

    def next_fire(self, after: datetime) -> datetime | None:
        if not self.offset:
            return self._next(after)
        shift = timedelta(seconds=self.offset)
        fire = self._next(after - shift)
        return None if fire is None else fire + shift

    def latest_fire(self, at_or_before: datetime) -> datetime | None:
        """The last fire time ``<= at_or_before``."""
        if not self.offset:
            return self._latest(at_or_before)
        shift = timedelta(seconds=self.offset)
        fire = self._latest(at_or_before - shift)
        return None if fire is None else fire + shift

    def _next(self, after: datetime) -> datetime | None:
        if self.follows_wall_clock:
            return self._next_by_wall_clock(after)
        for fire in CronSim(self.expression, after.astimezone(ZoneInfo(self.timezone))):
            fire_utc = fire.astimezone(UTC)
            if fire_utc > after:
                return fire_utc
        return None  # pragma: no cover - cron iterators are infinite

    def _latest(self, at_or_before: datetime) -> datetime | None:
        if self.follows_wall_clock:
            return self._latest_by_wall_clock(at_or_before)
        # cronsim's reverse iteration is strictly before its start; start one second later.
        start = (at_or_before + timedelta(seconds=1)).astimezone(ZoneInfo(self.timezone))
        for fire in CronSim(self.expression, start, reverse=True):
            fire_utc = fire.astimezone(UTC)
            if fire_utc <= at_or_before:
                return fire_utc
        return None  # pragma: no cover

    def instants(self, wall: datetime, zone: ZoneInfo) -> tuple[datetime, ...]:
        """The UTC instants a matching local time ``wall`` fires at under the DST policy."""
        found = wall_time(wall, zone)
        if found.kind == "valid":
            return (found.first,)
        if found.kind == "gap":
            return () if self.gap is DstGap.SKIP else (found.first,)
        if self.overlap is DstOverlap.FIRST:
            return (found.first,)
        if self.overlap is DstOverlap.LAST:
            return (found.last,)
        return (found.first, found.last)

    # Wall-clock expressions: cronsim walks the matching local times (naive, so it applies
    # no DST rule of its own); each becomes its instants under the policy. Instants rise with
    # local times, except the two of each repeated time under ``both``: then the walk goes on
    # while a later local time could still give an earlier instant.

    def _next_by_wall_clock(self, after: datetime) -> datetime | None:
        zone = ZoneInfo(self.timezone)
        lowest_offset, _ = _offset_range(self.timezone, after)
        # A local time whose instant is after ``after`` reads more than after + lowest offset
        # (cronsim yields the local times strictly after ``start``).
        start = (after + lowest_offset).replace(tzinfo=None)
        best: datetime | None = None
        try:
            for wall in CronSim(self.expression, start):
                if best is not None and wall_time(wall, zone).first >= best:
                    break
                if wall.year > start.year + _GIVE_UP_YEARS:  # only skipped times, for ever
                    break
                for instant in self.instants(wall, zone):
                    if instant > after and (best is None or instant < best):
                        best = instant
                if best is not None and self.overlap is not DstOverlap.BOTH:
                    break
        except OverflowError:  # no valid local time left before year 9999
            return best
        return best

    def _latest_by_wall_clock(self, at_or_before: datetime) -> datetime | None:
        zone = ZoneInfo(self.timezone)
        _, highest_offset = _offset_range(self.timezone, at_or_before)
        end = (at_or_before + highest_offset).replace(tzinfo=None) + timedelta(seconds=1)
        best: datetime | None = None
        try:
            for wall in CronSim(self.expression, end, reverse=True):
                if best is not None and wall_time(wall, zone).last <= best:
                    break
                if wall.year < end.year - _GIVE_UP_YEARS:
                    break
                for instant in self.instants(wall, zone):
                    if instant <= at_or_before and (best is None or instant > best):
                        best = instant
                if best is not None and self.overlap is not DstOverlap.BOTH:
                    break
        except OverflowError:
            return best
        return best


def _fires_with_any_month(expression: str, tz: ZoneInfo) -> bool:
    """True if the expression is valid once its month field is ``*`` (so only the day/month
    combination, like February 31st, is impossible)."""
    fields = expression.split(" ")
    fields[-2] = "*"
    try:
        CronSim(" ".join(fields), datetime(2000, 1, 1, tzinfo=tz))
    except CronSimError:
        return False
    return True


@dataclass(frozen=True)
class IntervalTrigger:
    """Slots at ``anchor + k * seconds`` for ``k >= first_index``: fixed, so they never drift."""

    seconds: int
    anchor: datetime
    first_index: int = 1

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise TimingError("interval must be at least 1 second")

    def _slot(self, index: int) -> datetime:
        return self.anchor + timedelta(seconds=self.seconds * index)

    def _index_at_or_before(self, instant: datetime) -> int:
        elapsed = (instant - self.anchor) // _MICRO
        return elapsed // (self.seconds * 1_000_000)

    def next_fire(self, after: datetime) -> datetime | None:
        return self._slot(max(self.first_index, self._index_at_or_before(after) + 1))

    def latest_fire(self, at_or_before: datetime) -> datetime | None:
        index = self._index_at_or_before(at_or_before)
        return self._slot(index) if index >= self.first_index else None


ScheduleTrigger = CronTrigger | IntervalTrigger


class Trigger(Protocol):
    """What the planning functions need of a trigger (a ``ScheduleTrigger``, or one with a
    schedule's calendar-excluded slots taken out: ``domain.calendars.CalendarTrigger``)."""

    def next_fire(self, after: datetime) -> datetime | None: ...

    def latest_fire(self, at_or_before: datetime) -> datetime | None: ...


_EVERY = re.compile(r"^@every\s+(.+)$", re.IGNORECASE)


def parse_every(text: str) -> str | None:
    """``"@every 90s"`` → ``"90s"``; anything else → None."""
    match = _EVERY.match(text.strip())
    return match.group(1).strip() if match else None


@dataclass(frozen=True)
class Window:
    start_at: datetime | None = None
    end_at: datetime | None = None


def next_fire(trigger: Trigger, after: datetime, window: Window = Window()) -> datetime | None:
    """The first fire time strictly after ``after`` inside ``window``, or None if there is none."""
    if window.start_at is not None and window.start_at > after:
        after = window.start_at - _MICRO
    try:
        fire = trigger.next_fire(after)
    except (OverflowError, ValueError):  # past the last representable date: none left
        return None
    if fire is None or (window.end_at is not None and fire > window.end_at):
        return None
    return fire


def upcoming(
    trigger: Trigger, after: datetime, count: int, window: Window = Window()
) -> list[datetime]:
    fires: list[datetime] = []
    cursor = after
    while len(fires) < count:
        fire = next_fire(trigger, cursor, window)
        if fire is None:
            break
        fires.append(fire)
        cursor = fire
    return fires


@dataclass(frozen=True)
class FirePlan:
    """What a tick does for one schedule: fire ``slots``, then wait for ``next_run_at``."""

    slots: list[datetime]
    next_run_at: datetime | None
    missed: int = 0


def plan_fires(
    trigger: Trigger,
    next_run_at: datetime,
    now: datetime,
    *,
    policy: MisfirePolicy = MisfirePolicy.RUN_ONCE,
    catchup_window: timedelta = timedelta(hours=1),
    window: Window = Window(),
) -> FirePlan:
    """Decide which due slots (``next_run_at <= slot <= now``) become jobs.

    - ``run_once``: only the latest due slot fires; older ones are counted as missed.
    - ``run_all``: every due slot no older than ``catchup_window`` fires, at most
      :data:`MAX_CATCHUP_PER_TICK` per call (the plan's ``next_run_at`` then stays in the past).
    - ``skip``: the latest due slot fires only if it is on time (within :data:`ON_TIME_GRACE`).
    """
    if next_run_at > now:
        return FirePlan([], next_run_at)
    latest = trigger.latest_fire(now)
    if window.end_at is not None and latest is not None and latest > window.end_at:
        latest = trigger.latest_fire(window.end_at)
    if latest is None or latest < next_run_at:
        # next_run_at was not on the grid (the schedule changed): fire it as the due slot.
        latest = next_run_at
    following = next_fire(trigger, now, window)

    if policy is MisfirePolicy.RUN_ALL:
        slots: list[datetime] = []
        oldest_allowed = now - catchup_window
        cursor: datetime | None = next_run_at
        if next_run_at < oldest_allowed:
            cursor = next_fire(trigger, oldest_allowed - _MICRO, window)
        while cursor is not None and cursor <= now and len(slots) < MAX_CATCHUP_PER_TICK:
            slots.append(cursor)
            cursor = next_fire(trigger, cursor, window)
        if cursor is not None and cursor <= now:
            return FirePlan(slots, cursor)
        return FirePlan(slots, following)

    missed_before_latest = _count_between(trigger, next_run_at, latest)
    if policy is MisfirePolicy.SKIP and now - latest > ON_TIME_GRACE:
        return FirePlan([], following, missed=missed_before_latest + 1)
    return FirePlan([latest], following, missed=missed_before_latest)


def _count_between(trigger: Trigger, first: datetime, last: datetime, cap: int = 10_000) -> int:
    """How many slots lie in ``[first, last)``, capped (only used for reporting)."""
    if isinstance(trigger, IntervalTrigger):
        return max(0, (last - first) // timedelta(seconds=trigger.seconds))
    count, cursor = 0, first
    while cursor < last and count < cap:
        count += 1
        nxt = trigger.next_fire(cursor)
        if nxt is None:
            break
        cursor = nxt
    return count
