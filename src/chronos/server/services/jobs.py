"""Jobs: create one-off jobs, read them with their history, cancel and retry them.

Used by the REST API (and by every later front end: the dashboard, the CLI's server
commands). Each method is one transaction, followed by the wake-ups its changes call for.

    jobs = JobService(db, clock, notifier)
    row = await jobs.create(account_id, normalize_job(body, max_payload_bytes=…))
    await jobs.cancel(account_id, row["id"])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server import metrics, telemetry
from chronos.server.clock import Clock
from chronos.server.domain.jobs import job_from_spec
from chronos.server.domain.rows import ExecutionRow, JobRow, JobSpec
from chronos.server.domain.states import JobStatus, JobTrigger
from chronos.server.errors import BadRequest, InvalidState, NotFound, ValidationFailed
from chronos.server.normalize import normalize_job
from chronos.server.notifier import Notifier
from chronos.server.schemas import JobIn, validation_details
from chronos.server.store import executions as execution_store
from chronos.server.store import jobs as job_store
from chronos.server.store.db import Database


@dataclass(frozen=True)
class JobFilter:
    schedule_id: str | None = None
    one_off_only: bool = False  # only jobs no schedule created
    status: JobStatus | None = None
    handler: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # Created in [created_from, created_to): an id range (ids sort by creation time).
    created_from: datetime | None = None
    created_to: datetime | None = None
    trigger: JobTrigger | None = None


class JobService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        notifier: Notifier,
        *,
        max_payload_bytes: int = 256 * 1024,
        max_push_timeout: float | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.notifier = notifier
        self.max_payload_bytes = max_payload_bytes
        self.max_push_timeout = max_push_timeout

    def parse(self, data: Any) -> JobSpec:
        """A one-off job from JSON-like data, validated and normalised as ``POST /v1/jobs``
        does it (same errors)."""
        try:
            body = JobIn.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed("invalid job", details=validation_details(exc)) from exc
        return normalize_job(
            body, max_payload_bytes=self.max_payload_bytes, max_push_timeout=self.max_push_timeout
        )

    async def create(self, account_id: str, spec: JobSpec) -> JobRow:
        """One job; a reused idempotency key is a conflict (the store's ``UniqueViolation``)."""
        [row] = await self.create_many(account_id, [spec])
        return row

    async def create_many(self, account_id: str, specs: Sequence[JobSpec]) -> list[JobRow]:
        """All or nothing, in one transaction."""
        if telemetry.ENABLED:  # a span; the jobs keep its context (server/telemetry.py)
            with telemetry.job_create(account_id, len(specs)) as traced:
                return traced.created(
                    await self._create_many(account_id, specs, traced.traceparent)
                )
        return await self._create_many(account_id, specs, None)

    async def _create_many(
        self, account_id: str, specs: Sequence[JobSpec], traceparent: str | None
    ) -> list[JobRow]:
        now = self.clock.now()
        rows = [job_from_spec(spec, account_id=account_id, now=now) for spec in specs]
        if traceparent is not None:
            for row in rows:
                row["traceparent"] = traceparent
        keys = [r["idempotency_key"] for r in rows if r["idempotency_key"]]
        if len(keys) != len(set(keys)):
            raise ValidationFailed("the batch repeats an idempotency_key")
        # One statement (job_create), atomic alone unless a batch holds a key: a taken key
        # must undo the rest of the batch.
        one_statement = not keys or len(rows) == 1
        async with self.db.statement() if one_statement else self.db.transaction() as conn:
            await job_store.job_create(conn, rows)
        metrics.JOBS_CREATED.labels(rows[0]["trigger"]).inc(len(rows))
        self.notifier.jobs_ready_many(rows)
        if any(r["status"] == JobStatus.PENDING for r in rows):
            self.notifier.pending_changed()
        return rows

    async def find(
        self, account_id: str, where: JobFilter, *, cursor: str | None, limit: int
    ) -> tuple[list[JobRow], str | None]:
        async with self.db.read() as conn:
            return await job_store.job_list(
                conn,
                account_id,
                schedule_id=where.schedule_id,
                one_off_only=where.one_off_only,
                status=where.status.value if where.status else None,
                handler=where.handler,
                tags=where.tags,
                trigger=where.trigger.value if where.trigger else None,
                created_from=where.created_from,
                created_to=where.created_to,
                cursor=cursor,
                limit=limit,
            )

    async def get(self, account_id: str, job_id: str) -> tuple[JobRow, list[ExecutionRow]]:
        """A job and its executions, oldest attempt first."""
        async with self.db.read() as conn:
            job = await job_store.job_get(conn, account_id, job_id)
            if job is None:
                raise NotFound(f"no job {job_id!r}")
            return job, await execution_store.execution_list_for_job(conn, job_id)

    async def get_execution(self, account_id: str, execution_id: str) -> ExecutionRow:
        async with self.db.read() as conn:
            row = await execution_store.execution_get(conn, account_id, execution_id)
        if row is None:
            raise NotFound(f"no execution {execution_id!r}")
        return row

    async def cancel(self, account_id: str, job_id: str) -> JobRow:
        """pending/queued/ready/running → canceled. A running job's worker learns it from its
        next heartbeat (``cancel_requested: true``), and its result is refused."""
        async with self.db.transaction() as conn:
            job = await job_store.job_cancel(conn, account_id, job_id, self.clock.now())
            if job is None:
                existing = await self._existing(conn, account_id, job_id)
                raise InvalidState(
                    f"a {existing['status']} job cannot be canceled",
                    details={"status": existing["status"]},
                )
        self.notifier.job_canceled(job_id)
        self.notifier.changed(account_id, "jobs")
        return job

    async def retry(self, account_id: str, job_id: str) -> JobRow:
        """Run a failed or canceled job again at once (dead-letter replay), with a fresh round
        of retries."""
        async with self.db.transaction() as conn:
            job = await job_store.job_retry(conn, account_id, job_id, self.clock.now())
            if job is None:
                existing = await self._existing(conn, account_id, job_id)
                raise InvalidState(
                    "only failed or canceled jobs can be retried; "
                    f"this one is {existing['status']}",
                    details={"status": existing["status"]},
                )
        self.notifier.jobs_ready_many([job])
        return job

    @staticmethod
    async def _existing(conn: AsyncConnection, account_id: str, job_id: str) -> JobRow:
        job = await job_store.job_get(conn, account_id, job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        return job


def parse_created_range(
    created_from: str | None,
    created_to: str | None,
    *,
    names: tuple[str, str] = ("created_from", "created_to"),
) -> tuple[datetime | None, datetime | None]:
    """A job list's creation-time bounds from text: RFC 3339, or a date and time without an
    offset (an HTML ``datetime-local`` value), read as UTC. Empty means unbounded; anything
    else unreadable, or an empty range, is a :class:`BadRequest` naming the parameter as the
    caller calls it (``names``)."""
    start = _parse_instant(names[0], created_from)
    end = _parse_instant(names[1], created_to)
    if start is not None and end is not None and start >= end:
        raise BadRequest(f"{names[0]} must be before {names[1]}", code="invalid_filter")
    return start, end


def _parse_instant(name: str, text: str | None) -> datetime | None:
    if text is None or not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        value = None
    if value is None or value.year < 1970:
        raise BadRequest(
            f"{name}: {text[:40]!r} is not a time (use RFC 3339, e.g. 2026-03-01T12:00:00Z)",
            code="invalid_filter",
        )
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
