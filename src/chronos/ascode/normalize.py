"""A schedule body in the canonical form the API returns it in, computed on the client.

``apply`` compares what a file declares with what the server holds. The server answers with
its canonical view (``GET /v1/schedules``: aliases resolved, durations in seconds, defaults
filled), so a body written by hand — ``timeout: 5m``, ``schedule: "@every 90s"``,
``webhook: {url: …}``, ``interval: {value: 2, unit: hours}`` — is brought to that same form
here before the two are compared::

    canonical({"name": "n", "handler": "h", "schedule": "@every 90s", "timeout": "5m"})
    # → {"name": "n", "handler": "h", "cron": None, "interval": {"value": 90, "unit": "second"},
    #    "timeout": 300, "max_retries": 3, "retry_policy": {...}, "timezone": "UTC", ...}

This mirrors the documented input rules only to *compare*; the server stays the judge of what
is valid (every changed body is validated by the server before anything is written). A value
this module cannot read is kept as written, so it shows as a change and the server's 422 says
why.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

# Fields a response carries that are not configuration (``ScheduleIn`` drops them too).
READ_ONLY_FIELDS = frozenset(
    {
        "id",
        "account_id",
        "created_at",
        "updated_at",
        "next_run",
        "next_run_at",
        "last_run_at",
        "last_status",
        "version",
        "state",
        "success_rate",
        "paused",
        "recent_runs",
        "cron_resolved",
    }
)

DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_POLICY = {"initial_interval": 1, "multiplier": 2.0, "max_interval": 3600}
DEFAULT_DST_POLICY = {"gap": "shift", "overlap": "first"}
DEFAULT_SUCCESS_CODES = ["200-299"]

# The configuration fields of a schedule as ``GET /v1/schedules/{name}`` returns them, with
# the value the server fills in when a body leaves them out (``retry_policy`` depends on
# ``max_retries``: see :func:`default_retry_policy`).
CONFIG_DEFAULTS: dict[str, Any] = {
    "description": None,
    "handler": None,
    "cron": None,
    "interval": None,
    "timezone": "UTC",
    "start_at": None,
    "end_at": None,
    "payload": None,
    "delivery": {"type": "pull"},
    "timeout": 30,
    "max_retries": DEFAULT_MAX_RETRIES,
    "retry_policy": None,
    "concurrency": "forbid",
    "misfire_policy": "run_once",
    "catchup_window": 3600,
    "tags": {},
    "enabled": True,
    "dst_policy": DEFAULT_DST_POLICY,
    "jitter": 0,
    "spread": 0,
    "exclude_calendars": [],
    "only_calendar": None,
}
CONFIG_FIELDS = ("name", *CONFIG_DEFAULTS)

CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
CANONICAL_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\s*[0-9]+(?:\.[0-9]+)?\s*(?:ms|s|m|h|d|w))+\s*$")
_EVERY = re.compile(r"^@every\s+(.+)$", re.IGNORECASE)


class Unreadable(ValueError):
    """A value this module cannot bring to canonical form (the server will judge it)."""


def _number(seconds: float) -> int | float:
    return int(seconds) if float(seconds).is_integer() else seconds


def _unit_value(value: dict[str, Any]) -> tuple[int, str]:
    if set(value) - {"value", "unit"}:
        raise Unreadable("unknown keys")
    number, unit = value.get("value"), value.get("unit")
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or not isinstance(unit, str):
        raise Unreadable("not a {value, unit} pair")
    singular = unit.strip().lower().rstrip("s") if unit.lower() != "s" else "second"
    if singular not in CANONICAL_UNITS:
        raise Unreadable(f"unknown unit {unit!r}")
    return number, singular


def seconds(value: Any) -> int | float:
    """A duration (``30``, ``"90s"``, ``"1h30m"``, ``{"value": 1, "unit": "hour"}``) in
    seconds, as the API returns durations."""
    if isinstance(value, bool):
        raise Unreadable("a boolean is not a duration")
    if isinstance(value, int | float):
        total = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text):
            total = float(text)
        elif _WHOLE.match(text):
            total = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
        else:
            raise Unreadable(f"{value!r} is not a duration")
    elif isinstance(value, dict):
        number, unit = _unit_value(value)
        total = float(number * CANONICAL_UNITS[unit])
    else:
        raise Unreadable(f"{value!r} is not a duration")
    if not math.isfinite(total) or total < 0:
        raise Unreadable("not a finite duration")
    return _number(total)


def interval(value: Any) -> dict[str, Any]:
    """``{"value": 2, "unit": "hours"}`` → ``{"value": 2, "unit": "hour"}``; ``"90m"`` or
    ``5400`` → the largest whole unit (``{"value": 90, "unit": "minute"}``)."""
    if isinstance(value, dict):
        number, unit = _unit_value(value)
        return {"value": number, "unit": unit}
    total = seconds(value)
    if not float(total).is_integer():
        raise Unreadable("an interval is a whole number of seconds")
    number, unit = int(total), "second"
    for name in ("week", "day", "hour", "minute"):
        if number and number % CANONICAL_UNITS[name] == 0:
            return {"value": number // CANONICAL_UNITS[name], "unit": name}
    return {"value": number, "unit": unit}


def cron(expression: str) -> str:
    """Whitespace collapsed, ``@daily`` and friends expanded; the rest as written."""
    collapsed = " ".join(expression.split())
    return CRON_ALIASES.get(collapsed.lower(), collapsed)


def instant(value: Any) -> str:
    """An RFC 3339 time in UTC with a ``Z`` (a naive time is taken as UTC)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise Unreadable(str(exc)) from exc
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise Unreadable(f"{value!r} is not a time")
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")


