"""Normalisation: a valid request body becomes the canonical form the store keeps.

The ``normalize_*`` functions resolve aliases (``schedule``, ``retry_policy.max_attempts``,
``webhook``, duration strings), apply the defaults, and raise typed 4xx errors for
combinations that can never work (``schemas.py`` has already checked shapes and types).

    spec = normalize_schedule(ScheduleIn.model_validate(body), max_payload_bytes=256 * 1024)
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from chronos.server.domain.calendar_ics import parse_ics
from chronos.server.domain.calendars import (
    CalendarError,
    CalendarSpec,
    merge_entries,
    normalize_entries,
)
from chronos.server.domain.durations import CANONICAL_UNITS, parse_duration, parse_unit_value
from chronos.server.domain.jobs import success_code_ranges
from chronos.server.domain.rows import (
    Delivery,
    HttpTarget,
    IntervalData,
    JobOptionsData,
    JobSpec,
    RetryPolicyData,
    ScheduleSpec,
)
from chronos.server.domain.timing import (
    CronTrigger,
    TimingError,
    canonical_cron,
    iso,
    load_timezone,
    parse_every,
)
from chronos.server.engine.push import InvalidTarget, check_push_target
from chronos.server.engine.targets import literal_refusal
from chronos.server.errors import InvalidSchedule, PayloadTooLarge, ValidationFailed
from chronos.server.schemas import (
    DEFAULT_MAX_RETRIES,
    CalendarIn,
    DeliveryIn,
    DstPolicyIn,
    HttpTargetIn,
    JobIn,
    JobOptions,
    RetryPolicyIn,
    ScheduleIn,
    validation_details,
)

# Every kind of Chronos id (``ids.new_id`` prefixes): a name that looks like one could be
# taken for it where a path takes an id or a name.
ID_LIKE = re.compile(r"(acc|key|sec|sch|job|exe|cal|mon|arl|alr|ntf|bfl|aud|png|sev)_[0-9a-z]{26}")

# A lease shorter than this could expire before a worker's first heartbeat.
MIN_TIMEOUT = 1.0
# Headers Chronos sets itself (or that only the HTTP client may set).
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ``json.dumps`` with options builds a new encoder on every call, half the cost of sizing a
# small payload (a batch create sizes 1,000); one encoder, same output.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def check_payload_size(payload: Any, limit: int) -> None:
    size = len(_COMPACT.encode(payload).encode())
    if size > limit:
        raise PayloadTooLarge(
            f"payload is {size} bytes; the limit is {limit} bytes",
            details={"size": size, "limit": limit},
        )


# The policy of a job that gives none: built once (a pydantic model per job showed in the
# profile of a batch create); only read.
_DEFAULT_RETRY_POLICY = RetryPolicyIn()


def _retry_settings(options: JobOptions) -> tuple[int, RetryPolicyData]:
    policy = options.retry_policy or _DEFAULT_RETRY_POLICY
    max_retries = options.max_retries
    if policy.max_attempts is not None:
        from_attempts = policy.max_attempts - 1
        if max_retries is not None and max_retries != from_attempts:
            raise ValidationFailed(
                "max_retries and retry_policy.max_attempts disagree: give one of them",
                details={"max_retries": max_retries, "max_attempts": policy.max_attempts},
            )
        max_retries = from_attempts
    if policy.initial_interval <= 0:
        raise ValidationFailed("retry_policy.initial_interval must be more than 0 seconds")
    return (
        DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
        {
            "initial_interval": policy.initial_interval,
            "multiplier": policy.multiplier,
            "max_interval": max(policy.max_interval, policy.initial_interval),
        },
    )


def _success_codes(codes: list[int | str] | None) -> list[str]:
    """The canonical form kept in a spec: ``["204", "200-299"]`` (valid input again)."""
    try:
        ranges = success_code_ranges(codes if codes is not None else ["200-299"])
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc
    return [str(low) if low == high else f"{low}-{high}" for low, high in ranges]


def check_outbound_target(
    method: str, url: str, headers: dict[str, str], *, label: str = "push url", prefix: str = ""
) -> None:
    """The rules every request Chronos makes follows (push jobs, alert webhooks): an absolute
    http(s) URL, never a link-local or cloud metadata address (checked here for a literal
    address, and again on every connection), no header Chronos sets itself; then the
    dispatcher's own request builder judges it (``check_push_target``), so what passes can be
    sent. ``label`` names the URL in messages, ``prefix`` the fields in ``details``."""
    try:
        parsed = urlsplit(url)
        hostname = parsed.hostname
    except ValueError:  # e.g. "http://[::1/": not a URL at all
        parsed, hostname = None, None
    if parsed is None or parsed.scheme not in ("http", "https") or not hostname:
        raise ValidationFailed(
            f"{label} must be an absolute http(s) URL, got {url!r}",
            code="invalid_url",
            details={"field": f"{prefix}url"},
        )
    refused = literal_refusal(hostname)
    if refused is not None:
        raise ValidationFailed(
            f"{label}: Chronos never calls a {refused}",
            code="invalid_url",
            details={"field": f"{prefix}url"},
        )
    for name in headers:
        lowered = name.lower()
        if not _HEADER_NAME.match(name):
            raise ValidationFailed(
                f"invalid header name {name!r}", details={"field": f"{prefix}headers"}
            )
        if lowered in RESERVED_HEADERS or lowered.startswith("x-chronos-"):
            raise ValidationFailed(
                f"header {name!r} is set by Chronos and cannot be configured",
                details={"field": f"{prefix}headers"},
            )
    try:
        check_push_target(method, url, headers)
    except InvalidTarget as exc:
        raise ValidationFailed(
            str(exc).replace("push url", label),
            code="invalid_url" if exc.field == "url" else "validation_error",
            details={"field": f"{prefix}{exc.field}"},
        ) from exc


def normalize_http_target(target: HttpTargetIn, *, max_body_bytes: int) -> HttpTarget:
    check_outbound_target(target.method, target.url, target.headers)
    if target.body is not None and len(target.body.encode()) > max_body_bytes:
        raise PayloadTooLarge(f"push body is larger than {max_body_bytes} bytes")
    return {
        "url": target.url,
        "method": target.method,
        "headers": dict(target.headers),
        "body": target.body,
        "success_codes": _success_codes(target.success_codes),
    }


def _push_duration_text(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit} ({seconds:g}s)"
    return f"{seconds:g}s"


def check_push_timeout(timeout: float, delivery: Delivery, limit: float) -> None:
    """A push job's ``timeout`` holds a delivery slot that long: at most ``limit`` seconds
    (``CHRONOS_PUSH_MAX_TIMEOUT``). Pull jobs are not bounded here."""
    if delivery["type"] == "push" and timeout > limit:
        raise ValidationFailed(
            f"timeout is {_push_duration_text(timeout)}; a push job may wait at most "
            f"{_push_duration_text(limit)} for its endpoint (CHRONOS_PUSH_MAX_TIMEOUT)",
            details={"field": "timeout", "timeout": timeout, "limit": limit},
        )


def _delivery(options: JobOptions, max_payload_bytes: int) -> Delivery:
    delivery = options.delivery
    if options.webhook is not None:
        if delivery is not None:
            raise ValidationFailed("give delivery or webhook, not both")
        try:
            target = HttpTargetIn.model_validate(options.webhook)
        except ValidationError as exc:
            raise ValidationFailed("invalid webhook", details=validation_details(exc)) from exc
        delivery = DeliveryIn(type="push", http=target)
    if delivery is not None and delivery.type == "push":
        if delivery.http is None:
            raise ValidationFailed("push delivery needs delivery.http with at least a url")
        http = normalize_http_target(delivery.http, max_body_bytes=max_payload_bytes)
        return {"type": "push", "http": http}
    if delivery is not None and delivery.http is not None:
        raise ValidationFailed("delivery.http is only for push delivery")
    if not options.handler:
        raise ValidationFailed(
            "handler is required for pull delivery", details={"field": "handler"}
        )
    return {"type": "pull"}


def _common(
    options: JobOptions, max_payload_bytes: int, max_push_timeout: float | None
) -> JobOptionsData:
    check_payload_size(options.payload, max_payload_bytes)
    if options.timeout < MIN_TIMEOUT:
        raise ValidationFailed(
            f"timeout must be at least {MIN_TIMEOUT:g} second", details={"field": "timeout"}
        )
    max_retries, retry_policy = _retry_settings(options)
    delivery = _delivery(options, max_payload_bytes)
    if max_push_timeout is not None:
        check_push_timeout(options.timeout, delivery, max_push_timeout)
    return {
        "handler": options.handler,
        "payload": options.payload,
        "delivery": delivery,
        "timeout": options.timeout,
        "max_retries": max_retries,
        "retry_policy": retry_policy,
        "tags": dict(options.tags),
    }


def _interval(value: dict[str, Any] | int | str) -> IntervalData:
    try:
        if isinstance(value, dict):
            number, unit = parse_unit_value(value)
        else:
            seconds = parse_duration(value)
            if not seconds.is_integer():
                raise ValueError("an interval must be a whole number of seconds")
            number, unit = int(seconds), "second"
            for name in ("week", "day", "hour", "minute"):
                if number and number % CANONICAL_UNITS[name] == 0:
                    number, unit = number // CANONICAL_UNITS[name], name
                    break
    except ValueError as exc:
        raise InvalidSchedule(f"invalid interval: {exc}") from exc
    if number <= 0:
        raise InvalidSchedule("interval must be at least 1 second", details={"interval": value})
    return {"value": number, "unit": unit}


def normalize_schedule(
    body: ScheduleIn, *, max_payload_bytes: int, max_push_timeout: float | None = None
) -> ScheduleSpec:
    """The canonical ``spec`` of a schedule; raises a typed 4xx error if it cannot work."""
    check_name(body.name, "schedule", "sch")
    given = [k for k in ("cron", "interval", "schedule") if getattr(body, k) is not None]
    if len(given) != 1:
        raise InvalidSchedule(
            "give exactly one of cron, interval or schedule"
            + (f" (got {', '.join(given)})" if given else ""),
        )
    cron: str | None = None
    interval: IntervalData | None = None
    if body.schedule is not None:
        every = parse_every(body.schedule)
        if every is not None:
            interval = _interval(every)
        else:
            cron = body.schedule
    elif body.cron is not None:
        cron = body.cron
    else:
        assert body.interval is not None
        interval = _interval(body.interval)

    try:
        load_timezone(body.timezone)
        if cron is not None:
            # Stored as written (H terms too); H resolves from the name (domain/hashing.py).
            CronTrigger.parse(cron, body.timezone, seed=body.name)
            cron = canonical_cron(cron)
    except TimingError as exc:
        raise InvalidSchedule(str(exc)) from exc
    _check_jitter_and_spread(body.jitter, body.spread, interval)

    start_at, end_at = _aware(body.start_at), _aware(body.end_at)
    if start_at and end_at and end_at <= start_at:
        raise InvalidSchedule("end_at must be after start_at")

    spec: ScheduleSpec = {
        "name": body.name,
        "description": body.description,
        **_common(body, max_payload_bytes, max_push_timeout),
        "cron": cron,
        "interval": interval,
        "timezone": body.timezone,
        "start_at": iso(start_at),
        "end_at": iso(end_at),
        "concurrency": body.concurrency,
        "misfire_policy": body.misfire_policy,
        "catchup_window": body.catchup_window,
        "enabled": body.enabled,
        "dst_policy": (body.dst_policy or DstPolicyIn()).model_dump(),  # type: ignore[typeddict-item]
        "jitter": body.jitter,
        "spread": body.spread,
        "exclude_calendars": _schedule_calendars(body.exclude_calendars, body.only_calendar),
        "only_calendar": body.only_calendar,
    }
    return spec


# The longest jitter or spread: beyond a day they would blur which day a slot belongs to.
MAX_JITTER_SECONDS = MAX_SPREAD_SECONDS = 86400.0


def _check_jitter_and_spread(jitter: float, spread: float, interval: IntervalData | None) -> None:
    """``jitter`` delays each job, ``spread`` moves each slot (docs/jitter.md): at most a day,
    and for an interval less than it (jitter) or at most it (spread), or jobs would overtake
    the next slot's."""
    period = None
    if interval is not None:
        period = interval["value"] * CANONICAL_UNITS[interval["unit"]]
    if jitter > MAX_JITTER_SECONDS:
        raise InvalidSchedule(
            "jitter must be at most 1 day (86400 seconds)",
            details={"field": "jitter", "jitter": jitter},
        )
    if period is not None and jitter and jitter >= period:
        raise InvalidSchedule(
            f"jitter must be less than the interval ({period} seconds)",
            details={"field": "jitter", "jitter": jitter, "interval_seconds": period},
        )
    if spread > MAX_SPREAD_SECONDS:
        raise InvalidSchedule(
            "spread must be at most 1 day (86400 seconds)",
            details={"field": "spread", "spread": spread},
        )
    if period is not None and spread > period:
        raise InvalidSchedule(
            f"spread must be at most the interval ({period} seconds)",
            details={"field": "spread", "spread": spread, "interval_seconds": period},
        )


