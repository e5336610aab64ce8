"""Schedules in plain words: ``describe_spec(spec)`` → ``"every day at 02:00 (Europe/Paris)"``.

Pure (no clock, no database), for the preview endpoint and the dashboard. Common cron shapes
get words; anything else is quoted as ``cron `expr```. A cron's description always ends with
its timezone in parentheses; an interval's has none (it does not depend on one). A
``start_at``/``end_at`` window follows, in RFC 3339 as the API writes it.

    >>> describe_cron("0 8 * * 1-5")
    'weekdays at 08:00'
    >>> describe_interval({"value": 90, "unit": "second"})
    'every 90 seconds'
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from chronos.server.domain.hashing import HashError, has_hashes, resolve_hashes, spread_offset
from chronos.server.domain.rows import IntervalData, ScheduleSpec
from chronos.server.domain.schedules import spec_spread
from chronos.server.domain.timing import ALIASES

DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAY_SYMBOLS = {name[:3].upper(): index for index, name in enumerate(DAY_NAMES)}
_MONTH_SYMBOLS = {name[:3].upper(): index + 1 for index, name in enumerate(MONTH_NAMES)}

# (lowest, highest) of each field, seconds first.
_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_SECOND, _MINUTE, _HOUR, _DOM, _MONTH, _DOW = range(6)
# Beyond this many fixed times a day (or listed days), words stop helping: quote the cron.
_MAX_LISTED = 6

Values = tuple[int, ...]


def describe_spec(spec: ScheduleSpec) -> str:
    """The schedule's timing in words, with its timezone (cron) and window (if any). ``H``
    terms are described as they resolve for the schedule's name; a ``spread`` offset follows
    as ``+12m34s``."""
    if spec["cron"] is not None:
        cron = spec["cron"]
        if has_hashes(cron):
            with contextlib.suppress(HashError):
                cron = resolve_hashes(cron, spec["name"])
        words = f"{describe_cron(cron)} ({spec['timezone']})"
    elif spec["interval"] is not None:
        words = describe_interval(spec["interval"])
    else:  # pragma: no cover - a normalised spec has one or the other
        words = "never"
    offset = spread_offset(spec["name"], spec_spread(spec))
    if offset:
        words += f" +{describe_offset(offset)} (spread)"
    return words + describe_window(spec["start_at"], spec["end_at"])


def describe_offset(seconds: int) -> str:
    """``1245`` → ``"20m45s"``; ``3600`` → ``"1h"``."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s")]
    return "".join(f"{value}{unit}" for value, unit in parts if value) or "0s"


def describe_interval(interval: IntervalData) -> str:
    value, unit = interval["value"], interval["unit"]
    return f"every {unit}" if value == 1 else f"every {value} {unit}s"


def describe_window(start_at: str | None, end_at: str | None) -> str:
    if start_at and end_at:
        return f", from {start_at} until {end_at}"
    if start_at:
        return f", from {start_at}"
    if end_at:
        return f", until {end_at}"
    return ""


def describe_cron(expression: str) -> str:
    """A cron expression (5 fields, or 6 with seconds first, or a macro) in words."""
    text = " ".join(expression.split())
    text = ALIASES.get(text.lower(), text)
    words = _cron_words(text)
    return words if words is not None else f"cron `{text}`"


def _cron_words(text: str) -> str | None:
    raw = text.upper().split(" ")
    if len(raw) == 5:
        raw.insert(0, "0")
    if len(raw) != 6:
        return None
    parsed = [_expand(field, index) for index, field in enumerate(raw)]
    if any(values is None for values in parsed):
        return None
    second, minute, hour, dom, month, dow = (v or () for v in parsed)
    dow = tuple(sorted({d % 7 for d in dow}))
    # Vixie cron: with both day fields restricted (neither starts with "*"), either matches.
    vixie_or = not raw[_DOM].startswith("*") and not raw[_DOW].startswith("*")
    if vixie_or and not _full(dom, _DOM) and not _full(dow, _DOW):
        return None
    days = _days(dom, month, dow)
    if days is None:
        return None
    lead, tail = days
    every_day = lead == "every day"

    periodic = _periodic(second, minute, hour)
    if periodic is not None:
        return periodic if every_day else f"{periodic} {tail}"
    times = _fixed_times(second, minute, hour)
    if times is None:
        return None
    if every_day:
        return f"every day at {times[0]}" if len(times) == 1 else f"at {_join(times)} every day"
    return f"{lead} at {_join(times)}"


def _expand(field: str, index: int) -> Values | None:
    """The values a cron field names (``*``, lists, ranges, steps, names), or None for syntax
    that words do not cover (``L``, ``W``, ``#``)."""
    low, high = _BOUNDS[index]
    values: set[int] = set()
    for term in field.split(","):
        base, slash, step_text = term.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                return None
            step = int(step_text)
        if base == "*":
            start, end = low, high if index != _DOW else 6
        elif "-" in base:
            first, _, last = base.partition("-")
            start_value, end_value = _value(first, index), _value(last, index)
            if start_value is None or end_value is None or end_value < start_value:
                return None
            start, end = start_value, end_value
        else:
            single = _value(base, index)
            if single is None:
                return None
            start, end = single, (high if slash else single)
        values.update(range(start, end + 1, step))
    if not values or min(values) < low or max(values) > high:
        return None
    return tuple(sorted(values))


