"""Calendars: named sets of local dates (holidays, weekends, business days) that a schedule
excludes (``exclude_calendars``) or runs only on (``only_calendar``).

Pure: a calendar's entries go in, ``date in calendar`` comes out; nothing here reads a clock
or the database. A calendar holds

- ``dates``: explicit days (``"2026-12-25"``);
- ``ranges``: inclusive spans (``{"from": "2026-12-24", "to": "2027-01-01"}``);
- ``rules``: ``weekends`` (Sat, Sun), ``weekdays`` (Mon-Fri), ``last_business_day`` (the last
  Mon-Fri of each month: holidays are not considered), ``nth_weekday`` (``{"weekday": "thu",
  "n": 4, "month": 11}``: US Thanksgiving; ``n`` 1..5 or -1..-5 counting from the month's
  end) and ``yearly`` (``{"month": 12, "day": 25}``). Any rule may be bounded by ``start``
  and ``end`` dates (inclusive).

A schedule's slot is judged by its *local* date in the schedule's timezone
(:class:`SlotFilter`); :class:`CalendarTrigger` wraps a schedule's trigger so that excluded
slots are never planned: the scheduler, ``upcoming`` and the preview all skip them.

    >>> holidays = Calendar.compile(normalize_entries(["2026-12-25"], [], ["weekends"]))
    >>> [date(2026, 12, day) in holidays for day in (25, 26, 28)]   # Fri (listed), Sat, Mon
    [True, True, False]
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypedDict, TypeGuard
from zoneinfo import ZoneInfo

from chronos.server.domain.timing import IntervalTrigger, ScheduleTrigger, Trigger

MAX_DATES = 5000
MAX_RANGES = 500
MAX_RULES = 500
# How far ahead (and back) a calendar-filtered trigger looks for a slot that is not excluded;
# beyond it, the schedule has no next fire (until its calendars change).
LOOKAHEAD = timedelta(days=3660)
# Slots counted on excluded days in one scheduler round (for the metrics only).
MAX_COUNTED = 10_000

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RULE_KINDS = ("weekends", "weekdays", "last_business_day", "nth_weekday", "yearly")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MICRO = timedelta(microseconds=1)
_DAY = timedelta(days=1)


class CalendarError(ValueError):
    """Calendar entries that cannot work; ``field`` says where (``rules[2].n``)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


CalendarRange = TypedDict("CalendarRange", {"from": str, "to": str})


class CalendarRule(TypedDict, total=False):
    kind: str  # one of RULE_KINDS
    weekday: str  # nth_weekday: mon..sun
    n: int  # nth_weekday: 1..5, or -1..-5 from the end of the month
    month: int  # nth_weekday, yearly, last_business_day: 1..12 (optional except yearly)
    day: int  # yearly: 1..31
    start: str  # the first date the rule applies (inclusive), optional
    end: str  # the last date the rule applies (inclusive), optional


class CalendarSpec(TypedDict):
    """A calendar's entries, canonical: dates sorted and unique, ranges sorted, rules unique."""

    dates: list[str]
    ranges: list[CalendarRange]
    rules: list[CalendarRule]


class CalendarRow(TypedDict):
    id: str
    account_id: str
    name: str
    description: str | None
    spec: CalendarSpec
    version: int
    created_at: datetime
    updated_at: datetime


# --- validation -----------------------------------------------------------------------------


def parse_date(text: Any, field: str) -> date:
    """A ``YYYY-MM-DD`` date; anything else raises :class:`CalendarError`."""
    if not isinstance(text, str) or not _DATE.match(text):
        raise CalendarError(f"{field}: expected a date as YYYY-MM-DD, got {text!r}", field)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CalendarError(f"{field}: {text!r} is not a date ({exc})", field) from exc