def _schedule_calendars(exclude: list[str], only: str | None) -> list[str]:
    """``exclude_calendars`` without repeats (in order); naming ``only_calendar`` there too
    could never fire. Whether the calendars exist is the schedule service's check (it sees the
    database)."""
    names = list(dict.fromkeys(exclude))
    if only is not None and only in names:
        raise InvalidSchedule(
            f"calendar {only!r} is both only_calendar and in exclude_calendars: the schedule "
            "would never fire",
            details={"field": "only_calendar", "calendar": only},
        )
    return names


def check_name(name: str, kind: str, prefix: str) -> None:
    """A name addresses its resource in URLs (``PUT /v1/schedules/{name}``, ``GET …/{id or
    name}``) and must never be ambiguous: it may not look like a Chronos id, contain '/', or
    be '.' or '..'. ``kind`` and ``prefix`` (its ids') are for the message."""
    if ID_LIKE.fullmatch(name):
        raise ValidationFailed(
            f"a {kind} name cannot look like a Chronos id ({prefix}_ and 26 letters or digits)",
            details={"field": "name", "name": name},
        )
    if "/" in name or name in (".", ".."):
        raise ValidationFailed(
            f"a {kind} name cannot contain '/' or be '.' or '..'",
            details={"field": "name", "name": name},
        )


