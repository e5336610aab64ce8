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
    _times = ("next_run_at", "last_run_at")


@dataclass(frozen=True)
class Page(Generic[T]):
    data: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class SchedulePreview:
    """An unsaved schedule's next fires (``schedules.preview``): ``fires`` in UTC, ``local``
    the same instants in its ``timezone``; ``warnings`` are the API's dicts
    (``code``, ``message``, ``local_date``), e.g. for times a DST change skips or repeats."""

    fires: list[datetime]
    local: list[datetime]
    timezone: str
    description: str
    warnings: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SchedulePreview:
        return cls(
            fires=[datetime.fromisoformat(t.replace("Z", "+00:00")) for t in data["data"]],
            local=[datetime.fromisoformat(t) for t in data["local"]],
            timezone=data["timezone"],
            description=data["description"],
            warnings=list(data["warnings"]),
            raw=data,
        )
