"""Typed objects the SDK returns. Each keeps the API's full answer in ``raw``."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


class _Model:
    _times: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls: type[Any], data: dict[str, Any]) -> Any:
        names = {f.name for f in fields(cls)} - {"raw"}
        values = {
            name: (parse_time(data.get(name)) if name in cls._times else data.get(name))
            for name in names
        }
        return cls(**values, raw=data)


@dataclass(frozen=True)
class Execution(_Model):
    id: str
    job_id: str
    attempt: int
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    worker_id: str | None
    http_status: int | None
    response_excerpt: str | None
    output: Any
    error: Any
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    _times = ("started_at", "finished_at")


@dataclass(frozen=True)
class Job(_Model):
    id: str
    name: str | None
    handler: str | None
    schedule_id: str | None
    status: str
    trigger: str
    payload: Any
    attempt: int
    scheduled_for: datetime | None
    run_at: datetime | None
    result: Any
    last_error: Any
    tags: dict[str, str]
    created_at: datetime | None
    finished_at: datetime | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    _times = ("scheduled_for", "run_at", "created_at", "finished_at")

    @property
    def executions(self) -> list[Execution]:
        """Present when the job was fetched one by one (``jobs.get``)."""
        return [Execution.from_dict(e) for e in self.raw.get("executions", [])]


@dataclass(frozen=True)
class Schedule(_Model):
    id: str
    name: str
    handler: str | None
    cron: str | None
    interval: dict[str, Any] | None
    timezone: str
    state: str
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    success_rate: float | None
    version: int
    tags: dict[str, str]
    payload: Any
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    # Timing beyond the cron (docs/dst.md, docs/jitter.md, docs/calendars.md); defaults where
    # a server's answer lacks them.
    dst_policy: dict[str, str] = field(default_factory=lambda: {"gap": "shift", "overlap": "first"})
    jitter: float = 0.0  # seconds
    spread: float = 0.0  # seconds
    exclude_calendars: list[str] = field(default_factory=list)
    only_calendar: str | None = None
    cron_resolved: str | None = None  # the cron with its H terms resolved; None without any
    _times = ("next_run_at", "last_run_at")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        schedule: Schedule = super().from_dict(data)
        defaults = {
            "dst_policy": {"gap": "shift", "overlap": "first", **(data.get("dst_policy") or {})},
            "jitter": float(data.get("jitter") or 0),
            "spread": float(data.get("spread") or 0),
            "exclude_calendars": list(data.get("exclude_calendars") or []),
        }
        for name, value in defaults.items():
            object.__setattr__(schedule, name, value)
        return schedule


@dataclass(frozen=True)
class Slot(_Model):
    """One expected slot of a schedule's fire ledger (``chronos.schedules.slots``): ``outcome``
    is ``on_time``, ``late``, ``skipped``, ``excluded``, ``paused``, ``disabled``, ``due``,
    ``missed``, ``unknown`` or ``fired`` (a job off the plan); ``lag_seconds`` how long after
    the slot its job was made; ``reason`` why it was missed or excluded."""

    at: datetime | None
    outcome: str
    lag_seconds: float | None
    job_id: str | None
    job_status: str | None
    reason: str | None
    version: int | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    _times = ("at",)


@dataclass(frozen=True)
class SlotLedger:
    """``schedules.slots``: the slots oldest first; ``truncated`` says earlier ones were left
    out (at most 1,000 per answer: ask again with ``to`` = the first slot's ``at``)."""

    slots: list[Slot]
    truncated: bool

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SlotLedger:
        return cls([Slot.from_dict(s) for s in data["data"]], bool(data.get("truncated")))


@dataclass(frozen=True)
class Calendar(_Model):
    """A named set of dates (``chronos.calendars``): ``dates`` (YYYY-MM-DD), ``ranges``
    (``{"from", "to"}``, inclusive), ``rules`` (weekends, weekdays, last_business_day,
    nth_weekday, yearly); ``schedules`` names those that use it (``get`` only)."""

    id: str
    name: str
    description: str | None
    dates: list[str]
    ranges: list[dict[str, str]]
    rules: list[dict[str, Any]]
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    schedules: list[str] | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    _times = ("created_at", "updated_at")


@dataclass(frozen=True)
class Monitor(_Model):
    """A heartbeat monitor (``chronos.monitors``): ``state`` is ``new``, ``up``, ``late``,
    ``failed`` or ``paused`` as of the answer; ``problem`` (``kind``, ``since``, ``summary``)
    says what is wrong; ``ping_urls`` are the tokenised URLs (no API key needed)."""

    id: str
    name: str
    description: str | None
    tags: dict[str, str]
    cron: str | None
    interval: float | None
    timezone: str
    grace: float
    max_runtime: float | None
    enabled: bool
    state: str
    problem: dict[str, Any] | None
    expectation: str
    last_ping_at: datetime | None
    last_ping_kind: str | None
    last_start_at: datetime | None
    next_expected_at: datetime | None
    late_after: datetime | None
    ping_token: str | None
    ping_urls: dict[str, str] | None
    pings: list[dict[str, Any]] | None
    created_at: datetime | None
    updated_at: datetime | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    _times = (
        "last_ping_at",
        "last_start_at",
        "next_expected_at",
        "late_after",
        "created_at",
        "updated_at",
    )


@dataclass(frozen=True)
class AlertRule(_Model):
    """An alert rule (``chronos.alert_rules``): ``condition`` ({"type": "missed"|"late"|
    "consecutive_failures"|"success_rate"|"no_worker"|"monitor", …}), ``selector``
    ({"tags"}, {"names"}; empty: the whole account), ``grace`` and ``cooldown`` in seconds,
    ``webhook`` ({"url", "headers", "format"}) or None."""

    id: str
    name: str
    description: str | None
    enabled: bool
    condition: dict[str, Any]
    selector: dict[str, Any]
    grace: float
    cooldown: float
    webhook: dict[str, Any] | None
    created_at: datetime | None
    updated_at: datetime | None
    evaluated_at: datetime | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    _times = ("created_at", "updated_at", "evaluated_at")


@dataclass(frozen=True)
class Alert(_Model):
    """An alert (``chronos.alerts``): ``status`` is ``pending``, ``firing`` or ``resolved``;
    ``subject`` ({"type", "id", "name"}) is the schedule, monitor or handler it is about;
    ``notifications`` (from ``get`` only) the webhook deliveries."""

    id: str
    rule_id: str
    rule_name: str
    condition: str
    subject: dict[str, str]
    status: str
    since: datetime | None
    opened_at: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None
    summary: str
    details: dict[str, Any]
    reopened: int
    notifications: list[dict[str, Any]] | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    _times = ("since", "opened_at", "fired_at", "resolved_at")


@dataclass(frozen=True)
class AuditRecord(_Model):
    """One change in the audit log (``chronos.audit``): ``actor`` ``{"key_id", "name"}``,
    ``action`` (``schedule.paused``, ``key.created``, …), ``resource`` ``{"type", "id",
    "name"}``, ``changes`` ``{"field.path": [before, after]}`` (secrets redacted), ``reason``."""

    id: str
    at: datetime | None
    actor: dict[str, Any]
    action: str
    resource: dict[str, Any]
    changes: dict[str, Any] | None
    reason: str | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    _times = ("at",)


@dataclass(frozen=True)
class Backfill(_Model):
    """A backfill of a schedule's past range (``chronos.schedules.backfill``): ``status``
    ``running``, ``done`` or ``canceled``; ``created``, ``rerun``, ``skipped_existing``,
    ``excluded`` slots; ``jobs`` its jobs by status; ``canceled_jobs`` after a cancel."""

    id: str
    schedule_id: str
    start: datetime | None
    end: datetime | None
    overlap: str
    status: str
    created: int
    rerun: int
    skipped_existing: int
    in_flight: int
    excluded: int
    jobs: dict[str, int]
    reason: str | None
    created_at: datetime | None
    canceled_at: datetime | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    _times = ("start", "end", "created_at", "canceled_at")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Backfill:
        """``from``/``to`` become ``start``/``end`` (``from`` is a Python keyword)."""
        backfill: Backfill = super().from_dict(
            {**data, "start": data.get("from"), "end": data.get("to")}
        )
        object.__setattr__(backfill, "raw", data)
        return backfill

    @property
    def canceled_jobs(self) -> int | None:
        return self.raw.get("canceled_jobs")


@dataclass(frozen=True)
class ScheduleVersion(_Model):
    """One configuration a schedule has had (``schedules.versions``): ``config`` is the body
    as ``create`` takes it."""

    version: int
    created_at: datetime | None
    config: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    _times = ("created_at",)


@dataclass(frozen=True)
class Page(Generic[T]):
    data: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class SchedulePreview:
    """An unsaved schedule's next fires (``schedules.preview``): ``fires`` in UTC, ``local``
    the same instants in its ``timezone``; ``warnings`` are the API's dicts
    (``code``, ``message``, ``local_date``), e.g. for times a DST change skips or repeats.
    ``dst`` says per fire what the DST policy did to it (``shifted``, ``first``, ``last``,
    ``both`` or None); ``cron_resolved`` is the cron with its ``H`` terms resolved."""

    fires: list[datetime]
    local: list[datetime]
    timezone: str
    description: str
    warnings: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    dst: list[str | None] = field(default_factory=list)
    cron_resolved: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SchedulePreview:
        return cls(
            fires=[datetime.fromisoformat(t.replace("Z", "+00:00")) for t in data["data"]],
            local=[datetime.fromisoformat(t) for t in data["local"]],
            timezone=data["timezone"],
            description=data["description"],
            warnings=list(data["warnings"]),
            raw=data,
            dst=[fire.get("dst") for fire in data.get("fires", [])],
            cron_resolved=data.get("cron_resolved"),
        )