def normalize_entries(
    dates: Iterable[Any], ranges: Iterable[Any], rules: Iterable[Any]
) -> CalendarSpec:
    """The canonical entries of a calendar, or :class:`CalendarError` naming the bad one.
    A rule may be given as its kind alone (``"weekends"``)."""
    days = sorted({parse_date(text, f"dates[{i}]") for i, text in enumerate(dates)})
    if len(days) > MAX_DATES:
        raise CalendarError(f"at most {MAX_DATES} dates per calendar (got {len(days)})", "dates")
    spans: set[tuple[date, date]] = set()
    for i, span in enumerate(ranges):
        where = f"ranges[{i}]"
        if not isinstance(span, Mapping) or set(span) != {"from", "to"}:
            raise CalendarError(f'{where}: expected {{"from": date, "to": date}}', where)
        first = parse_date(span["from"], f"{where}.from")
        last = parse_date(span["to"], f"{where}.to")
        if last < first:
            raise CalendarError(f"{where}: 'to' ({last}) is before 'from' ({first})", where)
        spans.add((first, last))
    if len(spans) > MAX_RANGES:
        raise CalendarError(f"at most {MAX_RANGES} ranges per calendar", "ranges")
    canonical_rules: list[CalendarRule] = []
    for i, rule in enumerate(rules):
        normalized = _rule(rule, f"rules[{i}]")
        if normalized not in canonical_rules:
            canonical_rules.append(normalized)
    if len(canonical_rules) > MAX_RULES:
        raise CalendarError(f"at most {MAX_RULES} rules per calendar", "rules")
    return {
        "dates": [day.isoformat() for day in days],
        "ranges": [{"from": a.isoformat(), "to": b.isoformat()} for a, b in sorted(spans)],
        "rules": canonical_rules,
    }


_RULE_FIELDS = {
    "weekends": set(),
    "weekdays": set(),
    "last_business_day": {"month"},
    "nth_weekday": {"weekday", "n", "month"},
    "yearly": {"month", "day"},
}


def _rule(rule: Any, where: str) -> CalendarRule:
    if isinstance(rule, str):
        rule = {"kind": rule}
    if not isinstance(rule, Mapping):
        raise CalendarError(f"{where}: expected a rule object or a rule kind", where)
    kind = rule.get("kind")
    if kind not in _RULE_FIELDS:
        raise CalendarError(f"{where}.kind: expected one of {', '.join(RULE_KINDS)}", where)
    allowed = _RULE_FIELDS[kind] | {"kind", "start", "end"}
    given = {key for key, value in rule.items() if value is not None}
    if given - allowed:
        unknown = ", ".join(sorted(map(str, given - allowed)))
        raise CalendarError(f"{where}: a {kind} rule takes no {unknown}", where)
    out: CalendarRule = {"kind": kind}
    if kind == "nth_weekday":
        weekday = rule.get("weekday")
        if weekday not in WEEKDAYS:
            raise CalendarError(f"{where}.weekday: expected one of {', '.join(WEEKDAYS)}", where)
        out["weekday"] = weekday
        n = rule.get("n")
        if not _is_int(n) or n == 0 or not -5 <= n <= 5:
            raise CalendarError(f"{where}.n: expected 1..5, or -1..-5 from the month's end", where)
        out["n"] = n
    if "month" in given or kind == "yearly":
        month = rule.get("month")
        if not _is_int(month) or not 1 <= month <= 12:
            raise CalendarError(f"{where}.month: expected 1..12", where)
        out["month"] = month
    if kind == "yearly":
        day = rule.get("day")
        # A leap year's February has 29 days: a Feb 29 rule matches in leap years only.
        if not _is_int(day) or not 1 <= day <= _stdlib_calendar.monthrange(2000, out["month"])[1]:
            raise CalendarError(f"{where}.day: not a day of month {out['month']}", where)
        out["day"] = day
    start = rule.get("start")
    end = rule.get("end")
    if start is not None:
        out["start"] = parse_date(start, f"{where}.start").isoformat()
    if end is not None:
        out["end"] = parse_date(end, f"{where}.end").isoformat()
    if start is not None and end is not None and out["end"] < out["start"]:
        raise CalendarError(f"{where}: end is before start", where)
    return out


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def merge_entries(base: CalendarSpec, extra: CalendarSpec) -> CalendarSpec:
    """``base`` with ``extra``'s entries added (validated again: the limits still hold)."""
    return normalize_entries(
        [*base["dates"], *extra["dates"]],
        [*base["ranges"], *extra["ranges"]],
        [*base["rules"], *extra["rules"]],
    )


