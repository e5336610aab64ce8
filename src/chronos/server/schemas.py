"""Request bodies and their validation: the shapes and types of what the API accepts.

Pydantic checks shapes and types here; ``normalize.py`` turns a valid body into the canonical
form the store keeps.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from chronos.server.domain.durations import (
    parse_duration,
)

Duration = Annotated[float, BeforeValidator(parse_duration)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# Instants a schedule or job may name: far enough from datetime's limits that no lease, retry
# or upcoming fire computed from them can overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    out_of_range = ValueError("must be between 1970-01-01 and 9000-01-01 (UTC)")
    try:
        instant = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise out_of_range from None
    if not EARLIEST <= instant < LATEST:
        raise out_of_range
    return value


Name = Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
Handler = Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
Instant = Annotated[datetime, AfterValidator(_in_range)]
Tags = Annotated[dict[StrictStr, StrictStr], Field(max_length=50)]

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3
MAX_RETRIES_LIMIT = 100


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetryPolicyIn(Strict):
    max_attempts: Annotated[StrictInt, Field(ge=1, le=MAX_RETRIES_LIMIT + 1)] | None = None
    initial_interval: Duration = 1.0
    multiplier: Annotated[float, Field(ge=1.0, le=100.0)] = 2.0
    max_interval: Duration = 3600.0


HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class HttpTargetIn(Strict):
    """Where and how a push job is sent (``delivery.http``, or the seed 004 ``webhook``)."""

    url: Annotated[StrictStr, Field(min_length=1, max_length=2048)]
    method: Annotated[HttpMethod, BeforeValidator(_upper)] = "POST"
    headers: Annotated[dict[StrictStr, StrictStr], Field(max_length=50)] = Field(
        default_factory=dict
    )
    body: StrictStr | None = None
    success_codes: (
        Annotated[list[StrictInt | StrictStr], Field(min_length=1, max_length=100)] | None
    ) = None


class DeliveryIn(Strict):
    type: Literal["pull", "push"] = "pull"
    http: HttpTargetIn | None = None


class JobOptions(Strict):
    """Fields a schedule and a one-off job share."""

    name: Name | None = None
    handler: Handler | None = None
    payload: Any = None
    delivery: DeliveryIn | None = None
    webhook: Any = None
    timeout: Duration = DEFAULT_TIMEOUT
    max_retries: Annotated[StrictInt, Field(ge=0, le=MAX_RETRIES_LIMIT)] | None = None
    retry_policy: RetryPolicyIn | None = None
    tags: Tags = Field(default_factory=dict)


# Fields that responses carry; a client may send a schedule back as it got it.
READ_ONLY_SCHEDULE_FIELDS = frozenset(
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


class DstPolicyIn(Strict):
    """What a cron schedule does around DST changes (see docs/dst.md)."""

    gap: Literal["shift", "skip"] = "shift"
    overlap: Literal["first", "last", "both"] = "first"


class ScheduleIn(JobOptions):
    name: Name
    description: Annotated[StrictStr, Field(max_length=2000)] | None = None
    cron: StrictStr | None = None
    interval: dict[str, Any] | StrictInt | StrictStr | None = None
    schedule: StrictStr | None = None
    timezone: StrictStr = "UTC"
    start_at: Instant | None = None
    end_at: Instant | None = None
    concurrency: Literal["forbid", "allow", "replace"] = "forbid"
    misfire_policy: Literal["run_once", "run_all", "skip"] = "run_once"
    catchup_window: Duration = 3600.0
    enabled: StrictBool = True
    dst_policy: DstPolicyIn | None = None
    jitter: Duration = 0.0
    spread: Duration = 0.0
    exclude_calendars: Annotated[list[Name], Field(max_length=20)] = Field(default_factory=list)
    only_calendar: Name | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in READ_ONLY_SCHEDULE_FIELDS}
        return data


class JobIn(JobOptions):
    delay: dict[str, Any] | StrictInt | StrictStr | None = None
    scheduled_for: Instant | None = None
    idempotency_key: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None


class ClaimIn(Strict):
    handlers: Annotated[
        list[Annotated[StrictStr, Field(min_length=1, max_length=200)]],
        Field(min_length=1, max_length=100),
    ]
    worker_id: Annotated[StrictStr, Field(max_length=200)] | None = None
    wait_seconds: Annotated[float, Field(ge=0, le=20)] = 20
    limit: Annotated[StrictInt, Field(ge=1, le=100)] = 1


class ResultIn(Strict):
    status: Literal["completed", "failed"]
    output: Any = None
    error: Any = None
    retryable: StrictBool = True


class BatchResultItem(ResultIn):
    execution_id: Annotated[StrictStr, Field(min_length=1, max_length=40)]


class BatchResultsIn(Strict):
    results: Annotated[list[BatchResultItem], Field(min_length=1, max_length=1000)]


class PauseIn(Strict):
    note: str | None = Field(default=None, max_length=1000, description="why; shown to others")
    reason: str | None = Field(default=None, max_length=500, description="why, for the audit log")


class ReasonIn(Strict):
    """An optional body of a state change: why, for the audit log (or ``X-Chronos-Reason``)."""

    reason: str | None = Field(default=None, max_length=500, description="why, for the audit log")


class ApiKeyIn(Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)] = "api key"
    scope: Literal["admin", "worker"] = "admin"


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return error_details(exc.errors(include_url=False, include_context=False, include_input=False))


def error_details(errors: Iterable[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors as the ``details`` of a 422: where, what, and its type."""
    return [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "message": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in errors
    ]