def normalize_calendar(body: CalendarIn) -> tuple[str, str | None, CalendarSpec]:
    """A calendar's name, description and canonical entries (its ``ics`` text's all-day
    events added to the dates, ranges and rules given); a typed 422 when they cannot work."""
    check_name(body.name, "calendar", "cal")
    if body.description is not None and "\x00" in body.description:
        raise ValidationFailed("description must not contain NUL", details={"field": "description"})
    try:
        spec = normalize_entries(
            body.dates,
            [{"from": r.from_, "to": r.to} for r in body.ranges],
            [r if isinstance(r, str) else r.model_dump(exclude_none=True) for r in body.rules],
        )
        if body.ics is not None:
            spec = merge_entries(spec, parse_ics(body.ics))
    except CalendarError as exc:
        raise ValidationFailed(str(exc), details={"field": exc.field}) from exc
    return body.name, body.description, spec


def normalize_job(
    body: JobIn, *, max_payload_bytes: int, max_push_timeout: float | None = None
) -> JobSpec:
    """The canonical form of a one-off job; when it runs is decided at creation time."""
    common = _common(body, max_payload_bytes, max_push_timeout)
    if body.delay is not None and body.scheduled_for is not None:
        raise ValidationFailed("give delay or scheduled_for, not both")
    delay: float | None = None
    if body.delay is not None:
        try:
            unit_value = parse_unit_value(body.delay) if isinstance(body.delay, dict) else None
            delay = (
                unit_value[0] * CANONICAL_UNITS[unit_value[1]]
                if unit_value
                else parse_duration(body.delay)
            )
        except ValueError as exc:
            raise ValidationFailed(f"invalid delay: {exc}", details={"field": "delay"}) from exc
        if delay < 0:
            raise ValidationFailed("delay must not be negative")
    return {
        **common,
        "name": body.name,
        "idempotency_key": body.idempotency_key,
        "delay": delay,
        "scheduled_for": _aware(body.scheduled_for),
    }