# --- membership -----------------------------------------------------------------------------


def _last_business_day(year: int, month: int) -> date:
    """The last Monday-to-Friday of the month."""
    day = date(year, month, _stdlib_calendar.monthrange(year, month)[1])
    while day.weekday() >= 5:
        day -= _DAY
    return day


def rule_matches(rule: CalendarRule, day: date) -> bool:
    """Does ``rule`` hold on ``day``?"""
    if "start" in rule and day.isoformat() < rule["start"]:
        return False
    if "end" in rule and day.isoformat() > rule["end"]:
        return False
    month = rule.get("month")
    if month is not None and day.month != month:
        return False
    kind = rule["kind"]
    if kind == "weekends":
        return day.weekday() >= 5
    if kind == "weekdays":
        return day.weekday() < 5
    if kind == "last_business_day":
        return day == _last_business_day(day.year, day.month)
    if kind == "nth_weekday":
        if day.weekday() != WEEKDAYS.index(rule["weekday"]):
            return False
        n = rule["n"]
        if n > 0:
            return (day.day - 1) // 7 + 1 == n
        days_in_month = _stdlib_calendar.monthrange(day.year, day.month)[1]
        return (days_in_month - day.day) // 7 + 1 == -n
    if kind == "yearly":
        return day.day == rule["day"]
    return False  # pragma: no cover - normalize_entries admits only the kinds above


# A rule without its bounds: (kind, weekday, n, month, day), None where the rule has none.
_RuleKey = tuple[str, str | None, int | None, int | None, int | None]


def _rule_key(rule: CalendarRule) -> _RuleKey:
    return (rule["kind"], rule.get("weekday"), rule.get("n"), rule.get("month"), rule.get("day"))


