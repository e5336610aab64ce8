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

from sqlalchemy.ext.asyncio import AsyncConnection

from chronos.server import metrics
from chronos.server.clock import Clock
from chronos.server.domain.jobs import job_from_spec
from chronos.server.domain.rows import ExecutionRow, JobRow, JobSpec
from chronos.server.domain.states import JobStatus
from chronos.server.errors import InvalidState, NotFound, ValidationFailed
from chronos.server.notifier import Notifier
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


class JobService:
    def __init__(self, db: Database, clock: Clock, notifier: Notifier) -> None:
        self.db = db
        self.clock = clock
        self.notifier = notifier

    async def create(self, account_id: str, spec: JobSpec) -> JobRow:
        """One job; a reused idempotency key is a conflict (the store's ``UniqueViolation``)."""
        [row] = await self.create_many(account_id, [spec])
        return row

    async def create_many(self, account_id: str, specs: Sequence[JobSpec]) -> list[JobRow]:
        """All or nothing, in one transaction."""
        now = self.clock.now()
        rows = [job_from_spec(spec, account_id=account_id, now=now) for spec in specs]
        keys = [r["idempotency_key"] for r in rows if r["idempotency_key"]]
        if len(keys) != len(set(keys)):
            raise ValidationFailed("the batch repeats an idempotency_key")
        async with self.db.transaction() as conn:
            for row in rows:
                if row["idempotency_key"]:
                    await job_store.job_insert(conn, row)
            await job_store.job_insert_many(conn, [r for r in rows if not r["idempotency_key"]])
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
