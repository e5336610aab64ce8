"""A small, strict iCalendar (RFC 5545) reader for holiday calendars.

Only what a day calendar needs, and nothing is guessed: all-day ``VEVENT``s become dates or
ranges (``DTEND`` is exclusive, as in RFC 5545), and a simple yearly ``RRULE`` becomes a rule
(``FREQ=YEARLY`` on the start's month and day, or with ``BYMONTH`` and ``BYMONTHDAY``, or
``BYMONTH`` and an ordinal ``BYDAY`` such as ``4TH``; ``UNTIL`` and ``COUNT`` bound it).
Anything else that would change which days are meant — a timed event, another frequency, an
``EXDATE`` or ``RDATE`` — is refused with the line it is on, rather than read wrongly.
Cancelled events (``STATUS:CANCELLED``) are left out; other components are ignored.

Why not the ``icalendar`` package: it would parse far more than is used here, and this
reader's limits (size, lines, nesting, events) are what make hostile input harmless.

    >>> entries = parse_ics(text)   # {"dates": [...], "ranges": [...], "rules": [...]}
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from chronos.server.domain.calendars import (
    MAX_DATES,
    WEEKDAYS,
    CalendarError,
    CalendarRule,
    CalendarSpec,
    normalize_entries,
    rule_matches,
)

MAX_ICS_CHARS = 2_000_000
MAX_LINE_CHARS = 10_000
MAX_DEPTH = 8
MAX_EVENTS = MAX_DATES
# The longest all-day event taken (a longer one is almost surely a mistake).
MAX_EVENT_DAYS = 3660
# The most years the ``COUNT`` rules of one text may be searched through, all together (each
# year is one date to compute): 5,000 events of ``COUNT=1000`` must not keep a request busy.
MAX_COUNT_YEARS = 200_000

_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_ICS_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_ICS_DATE_PREFIX = re.compile(r"^(\d{4})(\d{2})(\d{2})(T\d{6}Z?)?$")
_DAYS = re.compile(r"^P(?:(\d{1,4})W|(\d{1,4})D)$")
_BYDAY = re.compile(r"^([+-]?[1-5])(MO|TU|WE|TH|FR|SA|SU)$")
_ICS_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


class IcsError(CalendarError):
    """An .ics text that cannot be read, or that says something this reader does not take."""

    def __init__(self, message: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"ics: {where}{message}", "ics")
        self.line = line


@dataclass
class _Property:
    name: str
    params: dict[str, str]
    value: str
    line: int


@dataclass
class _Event:
    line: int
    props: list[_Property] = field(default_factory=list)

    def get(self, name: str) -> _Property | None:
        found = [p for p in self.props if p.name == name]
        if len(found) > 1:
            raise IcsError(f"an event has {len(found)} {name} properties", found[1].line)
        return found[0] if found else None


def parse_ics(text: str) -> CalendarSpec:
    """The dates, ranges and rules of ``text``'s all-day events (see the module doc)."""
    if len(text) > MAX_ICS_CHARS:
        raise IcsError(f"larger than {MAX_ICS_CHARS} characters")
    if "\x00" in text:
        raise IcsError("contains a NUL character")
    events = _events(_lines(text))
    dates: list[str] = []
    ranges: list[dict[str, str]] = []
    rules: list[CalendarRule] = []
    budget = _Budget(MAX_COUNT_YEARS)
    for event in events:
        status = event.get("STATUS")
        if status is not None and status.value.upper() == "CANCELLED":
            continue
        for refused in ("EXDATE", "RDATE", "EXRULE"):
            prop = event.get(refused)
            if prop is not None:
                raise IcsError(f"{refused} is not supported", prop.line)
        first, last = _span(event)
        rrule = event.get("RRULE")
        if rrule is not None:
            if last != first:
                raise IcsError("a recurring event must last one day", rrule.line)
            rule = _yearly_rule(rrule, first, budget)
            if rule is not None:
                rules.append(rule)
            continue
        if first == last:
            dates.append(first.isoformat())
        else:
            ranges.append({"from": first.isoformat(), "to": last.isoformat()})
    return normalize_entries(dates, ranges, rules)


def _lines(text: str) -> list[tuple[int, str]]:
    """Unfolded content lines with their (first) line numbers; blank lines dropped."""
    out: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t"):
            if not out:
                raise IcsError("a continuation line with nothing to continue", number)
            start, previous = out[-1]
            out[-1] = (start, previous + raw[1:])
        elif raw.strip():
            out.append((number, raw))
        if out and len(out[-1][1]) > MAX_LINE_CHARS:
            raise IcsError(f"a line longer than {MAX_LINE_CHARS} characters", out[-1][0])
    return out


