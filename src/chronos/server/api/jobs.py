"""/v1/jobs and /v1/executions: one-off jobs, their history, cancel and retry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from chronos.server import metrics
from chronos.server.api.deps import AccountId, Limit, RuntimeDep, tag_filters
from chronos.server.api.presenters import execution_out, job_out, page_out
from chronos.server.engine.admission import admitted_status
from chronos.server.engine.states import JobStatus, Trigger
from chronos.server.errors import ChronosError, InvalidState, NotFound, ValidationFailed
from chronos.server.ids import new_id
from chronos.server.runtime import Runtime
from chronos.server.schemas import JobIn, normalize_job
from chronos.server.store import executions as execution_store
from chronos.server.store import jobs as job_store

router = APIRouter(tags=["jobs"])


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jobs: Annotated[list[JobIn], Field(min_length=1, max_length=1000)]


def _job_row(runtime: Runtime, account_id: str, body: JobIn, now: datetime) -> dict[str, Any]:
    fields = normalize_job(body, now=now, max_payload_bytes=runtime.settings.max_payload_bytes)
    due = fields["run_at"] <= now
    return {
        "id": new_id("job"),
        "account_id": account_id,
        "schedule_id": None,
        "name": fields["name"],
        "handler": fields["handler"],
        "payload": fields["payload"],
        "delivery": fields["delivery"],
        "delivery_type": fields["delivery"]["type"],
        # A one-off job has no concurrency policy: if it is due, it is admitted at once.
        "status": (admitted_status(fields["delivery"]) if due else JobStatus.PENDING).value,
        "trigger": Trigger.API.value,
        "scheduled_for": fields["scheduled_for"],
        "run_at": fields["run_at"],
        "attempt": 0,
        "retry_base": 0,
        "max_retries": fields["max_retries"],
        "timeout_seconds": fields["timeout"],
        "retry_policy": fields["retry_policy"],
        "idempotency_key": fields["idempotency_key"],
        "tags": fields["tags"],
        "result": None,
        "last_error": None,
        "cancel_requested": False,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
    }


def _announce(runtime: Runtime, rows: list[dict[str, Any]]) -> None:
    metrics.JOBS_CREATED.labels(rows[0]["trigger"]).inc(len(rows))
    runtime.notifier.jobs_ready_many(rows)
    if any(r["status"] == JobStatus.PENDING for r in rows):
        runtime.notifier.pending_changed()


@router.post("/v1/jobs", status_code=201)
async def create_job(body: JobIn, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    row = _job_row(runtime, account_id, body, runtime.clock.now())
    async with runtime.db.transaction() as conn:
        await job_store.job_insert(conn, row)
    _announce(runtime, [row])
    return job_out(row)


@router.post("/v1/jobs/batch", status_code=201)
async def create_jobs(body: BatchIn, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """All or nothing: one bad job rejects the batch, naming its index."""
    now = runtime.clock.now()
    rows = []
    for index, job in enumerate(body.jobs):
        try:
            rows.append(_job_row(runtime, account_id, job, now))
        except ChronosError as exc:
            exc.message = f"jobs[{index}]: {exc.message}"
            exc.details = {"index": index, **({"details": exc.details} if exc.details else {})}
            raise
    keys = [r["idempotency_key"] for r in rows if r["idempotency_key"]]
    if len(keys) != len(set(keys)):
        raise ValidationFailed("the batch repeats an idempotency_key")
    async with runtime.db.transaction() as conn:
        if keys:
            for row in rows:
                if row["idempotency_key"]:
                    await job_store.job_insert(conn, row)
            await job_store.job_insert_many(conn, [r for r in rows if not r["idempotency_key"]])
        else:
            await job_store.job_insert_many(conn, rows)
    _announce(runtime, rows)
    return {"data": [job_out(r) for r in rows]}


@router.get("/v1/jobs")
async def list_jobs(
    request: Request,
    account_id: AccountId,
    runtime: RuntimeDep,
    schedule_id: str | None = None,
    status: JobStatus | None = None,
    handler: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    async with runtime.db.read() as conn:
        rows, next_cursor = await job_store.job_list(
            conn,
            account_id,
            schedule_id=None if schedule_id == "null" else schedule_id,
            one_off_only=schedule_id == "null",
            status=status.value if status else None,
            handler=handler,
            tags=tag_filters(request),
            cursor=cursor,
            limit=limit,
        )
    return page_out([job_out(r) for r in rows], next_cursor)


async def _get_job(runtime: Runtime, account_id: str, job_id: str) -> tuple[dict, list[dict]]:
    async with runtime.db.read() as conn:
        job = await job_store.job_get(conn, account_id, job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        return job, await execution_store.execution_list_for_job(conn, job_id)


@router.get("/v1/jobs/{job_id}")
async def get_job(job_id: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    job, executions = await _get_job(runtime, account_id, job_id)
    return {**job_out(job), "executions": [execution_out(e) for e in executions]}


@router.get("/v1/jobs/{job_id}/executions")
async def list_job_executions(
    job_id: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    _, executions = await _get_job(runtime, account_id, job_id)
    return page_out([execution_out(e) for e in executions], None)


@router.post("/v1/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """pending/queued/ready → canceled. A running job is canceled too: its worker learns it
    from its next heartbeat (``cancel_requested: true``) and its result is refused."""
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        job = await job_store.job_cancel(conn, account_id, job_id, now)
        if job is None:
            existing = await job_store.job_get(conn, account_id, job_id)
            if existing is None:
                raise NotFound(f"no job {job_id!r}")
            raise InvalidState(
                f"a {existing['status']} job cannot be canceled",
                details={"status": existing["status"]},
            )
    runtime.notifier.job_canceled(job_id)
    return job_out(job)


@router.post("/v1/jobs/{job_id}/retry")
async def retry_job(job_id: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """Run a failed or canceled job again (dead-letter replay), with a fresh set of retries."""
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        job = await job_store.job_retry(conn, account_id, job_id, now)
        if job is None:
            existing = await job_store.job_get(conn, account_id, job_id)
            if existing is None:
                raise NotFound(f"no job {job_id!r}")
            raise InvalidState(
                f"only failed or canceled jobs can be retried; this one is {existing['status']}",
                details={"status": existing["status"]},
            )
    runtime.notifier.jobs_ready_many([job])
    return job_out(job)


@router.get("/v1/executions/{execution_id}")
async def get_execution(
    execution_id: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    async with runtime.db.read() as conn:
        row = await execution_store.execution_get(conn, account_id, execution_id)
    if row is None:
        raise NotFound(f"no execution {execution_id!r}")
    return execution_out(row)