# --- alert rules (issue 14) -----------------------------------------------------------------


class AlertConditionIn(Strict):
    """``type`` and its parameters (see docs/alerts.md): ``late`` {seconds},
    ``consecutive_failures`` {count}, ``success_rate`` {below, window, min_runs},
    ``no_worker`` {seconds}; ``missed`` and ``monitor`` take none."""

    type: Literal["missed", "late", "consecutive_failures", "success_rate", "no_worker", "monitor"]
    seconds: Duration | None = None
    count: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None
    below: Annotated[float, Field(gt=0, le=1)] | None = None
    window: Duration | None = None
    min_runs: Annotated[StrictInt, Field(ge=1, le=100_000)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"type": data} if isinstance(data, str) else data


class AlertSelectorIn(Strict):
    tags: Tags | None = None
    names: Annotated[list[Name], Field(min_length=1, max_length=500)] | None = None


class AlertWebhookIn(Strict):
    url: Annotated[StrictStr, Field(min_length=1, max_length=2048)]
    headers: Annotated[dict[StrictStr, StrictStr], Field(max_length=50)] = Field(
        default_factory=dict
    )
    format: Literal["chronos", "slack"] = "chronos"


class AlertRuleIn(Strict):
    name: Name
    description: Annotated[StrictStr, Field(max_length=2000)] | None = None
    enabled: StrictBool = True
    condition: AlertConditionIn
    selector: AlertSelectorIn | None = None
    grace: Duration | None = None
    cooldown: Duration | None = None
    webhook: AlertWebhookIn | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            read_only = {"id", "created_at", "updated_at", "evaluated_at"}
            return {k: v for k, v in data.items() if k not in read_only}
        return data


# --- calendars (issue 14) -------------------------------------------------------------------

CalendarDate = Annotated[StrictStr, Field(min_length=10, max_length=10, description="YYYY-MM-DD")]
CalendarRuleKind = Literal["weekends", "weekdays", "last_business_day", "nth_weekday", "yearly"]


class CalendarRangeIn(Strict):
    """Every date from ``from`` to ``to``, both included."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: CalendarDate = Field(alias="from")
    to: CalendarDate


class CalendarRuleIn(Strict):
    """A rule (``domain/calendars.py``): weekends, weekdays, last_business_day, nth_weekday
    (weekday, n, optional month), yearly (month, day); optional ``start``/``end`` dates."""

    kind: CalendarRuleKind
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None
    n: Annotated[StrictInt, Field(ge=-5, le=5)] | None = None
    month: Annotated[StrictInt, Field(ge=1, le=12)] | None = None
    day: Annotated[StrictInt, Field(ge=1, le=31)] | None = None
    start: CalendarDate | None = None
    end: CalendarDate | None = None


class CalendarIn(Strict):
    """A calendar: explicit dates, inclusive ranges and rules, and/or an iCalendar text whose
    all-day events are added to them."""

    name: Name
    description: Annotated[StrictStr, Field(max_length=2000)] | None = None
    dates: Annotated[list[CalendarDate], Field(max_length=5000)] = Field(default_factory=list)
    ranges: Annotated[list[CalendarRangeIn], Field(max_length=500)] = Field(default_factory=list)
    rules: Annotated[list[CalendarRuleIn | CalendarRuleKind], Field(max_length=500)] = Field(
        default_factory=list
    )
    ics: Annotated[StrictStr, Field(max_length=2_000_000)] | None = None
    reason: str | None = Field(default=None, max_length=500, description="why, for the audit log")

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            read_only = {"id", "version", "created_at", "updated_at", "schedules"}
            return {k: v for k, v in data.items() if k not in read_only}
        return data


class CalendarImportIn(Strict):
    """An iCalendar text whose all-day events are added to a calendar (or replace its
    entries, with ``replace``)."""

    ics: Annotated[StrictStr, Field(min_length=1, max_length=2_000_000)]
    replace: StrictBool = False
    reason: str | None = Field(default=None, max_length=500, description="why, for the audit log")