def _property(number: int, line: str) -> _Property:
    """``NAME;PARAM=VALUE;...:VALUE`` (a quoted parameter value may hold ``:`` and ``;``)."""
    index, quoted = 0, False
    while index < len(line):
        char = line[index]
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            break
        index += 1
    if index == len(line):
        raise IcsError("a line without ':'", number)
    head, value = line[:index], line[index + 1 :]
    parts = _split_params(head, number)
    name = parts[0].upper()
    if not _NAME.match(name):
        raise IcsError(f"invalid property name {parts[0][:40]!r}", number)
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, param_value = part.partition("=")
        if not sep or not _NAME.match(key):
            raise IcsError(f"invalid parameter {part[:40]!r}", number)
        params[key.upper()] = param_value.strip('"')
    return _Property(name, params, value, number)


def _split_params(head: str, number: int) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in head:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise IcsError("an unclosed quote", number)
    parts.append("".join(current))
    return parts


def _events(lines: list[tuple[int, str]]) -> list[_Event]:
    if not lines or lines[0][1].strip().upper() != "BEGIN:VCALENDAR":
        raise IcsError("not an iCalendar text: it must begin with BEGIN:VCALENDAR", 1)
    stack: list[str] = []
    events: list[_Event] = []
    current: _Event | None = None
    ended = False
    for number, line in lines:
        if ended:
            raise IcsError("text after END:VCALENDAR", number)
        prop = _property(number, line)
        if prop.name == "BEGIN":
            component = prop.value.upper()
            if len(stack) >= MAX_DEPTH:
                raise IcsError("components nested too deep", number)
            if component == "VEVENT" and stack == ["VCALENDAR"]:
                if len(events) >= MAX_EVENTS:
                    raise IcsError(f"more than {MAX_EVENTS} events", number)
                current = _Event(number)
            stack.append(component)
        elif prop.name == "END":
            component = prop.value.upper()
            if not stack or stack[-1] != component:
                raise IcsError(f"END:{prop.value[:40]} does not close the open component", number)
            stack.pop()
            if component == "VEVENT" and stack == ["VCALENDAR"] and current is not None:
                events.append(current)
                current = None
            if not stack:
                ended = True
        elif current is not None and stack[-1] == "VEVENT":
            current.props.append(prop)
    if not ended:
        raise IcsError("END:VCALENDAR is missing")
    return events


def _date(prop: _Property) -> date:
    value_type = prop.params.get("VALUE", "").upper()
    match = _ICS_DATE.match(prop.value.strip())
    if value_type == "DATE-TIME" or (match is None and "T" in prop.value):
        raise IcsError(f"{prop.name} has a time: only all-day events are taken", prop.line)
    if match is None:
        raise IcsError(f"{prop.name}: expected a date as YYYYMMDD", prop.line)
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise IcsError(f"{prop.name}: {exc}", prop.line) from exc


def _span(event: _Event) -> tuple[date, date]:
    """The event's first and last day (inclusive)."""
    start = event.get("DTSTART")
    if start is None:
        raise IcsError("an event without DTSTART", event.line)
    first = _date(start)
    end = event.get("DTEND")
    duration = event.get("DURATION")
    if end is not None and duration is not None:
        raise IcsError("an event with both DTEND and DURATION", end.line)
    last = first
    if end is not None:
        exclusive = _date(end)
        if exclusive <= first:
            raise IcsError("DTEND must be after DTSTART", end.line)
        last = exclusive - timedelta(days=1)
    elif duration is not None:
        match = _DAYS.match(duration.value.strip())
        if match is None:
            raise IcsError("DURATION: only whole days or weeks (P2D, P1W)", duration.line)
        days = int(match[1]) * 7 if match[1] else int(match[2])
        if days < 1:
            raise IcsError("DURATION must be at least a day", duration.line)
        if (date.max - first).days < days - 1:
            raise IcsError("the event ends after the year 9999", duration.line)
        last = first + timedelta(days=days - 1)
    if (last - first).days >= MAX_EVENT_DAYS:
        raise IcsError(f"an event longer than {MAX_EVENT_DAYS} days", start.line)
    return first, last


@dataclass
class _Budget:
    years: int