def success_codes(codes: Any) -> list[str]:
    """``[204, "2xx"]`` → ``["204", "200-299"]`` (order kept, as the server keeps it)."""
    out = []
    for code in codes:
        text = str(code).strip().lower()
        if re.fullmatch(r"[1-5]xx", text):
            out.append(f"{text[0]}00-{text[0]}99")
        elif re.fullmatch(r"\d{3}-\d{3}", text):
            low, high = (int(part) for part in text.split("-"))
            out.append(str(low) if low == high else f"{low}-{high}")
        elif re.fullmatch(r"\d{3}", text):
            out.append(text)
        else:
            raise Unreadable(f"invalid success code {code!r}")
    return out


def http_target(target: dict[str, Any]) -> dict[str, Any]:
    method = target.get("method", "POST")
    return {
        "url": target.get("url"),
        "method": method.upper() if isinstance(method, str) else method,
        "headers": dict(target.get("headers") or {}),
        "body": target.get("body"),
        "success_codes": success_codes(target.get("success_codes") or DEFAULT_SUCCESS_CODES),
        **{k: v for k, v in target.items() if k not in _HTTP_FIELDS},
    }


_HTTP_FIELDS = {"url", "method", "headers", "body", "success_codes"}


def default_retry_policy(max_retries: int) -> dict[str, Any]:
    return {"max_attempts": max_retries + 1, **DEFAULT_RETRY_POLICY}


def _soft(convert: Any, value: Any) -> Any:
    """``convert(value)``, or ``value`` as written when it cannot be read."""
    try:
        return convert(value)
    except (Unreadable, TypeError, AttributeError):
        return value


