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