def _day_keys(day: date) -> list[_RuleKey]:
    """The keys of every rule that can hold on ``day`` (its bounds aside): what
    :func:`rule_matches` accepts, as a handful of lookups instead of a scan of all rules."""
    weekday = day.weekday()
    name = WEEKDAYS[weekday]
    days_in_month = _stdlib_calendar.monthrange(day.year, day.month)[1]
    first_n = (day.day - 1) // 7 + 1
    last_n = -((days_in_month - day.day) // 7 + 1)
    is_last_business = day == _last_business_day(day.year, day.month)
    keys: list[_RuleKey] = [("yearly", None, None, day.month, day.day)]
    for month in (None, day.month):
        keys.append(("weekends" if weekday >= 5 else "weekdays", None, None, month, None))
        keys.append(("nth_weekday", name, first_n, month, None))
        keys.append(("nth_weekday", name, last_n, month, None))
        if is_last_business:
            keys.append(("last_business_day", None, None, month, None))
    return keys


def _rule_index(rules: Iterable[CalendarRule]) -> dict[_RuleKey, tuple[tuple[date, ...], ...]]:
    """Rules by key, each key's ``start``/``end`` bounds merged: (starts, ends), sorted."""
    spans: dict[_RuleKey, list[tuple[date, date]]] = {}
    for rule in rules:
        first = date.fromisoformat(rule["start"]) if "start" in rule else date.min
        last = date.fromisoformat(rule["end"]) if "end" in rule else date.max
        spans.setdefault(_rule_key(rule), []).append((first, last))
    index: dict[_RuleKey, tuple[tuple[date, ...], ...]] = {}
    for key, found in spans.items():
        merged = _merge(found)
        index[key] = (tuple(a for a, _ in merged), tuple(b for _, b in merged))
    return index


def _merge(spans: Iterable[tuple[date, date]]) -> list[tuple[date, date]]:
    merged: list[tuple[date, date]] = []
    for first, last in sorted(spans):
        if merged and (merged[-1][1] == date.max or first <= merged[-1][1] + _DAY):
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _in_spans(starts: tuple[date, ...], ends: tuple[date, ...], day: date) -> bool:
    index = bisect_right(starts, day) - 1
    return index >= 0 and day <= ends[index]


@dataclass(frozen=True)
class Calendar:
    """A calendar compiled for membership tests: ``date in calendar``. Its rules are indexed
    by what they match (a day looks up a few keys, however many rules there are): a schedule
    naming many calendars of many rules still finds its next day fast."""

    dates: frozenset[date] = frozenset()
    # Merged, non-overlapping ranges: starts and ends, sorted.
    range_starts: tuple[date, ...] = ()
    range_ends: tuple[date, ...] = ()
    rules: tuple[CalendarRule, ...] = ()
    rule_index: Mapping[_RuleKey, tuple[tuple[date, ...], ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.rules and not self.rule_index:
            object.__setattr__(self, "rule_index", _rule_index(self.rules))

    @classmethod
    def compile(cls, spec: CalendarSpec) -> Calendar:
        merged = _merge(
            (date.fromisoformat(r["from"]), date.fromisoformat(r["to"])) for r in spec["ranges"]
        )
        return cls(
            frozenset(date.fromisoformat(d) for d in spec["dates"]),
            tuple(first for first, _ in merged),
            tuple(last for _, last in merged),
            tuple(spec["rules"]),
        )

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        if day in self.dates:
            return True
        if _in_spans(self.range_starts, self.range_ends, day):
            return True
        if not self.rule_index:
            return False
        for key in _day_keys(day):
            spans = self.rule_index.get(key)
            if spans is not None and _in_spans(spans[0], spans[1], day):
                return True
        return False

    def days_between(self, first: date, last: date) -> list[date]:
        """The calendar's dates in ``[first, last]``, in order."""
        days = (date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1))
        return [day for day in days if day in self]  # ordinals: no overflow past 9999-12-31


EMPTY = Calendar()


def contains(spec: CalendarSpec, day: date) -> bool:
    """Does local date ``day`` belong to the calendar with these entries?"""
    return day in Calendar.compile(spec)


# --- a schedule's slots ---------------------------------------------------------------------

# The calendars a schedule names, compiled, by name. A name missing here is taken as an empty
# calendar (it cannot be deleted while a schedule names it, so this is a safety net only).
Calendars = Mapping[str, Calendar]


@dataclass(frozen=True)
class SlotFilter:
    """Which of a schedule's slots its calendars rule out, judged by the slot's local date."""

    zone: ZoneInfo
    exclude: tuple[tuple[str, Calendar], ...] = ()
    only: tuple[str, Calendar] | None = None
    _verdicts: dict[date, str | None] = field(default_factory=dict, compare=False, repr=False)

    def day_reason(self, day: date) -> str | None:
        """Why the slots on local date ``day`` do not fire, or None when they may."""
        if day in self._verdicts:
            return self._verdicts[day]
        reason: str | None = None
        for name, excluded in self.exclude:
            if day in excluded:
                reason = f"excluded by calendar '{name}' ({day.isoformat()})"
                break
        if reason is None and self.only is not None and day not in self.only[1]:
            reason = (
                f"{day.isoformat()} is not in calendar '{self.only[0]}' "
                "(the schedule runs only on its dates)"
            )
        if len(self._verdicts) < 4096:
            self._verdicts[day] = reason
        return reason

    def local_day(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def reason(self, instant: datetime) -> str | None:
        """Why the slot at ``instant`` does not fire, or None when it may."""
        return self.day_reason(self.local_day(instant))

    def day_start(self, day: date) -> datetime:
        """The first instant (UTC) of local date ``day``."""
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)


def slot_filter(
    exclude: Sequence[str], only: str | None, timezone: str, calendars: Calendars
) -> SlotFilter | None:
    """The filter of a schedule naming ``exclude`` and ``only``; None when it names none."""
    if not exclude and only is None:
        return None
    return SlotFilter(
        ZoneInfo(timezone),
        tuple((name, calendars.get(name, EMPTY)) for name in exclude),
        (only, calendars.get(only, EMPTY)) if only is not None else None,
    )


@dataclass(frozen=True)
class CalendarTrigger:
    """A schedule's trigger with the slots its calendars exclude taken out.

    An excluded slot makes the search jump to the next (or previous) local day, so a
    per-second schedule skips a holiday in one step, not 86,400. It looks :data:`LOOKAHEAD`
    ahead at most: a calendar that excludes every day leaves the schedule with no next fire.
    """

    inner: ScheduleTrigger
    filter: SlotFilter
    # No fire after this instant (a series of fires, see :func:`series_trigger`).
    until: datetime | None = None

    def next_fire(self, after: datetime) -> datetime | None:
        horizon = after + LOOKAHEAD
        if self.until is not None:
            horizon = min(horizon, self.until)
        cursor = after
        while True:
            fire = self.inner.next_fire(cursor)
            if fire is None or fire > horizon:
                return None
            day = self.filter.local_day(fire)
            if self.filter.day_reason(day) is None:
                return fire
            # Past this local day (never backwards: a DST change at midnight cannot loop).
            cursor = max(fire, self.filter.day_start(day + _DAY) - _MICRO)

    def latest_fire(self, at_or_before: datetime) -> datetime | None:
        horizon = at_or_before - LOOKAHEAD
        cursor = at_or_before
        while True:
            fire = self.inner.latest_fire(cursor)
            if fire is None or fire < horizon:
                return None
            day = self.filter.local_day(fire)
            if self.filter.day_reason(day) is None:
                return fire
            cursor = min(fire, self.filter.day_start(day)) - _MICRO


def series_trigger(trigger: Trigger, start: datetime) -> Trigger:
    """``trigger`` for listing fires one after another from ``start`` (upcoming, preview):
    a calendar-filtered one stops :data:`LOOKAHEAD` after ``start``, so a long list whose
    fires are years apart (an ``only_calendar`` of leap days) costs one look-ahead, not one
    per fire."""
    if isinstance(trigger, CalendarTrigger):
        return replace(trigger, until=start + LOOKAHEAD)
    return trigger


def count_excluded(
    inner: ScheduleTrigger,
    slot_rules: SlotFilter,
    start: datetime,
    end: datetime,
    cap: int = MAX_COUNTED,
) -> int:
    """How many of ``inner``'s slots in ``[start, end)`` the filter rules out (capped): what
    a scheduler round passes over, for the ``excluded`` slot metric."""
    if end <= start:
        return 0
    count = 0
    day = slot_rules.local_day(start)
    last_day = slot_rules.local_day(end)
    days = 0
    while day <= last_day and count < cap and days <= LOOKAHEAD.days:
        days += 1
        if slot_rules.day_reason(day) is not None:
            low = max(start, slot_rules.day_start(day))
            high = min(end, slot_rules.day_start(day + _DAY))
            count += _count_slots(inner, low, high, cap - count)
        day += _DAY
    return min(count, cap)


def _count_slots(trigger: ScheduleTrigger, low: datetime, high: datetime, cap: int) -> int:
    """``trigger``'s slots in ``[low, high)``, at most ``cap``."""
    if high <= low:
        return 0
    if isinstance(trigger, IntervalTrigger):
        first = trigger.next_fire(low - _MICRO)
        if first is None or first >= high:
            return 0
        return min(cap, (high - _MICRO - first) // timedelta(seconds=trigger.seconds) + 1)
    count = 0
    cursor = low - _MICRO
    while count < cap:
        fire = trigger.next_fire(cursor)
        if fire is None or fire >= high:
            break
        count += 1
        cursor = fire
    return count
