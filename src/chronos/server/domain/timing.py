"""Pure time logic: when does a schedule fire?

Nothing here reads a clock or touches the database. A trigger answers ``next_fire(after)``:
the first fire time strictly after an instant, always in UTC. :func:`plan_fires` decides which
due slots to turn into jobs under a misfire policy.

Cron expressions are evaluated by `cronsim` in the schedule's IANA timezone, which follows
Debian cron around DST changes: a time inside a spring-forward gap fires once, at the first
valid instant after the gap; a time inside a repeated fall-back hour fires once, on its first
occurrence; expressions whose hour field is ``*`` follow real time.

    >>> trigger = CronTrigger.parse("0 2 * * *", "America/New_York")
    >>> trigger.next_fire(datetime(2026, 1, 1, tzinfo=UTC))
    datetime.datetime(2026, 1, 1, 7, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

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


@dataclass(frozen=True)
class CronTrigger:
    expression: str
    timezone: str = "UTC"

    @classmethod
    def parse(cls, expression: str, timezone: str = "UTC") -> CronTrigger:
        """Validate ``expression``; raise :class:`TimingError` if it can never fire."""
        normalized = " ".join(expression.split())
        normalized = ALIASES.get(normalized.lower(), normalized)
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
        trigger = cls(normalized, timezone)
        try:
            probe = CronSim(normalized, datetime(2000, 1, 1, tzinfo=tz))
            next(probe)
        except CronSimError as exc:
            if _fires_with_any_month(normalized, tz):
                raise TimingError(
                    f"cron expression {expression!r} never fires: its day of month does not "
                    "exist in the months it names"
                ) from exc
            raise TimingError(f"invalid cron expression {expression!r}: {exc}") from exc
        except StopIteration as exc:  # pragma: no cover - cronsim raises CronSimError instead
            raise TimingError(f"cron expression {expression!r} never fires") from exc
        return trigger

    def _iterate(self, start: datetime, *, reverse: bool = False) -> Iterator[datetime]:
        tz = ZoneInfo(self.timezone)
        return CronSim(self.expression, start.astimezone(tz), reverse=reverse)

    def next_fire(self, after: datetime) -> datetime | None:
        for fire in self._iterate(after):
            fire_utc = fire.astimezone(UTC)
            if fire_utc > after:
                return fire_utc
        return None  # pragma: no cover - cron iterators are infinite

    def latest_fire(self, at_or_before: datetime) -> datetime | None:
        """The last fire time ``<= at_or_before``."""
        # cronsim's reverse iteration is strictly before its start; start one second later.
        for fire in self._iterate(at_or_before + timedelta(seconds=1), reverse=True):
            fire_utc = fire.astimezone(UTC)
            if fire_utc <= at_or_before:
                return fire_utc
        return None  # pragma: no cover


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

_EVERY = re.compile(r"^@every\s+(.+)$", re.IGNORECASE)


def parse_every(text: str) -> str | None:
    """``"@every 90s"`` → ``"90s"``; anything else → None."""
    match = _EVERY.match(text.strip())
    return match.group(1).strip() if match else None


@dataclass(frozen=True)
class Window:
    start_at: datetime | None = None
    end_at: datetime | None = None


def next_fire(
    trigger: ScheduleTrigger, after: datetime, window: Window = Window()
) -> datetime | None:
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
    trigger: ScheduleTrigger, after: datetime, count: int, window: Window = Window()
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
    trigger: ScheduleTrigger,
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


def _count_between(
    trigger: ScheduleTrigger, first: datetime, last: datetime, cap: int = 10_000
) -> int:
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
