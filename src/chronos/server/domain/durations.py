"""Durations as the API accepts them: integer seconds, ``"90s"``, ``"5m"``, ``"1h30m"``, or
``{"value": 1, "unit": "hour"}``. Always returned as seconds."""

from __future__ import annotations

import math
import re
from typing import Any

UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
CANONICAL_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
# Longer than any sensible timeout, delay, interval or backoff, and short enough that adding it
# to a date (a lease, a retry's run_at) can never overflow.
MAX_DURATION_SECONDS = 100 * 365 * 86400
TOO_LONG = "a duration must be at most 100 years"
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\s*[0-9]+(?:\.[0-9]+)?\s*(?:ms|s|m|h|d|w))+\s*$")


def parse_duration(value: Any) -> float:
    """Seconds in ``value``; ValueError with a readable message if it is not a duration."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as 30, "90s", "5m" or "1h", not a boolean')
    if isinstance(value, int | float):
        if isinstance(value, int) and value > MAX_DURATION_SECONDS:
            raise ValueError(TOO_LONG)  # before float(), which a huge int overflows
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text):  # ASCII digits only
            seconds = float(text)
        elif _WHOLE.match(text):
            seconds = sum(float(n) * UNIT_SECONDS[u] for n, u in _PART.findall(text))
        else:
            raise ValueError(f'{value!r} is not a duration: use seconds or e.g. "90s", "5m", "1h"')
    elif isinstance(value, dict):
        number, unit = parse_unit_value(value)
        seconds = float(number * CANONICAL_UNITS[unit])
    else:
        raise ValueError('expected a duration such as 30, "90s", "5m" or "1h"')
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a duration must be a finite number of seconds, zero or more")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(TOO_LONG)
    return seconds


def parse_unit_value(value: dict[str, Any]) -> tuple[int, str]:
    """``{"value": 2, "unit": "hours"}`` → ``(2, "hour")``."""
    unknown = set(value) - {"value", "unit"}
    if unknown:
        raise ValueError(f'unknown field(s) {sorted(unknown)}: expected {{"value", "unit"}}')
    number, unit = value.get("value"), value.get("unit")
    if isinstance(number, bool) or not isinstance(number, int):
        if isinstance(number, float) and number.is_integer():
            number = int(number)
        else:
            raise ValueError('"value" must be a whole number')
    if not isinstance(unit, str):
        raise ValueError('"unit" must be one of second, minute, hour, day, week')
    singular = unit.strip().lower().rstrip("s") if unit.lower() != "s" else "second"
    if singular not in CANONICAL_UNITS:
        raise ValueError(f"unknown unit {unit!r}: use second, minute, hour, day or week")
    if number * CANONICAL_UNITS[singular] > MAX_DURATION_SECONDS:
        raise ValueError(TOO_LONG)
    return number, singular


def format_seconds(seconds: float) -> int | float:
    return int(seconds) if float(seconds).is_integer() else seconds