def _value(text: str, index: int) -> int | None:
    if index == _DOW and text in _DAY_SYMBOLS:
        return _DAY_SYMBOLS[text]
    if index == _MONTH and text in _MONTH_SYMBOLS:
        return _MONTH_SYMBOLS[text]
    return int(text) if text.isdigit() else None


def _full(values: Values, index: int) -> bool:
    low, high = _BOUNDS[index]
    if index == _DOW:
        high = 6
    return values == tuple(range(low, high + 1))


def _step(values: Values, index: int) -> int | None:
    """``n`` when ``values`` are every n-th value from the lowest, evenly round the clock
    (``*/15`` minutes, ``*/6`` hours); None otherwise."""
    low, high = _BOUNDS[index]
    size = high - low + 1
    for step in range(2, size):
        if size % step == 0 and values == tuple(range(low, high + 1, step)):
            return step
    return None


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _plural(word: str, count: int) -> str:
    return word if count == 1 else f"{word}s"


def _days(dom: Values, month: Values, dow: Values) -> tuple[str, str] | None:
    """How a day phrase reads before a time of day ("every Monday" at 09:30) and after a
    frequency (every hour "on Mondays"). The tail of every day is empty."""
    months = "" if _full(month, _MONTH) else _join([MONTH_NAMES[m - 1] for m in month])
    if _full(dom, _DOM) and _full(dow, _DOW):
        if not months:
            return "every day", ""
        return f"every day in {months}", f"in {months}"
    if _full(dom, _DOM):
        if dow == (1, 2, 3, 4, 5):
            lead, tail = "weekdays", "on weekdays"
        elif dow == (0, 6):
            lead, tail = "weekends", "on weekends"
        else:
            ordered = sorted(dow, key=lambda d: (d - 1) % 7)  # Monday first
            lead = f"every {_join([DAY_NAMES[d] for d in ordered])}"
            tail = f"on {_join([DAY_NAMES[d] + 's' for d in ordered])}"
        if months:
            return f"{lead} in {months}", f"{tail} in {months}"
        return lead, tail
    if not _full(dow, _DOW) or len(dom) > _MAX_LISTED:
        return None
    numbers = _join([str(d) for d in dom])
    if not months:
        phrase = f"on {_plural('day', len(dom))} {numbers} of every month"
        return phrase, phrase
    if len(month) == 1 and len(dom) == 1:
        return f"every year on {months} {dom[0]}", f"on {months} {dom[0]}"
    phrase = f"on {_plural('day', len(dom))} {numbers} of {months}"
    return phrase, phrase


def _periodic(second: Values, minute: Values, hour: Values) -> str | None:
    """Sub-daily frequencies: every second/minute/hour, every n of them, ranges of hours."""
    all_minutes, all_hours = _full(minute, _MINUTE), _full(hour, _HOUR)
    if second != (0,):
        if not (all_minutes and all_hours):
            return None
        if _full(second, _SECOND):
            return "every second"
        step = _step(second, _SECOND)
        return f"every {step} seconds" if step else None
    minute_step = _step(minute, _MINUTE)
    if all_hours:
        if all_minutes:
            return "every minute"
        if minute_step:
            return f"every {minute_step} minutes"
        if minute == (0,):
            return "every hour"
        if len(minute) <= 4:
            return f"every hour at {_join([f':{m:02}' for m in minute])}"
        return None
    hour_step = _step(hour, _HOUR)
    if hour_step and len(minute) == 1:
        return f"every {hour_step} hours" + (f" at :{minute[0]:02}" if minute[0] else "")
    # A range of hours reads as one when listing its times would be long.
    contiguous = hour == tuple(range(hour[0], hour[-1] + 1))
    if len(minute) == 1 and len(hour) >= 3 and contiguous:
        m = minute[0]
        return f"every hour from {hour[0]:02}:{m:02} to {hour[-1]:02}:{m:02}"
    listable = len(minute) < 3 and len(minute) * len(hour) <= _MAX_LISTED
    if (all_minutes or minute_step) and contiguous and not listable:
        every = "every minute" if all_minutes else f"every {minute_step} minutes"
        return f"{every} from {hour[0]:02}:00 to {hour[-1]:02}:{minute[-1]:02}"
    return None


def _fixed_times(second: Values, minute: Values, hour: Values) -> list[str] | None:
    """A few fixed times of day, ``["02:00", "14:00"]`` (with seconds when not zero)."""
    if len(second) != 1 or len(minute) * len(hour) > _MAX_LISTED:
        return None
    s = second[0]
    return [f"{h:02}:{m:02}" + (f":{s:02}" if s else "") for h in hour for m in minute]