def _yearly_rule(prop: _Property, first: date, budget: _Budget) -> CalendarRule | None:
    """The rule of a simple yearly recurrence starting on ``first``."""
    parts: dict[str, str] = {}
    for item in prop.value.split(";"):
        key, sep, value = item.partition("=")
        if not sep or key.upper() in parts:
            raise IcsError(f"RRULE: cannot read {item[:40]!r}", prop.line)
        parts[key.upper()] = value.upper()
    if parts.get("FREQ") != "YEARLY":
        raise IcsError("RRULE: only FREQ=YEARLY is supported", prop.line)
    unknown = set(parts) - {"FREQ", "INTERVAL", "BYMONTH", "BYMONTHDAY", "BYDAY", "UNTIL", "COUNT"}
    unknown.discard("WKST")
    if unknown:
        raise IcsError(f"RRULE: {', '.join(sorted(unknown))} not supported", prop.line)
    if parts.get("INTERVAL", "1") != "1":
        raise IcsError("RRULE: only INTERVAL=1 is supported", prop.line)
    if "UNTIL" in parts and "COUNT" in parts:
        raise IcsError("RRULE: UNTIL and COUNT together", prop.line)
    month = _int_part(parts, "BYMONTH", prop, 1, 12) or first.month
    rule: CalendarRule
    if "BYDAY" in parts:
        if "BYMONTHDAY" in parts:
            raise IcsError("RRULE: BYDAY with BYMONTHDAY is not supported", prop.line)
        match = _BYDAY.match(parts["BYDAY"])
        if match is None or "BYMONTH" not in parts:
            raise IcsError(
                "RRULE: BYDAY must be one ordinal weekday (4TH, -1MO) with BYMONTH", prop.line
            )
        weekday = WEEKDAYS[_ICS_WEEKDAYS.index(match[2])]
        rule = {"kind": "nth_weekday", "weekday": weekday, "n": int(match[1]), "month": month}
    else:
        day = _int_part(parts, "BYMONTHDAY", prop, 1, 31) or first.day
        rule = {"kind": "yearly", "month": month, "day": day}
    rule["start"] = first.isoformat()
    if "UNTIL" in parts:
        match = _ICS_DATE_PREFIX.match(parts["UNTIL"])
        if match is None:
            raise IcsError("RRULE: UNTIL must be a date or a date-time", prop.line)
        try:
            rule["end"] = date(int(match[1]), int(match[2]), int(match[3])).isoformat()
        except ValueError as exc:
            raise IcsError(f"RRULE: UNTIL: {exc}", prop.line) from exc
        if rule["end"] < rule["start"]:
            return None  # never occurs
    elif "COUNT" in parts:
        count = _int_part(parts, "COUNT", prop, 1, 1000)
        assert count is not None
        rule["end"] = _nth_occurrence(rule, first, count, prop, budget).isoformat()
    return rule


def _int_part(parts: dict[str, str], key: str, prop: _Property, low: int, high: int) -> int | None:
    if key not in parts:
        return None
    text = parts[key]
    if not re.fullmatch(r"[+-]?\d{1,4}", text) or not low <= int(text) <= high:
        raise IcsError(f"RRULE: {key} must be one number from {low} to {high}", prop.line)
    return int(text)


def _nth_occurrence(
    rule: CalendarRule, first: date, count: int, prop: _Property, budget: _Budget
) -> date:
    """The date of the ``count``-th occurrence of a yearly rule from ``first``."""
    found = 0
    for year in range(first.year, min(first.year + 4 * count + 8, 9999)):
        budget.years -= 1
        if budget.years < 0:
            raise IcsError(
                f"RRULE COUNTs reach more than {MAX_COUNT_YEARS} years in total: use UNTIL",
                prop.line,
            )
        for day in _year_candidates(rule, year):
            if day >= first and rule_matches(rule, day):
                found += 1
                if found == count:
                    return day
    raise IcsError("RRULE: COUNT reaches past the year 9999", prop.line)


def _year_candidates(rule: CalendarRule, year: int) -> list[date]:
    """The day of ``year`` a yearly rule (``yearly`` or ``nth_weekday``, in its month) can
    hold on, computed (none when the month has no such day)."""
    month = rule.get("month", 1)
    days_in_month = _stdlib_calendar.monthrange(year, month)[1]
    if rule["kind"] == "yearly":
        day = rule["day"]
    else:
        weekday = WEEKDAYS.index(rule["weekday"])
        n = rule["n"]
        if n > 0:
            day = 1 + (weekday - date(year, month, 1).weekday()) % 7 + 7 * (n - 1)
        else:
            last = date(year, month, days_in_month).weekday()
            day = days_in_month - (last - weekday) % 7 - 7 * (-n - 1)
    return [date(year, month, day)] if 1 <= day <= days_in_month else []