def _retry(body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    policy = body.get("retry_policy")
    policy = dict(policy) if isinstance(policy, dict) else {}
    max_retries = body.get("max_retries")
    attempts = policy.pop("max_attempts", None)
    if isinstance(attempts, int) and not isinstance(attempts, bool):
        max_retries = attempts - 1
    if max_retries is None:
        max_retries = DEFAULT_MAX_RETRIES
    initial = _soft(
        seconds, policy.pop("initial_interval", DEFAULT_RETRY_POLICY["initial_interval"])
    )
    longest = _soft(seconds, policy.pop("max_interval", DEFAULT_RETRY_POLICY["max_interval"]))
    if isinstance(initial, int | float) and isinstance(longest, int | float):
        longest = max(longest, initial)
    multiplier = policy.pop("multiplier", DEFAULT_RETRY_POLICY["multiplier"])
    out = {
        "max_attempts": max_retries + 1 if isinstance(max_retries, int) else attempts,
        "initial_interval": initial,
        "multiplier": multiplier,
        "max_interval": longest,
        **policy,
    }
    return max_retries, out


def _delivery(body: dict[str, Any]) -> Any:
    if body.get("webhook") is not None and body.get("delivery") is None:
        webhook = body["webhook"]
        return {"type": "push", "http": _soft(http_target, webhook)}
    delivery = body.get("delivery")
    if delivery is None:
        return {"type": "pull"}
    if not isinstance(delivery, dict):
        return delivery
    kind = delivery.get("type", "pull")
    if kind == "push" and isinstance(delivery.get("http"), dict):
        rest = {k: v for k, v in delivery.items() if k not in ("type", "http")}
        return {"type": "push", "http": _soft(http_target, delivery["http"]), **rest}
    if kind == "pull" and set(delivery) <= {"type"}:
        return {"type": "pull"}
    return delivery


def _timing(body: dict[str, Any]) -> tuple[Any, Any]:
    """``(cron, interval)`` from ``cron``, ``interval`` or the ``schedule`` alias."""
    expression, every = body.get("cron"), body.get("interval")
    alias = body.get("schedule")
    if isinstance(alias, str) and expression is None and every is None:
        match = _EVERY.match(alias.strip())
        if match:
            return None, _soft(interval, match.group(1).strip())
        return _soft(cron, alias), None
    if isinstance(expression, str):
        expression = cron(expression)
    if every is not None:
        every = _soft(interval, every)
    return expression, every


def canonical(body: dict[str, Any]) -> dict[str, Any]:
    """The configuration the server would hold for ``body``: every field of
    :data:`CONFIG_FIELDS`, plus any field this module does not know, kept as written."""
    given = {k: v for k, v in body.items() if k not in READ_ONLY_FIELDS}
    expression, every = _timing(given)
    max_retries, retry_policy = _retry(given)
    dst = given.get("dst_policy")
    calendars = given.get("exclude_calendars")
    out: dict[str, Any] = {
        "name": given.get("name"),
        "description": given.get("description"),
        "handler": given.get("handler"),
        "cron": expression,
        "interval": every,
        "timezone": given.get("timezone", "UTC"),
        "start_at": _soft(instant, given["start_at"]) if given.get("start_at") else None,
        "end_at": _soft(instant, given["end_at"]) if given.get("end_at") else None,
        "payload": given.get("payload"),
        "delivery": _delivery(given),
        "timeout": _soft(seconds, given.get("timeout", 30)),
        "max_retries": max_retries,
        "retry_policy": retry_policy,
        "concurrency": given.get("concurrency", "forbid"),
        "misfire_policy": given.get("misfire_policy", "run_once"),
        "catchup_window": _soft(seconds, given.get("catchup_window", 3600)),
        "tags": dict(given.get("tags") or {})
        if isinstance(given.get("tags"), dict | None)
        else given["tags"],
        "enabled": given.get("enabled", True),
        "dst_policy": {**DEFAULT_DST_POLICY, **dst}
        if isinstance(dst, dict)
        else (DEFAULT_DST_POLICY if dst is None else dst),
        "jitter": _soft(seconds, given.get("jitter", 0)),
        "spread": _soft(seconds, given.get("spread", 0)),
        "exclude_calendars": list(dict.fromkeys(calendars))
        if isinstance(calendars, list)
        else ([] if calendars is None else calendars),
        "only_calendar": given.get("only_calendar"),
    }
    known = set(out) | {"schedule", "webhook"}
    out.update({k: v for k, v in given.items() if k not in known})
    return out


def server_config(raw: dict[str, Any]) -> dict[str, Any]:
    """A schedule as the API returned it, reduced to its configuration fields."""
    return {k: v for k, v in raw.items() if k not in READ_ONLY_FIELDS}


def compact(config: dict[str, Any]) -> dict[str, Any]:
    """A canonical configuration without the fields that hold their defaults: what
    ``chronos export`` writes (``apply`` fills the defaults back in)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "retry_policy" and isinstance(value, dict):
            rest = {k: v for k, v in value.items() if k != "max_attempts"}
            if rest != DEFAULT_RETRY_POLICY:
                out[key] = rest
            continue
        if key == "max_retries" and value == DEFAULT_MAX_RETRIES:
            continue
        if key == "delivery" and isinstance(value, dict) and value.get("type") == "push":
            http = dict(value.get("http") or {})
            if http.get("method") == "POST":
                http.pop("method")
            for name, empty in (("headers", {}), ("body", None)):
                if http.get(name) == empty:
                    http.pop(name, None)
            if http.get("success_codes") == DEFAULT_SUCCESS_CODES:
                http.pop("success_codes")
            out[key] = {**value, "http": http}
            continue
        if key in CONFIG_DEFAULTS and value == CONFIG_DEFAULTS[key]:
            continue
        out[key] = value
    return out


def plain(value: Any) -> Any:
    """YAML's dates and times as RFC 3339 strings (JSON has no time type)."""
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
