"""/v1/jobs and /v1/executions: one-off jobs, their history, cancel and retry.

Thin: each route parses its input, calls one ``JobService`` method and presents the result.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from chronos.server.api.deps import AccountId, Limit, RuntimeDep, tag_filters
from chronos.server.api.presenters import execution_out, job_out, page_out
from chronos.server.api.responses import SafeRoute
from chronos.server.domain.rows import JobSpec
from chronos.server.domain.states import JobStatus, JobTrigger
from chronos.server.errors import ChronosError
from chronos.server.normalize import normalize_job
from chronos.server.runtime import Runtime
from chronos.server.schemas import JobIn
from chronos.server.services.jobs import JobFilter, parse_created_range

router = APIRouter(tags=["jobs"], route_class=SafeRoute)


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jobs: Annotated[list[JobIn], Field(min_length=1, max_length=1000)]


def _limits(runtime: Runtime) -> dict[str, Any]:
    settings = runtime.settings
    return {
        "max_payload_bytes": settings.max_payload_bytes,
        "max_push_timeout": settings.push_max_timeout_seconds,
    }


@router.post("/v1/jobs", status_code=201)
async def create_job(body: JobIn, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    spec = normalize_job(body, **_limits(runtime))
    return job_out(await runtime.jobs.create(account_id, spec))


@router.post("/v1/jobs/batch", status_code=201)
async def create_jobs(body: BatchIn, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """All or nothing: one bad job rejects the batch, naming its index."""
    specs: list[JobSpec] = []
    for index, job in enumerate(body.jobs):
        try:
            specs.append(normalize_job(job, **_limits(runtime)))
        except ChronosError as exc:
            exc.message = f"jobs[{index}]: {exc.message}"
            exc.details = {"index": index, **({"details": exc.details} if exc.details else {})}
            raise
    rows = await runtime.jobs.create_many(account_id, specs)
    return {"data": [job_out(r) for r in rows]}


@router.get("/v1/jobs")
async def list_jobs(
    request: Request,
    account_id: AccountId,
    runtime: RuntimeDep,
    schedule_id: str | None = None,
    status: JobStatus | None = None,
    handler: str | None = None,
    trigger: JobTrigger | None = None,
    created_from: str | None = None,
    created_to: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Newest first. ``created_from``/``created_to``: RFC 3339 (no offset means UTC), the
    range ``[created_from, created_to)``; ``tag.KEY=VALUE`` filters by tag."""
    start, end = parse_created_range(created_from, created_to)
    where = JobFilter(
        schedule_id=None if schedule_id == "null" else schedule_id,
        one_off_only=schedule_id == "null",
        status=status,
        handler=handler,
        tags=tag_filters(request),
        created_from=start,
        created_to=end,
        trigger=trigger,
    )
    rows, next_cursor = await runtime.jobs.find(account_id, where, cursor=cursor, limit=limit)
    return page_out([job_out(r) for r in rows], next_cursor)


@router.get("/v1/jobs/{job_id}")
async def get_job(job_id: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    job, executions = await runtime.jobs.get(account_id, job_id)
    return {**job_out(job), "executions": [execution_out(e) for e in executions]}


@router.get("/v1/jobs/{job_id}/executions")
async def list_job_executions(
    job_id: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    _, executions = await runtime.jobs.get(account_id, job_id)
    return page_out([execution_out(e) for e in executions], None)


@router.post("/v1/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """pending/queued/ready → canceled. A running job is canceled too: its worker learns it
    from its next heartbeat (``cancel_requested: true``) and its result is refused."""
    return job_out(await runtime.jobs.cancel(account_id, job_id))


@router.post("/v1/jobs/{job_id}/retry")
async def retry_job(job_id: str, account_id: AccountId, runtime: RuntimeDep) -> dict[str, Any]:
    """Run a failed or canceled job again (dead-letter replay), with a fresh set of retries."""
    return job_out(await runtime.jobs.retry(account_id, job_id))


@router.get("/v1/executions/{execution_id}")
async def get_execution(
    execution_id: str, account_id: AccountId, runtime: RuntimeDep
) -> dict[str, Any]:
    return execution_out(await runtime.jobs.get_execution(account_id, execution_id))
